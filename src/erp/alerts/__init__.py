"""Rotation alerts: know what is due, tell PagerDuty and Slack, once, and resolve it after.

* :func:`run_check` inspects the local key rings and AWS secrets and returns a
  :class:`Report` of :class:`Finding` objects (:mod:`erp.alerts.check`);
* :mod:`erp.aws.schedule` parses Secrets Manager rotation rules and computes due dates;
* :class:`AlertRouter` sends findings to :class:`PagerDuty` and :class:`Slack` with a
  stable dedup key per secret and condition, retrying with backoff;
* :mod:`erp.alerts.lambda_check` and :mod:`erp.alerts.lambda_notify` are the same check
  and notifier as AWS Lambda handlers.
"""

from __future__ import annotations

from erp.alerts.check import CheckConfig, run_check
from erp.alerts.config import AlertSettings
from erp.alerts.delivery import DeliveryResult, RetryPolicy, Transport
from erp.alerts.errors import DeliveryFailed
from erp.alerts.findings import Condition, Finding, Report, Severity, Subject
from erp.alerts.pagerduty import PagerDuty
from erp.alerts.router import AlertRouter, AlertState
from erp.alerts.slack import Slack
from erp.aws.schedule import (
    RotationSchedule,
    ScheduleError,
    parse_rotation_rules,
    parse_schedule_expression,
)

__all__ = [
    "AlertRouter",
    "AlertSettings",
    "AlertState",
    "CheckConfig",
    "Condition",
    "DeliveryFailed",
    "DeliveryResult",
    "Finding",
    "PagerDuty",
    "Report",
    "RetryPolicy",
    "RotationSchedule",
    "ScheduleError",
    "Severity",
    "Slack",
    "Subject",
    "Transport",
    "parse_rotation_rules",
    "parse_schedule_expression",
    "run_check",
]
