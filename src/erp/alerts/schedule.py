"""Old home of the rotation-rule parser; it lives in :mod:`erp.aws.schedule` now.

Secrets Manager's ``RotationRules`` (``rate()``/``cron()``, ``Duration``) belong to the AWS
feature, which both the alert check and the template checks read.
"""

from __future__ import annotations

from erp.aws.schedule import (
    MAX_DAYS,
    MIN_RATE,
    RotationSchedule,
    RuleProblem,
    ScheduleError,
    Window,
    check_rotation_rules,
    parse_duration,
    parse_rotation_rules,
    parse_schedule_expression,
)

__all__ = [
    "MAX_DAYS",
    "MIN_RATE",
    "RotationSchedule",
    "RuleProblem",
    "ScheduleError",
    "Window",
    "check_rotation_rules",
    "parse_duration",
    "parse_rotation_rules",
    "parse_schedule_expression",
]
