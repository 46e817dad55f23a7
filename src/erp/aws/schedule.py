"""Secrets Manager rotation schedules: parse ``RotationRules`` and compute when rotation is due.

``RotationRules`` hold **either** ``AutomaticallyAfterDays`` (1-1000) **or** a
``ScheduleExpression`` (``rate(N hours|days)``, at least 4 hours apart, or ``cron()``), plus an
optional ``Duration`` (``1h``-``24h``): the rotation window. Windows are UTC: a ``rate()`` in
days opens at midnight, a ``cron()`` at its hour; by default a window closes after one hour
for schedules in hours and at the end of the UTC day for schedules in days. A window may not
run into the next UTC day nor into the next window.

AWS emits no "about to expire" event, so :meth:`RotationSchedule.next_window` computes the
window after the last rotation, and the check alerts before it closes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

from erp.aws.cron import CronError, CronExpression, parse_cron
from erp.aws.errors import ScheduleError

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

MAX_DAYS = 1000
MIN_RATE = timedelta(hours=4)
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class RuleProblem:
    """One thing wrong with a set of rotation rules. ``code`` is stable, for lint rule ids."""

    code: Literal[
        "conflict",
        "missing",
        "days-range",
        "expression",
        "rate-too-frequent",
        "duration-format",
        "window-past-midnight",
        "window-longer-than-interval",
    ]
    message: str


@dataclass(frozen=True)
class Window:
    """One rotation window ``[start, end)`` in UTC."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class RotationSchedule:
    """A validated schedule: a fixed interval (days, rate) or a cron expression."""

    expression: str
    kind: Literal["days", "rate", "cron"]
    interval: timedelta | None = None
    cron: CronExpression | None = None
    duration: timedelta | None = None

    @property
    def in_hours(self) -> bool:
        """A schedule in hours (windows default to one hour) rather than in days."""
        if self.cron is not None:
            return self.cron.hourly
        return self.interval is not None and self.interval % _DAY != timedelta(0)

    @property
    def min_interval(self) -> timedelta | None:
        """The shortest time between two window starts."""
        if self.cron is not None:
            return self.cron.min_gap()
        return self.interval

    def window_at(self, start: datetime) -> Window:
        """The window opening at ``start``: ``Duration``, else Secrets Manager's default."""
        if self.duration is not None:
            return Window(start, start + self.duration)
        if self.in_hours:
            return Window(start, start + timedelta(hours=1))
        midnight = datetime.combine(start.date(), time(0), tzinfo=UTC) + _DAY
        return Window(start, midnight)

    def next_window(self, last_rotated: datetime) -> Window:
        """The first window after a rotation at ``last_rotated``.

        Days (``AutomaticallyAfterDays``, ``rate(N days)``): midnight UTC of the day N days
        later. Hours: N hours after the rotation, on the hour. Cron: its next occurrence.
        """
        last = last_rotated.astimezone(UTC)
        if self.cron is not None:
            start = self.cron.next_after(last)
            if start is None:
                raise ScheduleError(f"{self.expression} never matches a day")
            return self.window_at(start)
        assert self.interval is not None
        if self.in_hours:
            start = (last + self.interval).replace(minute=0, second=0, microsecond=0)
        else:
            start = datetime.combine((last + self.interval).date(), time(0), tzinfo=UTC)
        return self.window_at(start)

    def describe(self) -> str:
        text = self.expression
        if self.duration is not None:
            text += f", window {int(self.duration.total_seconds() // 3600)}h"
        return text


def parse_duration(text: str) -> timedelta:
    """``Duration``: whole hours ``1h``-``24h``."""
    match = re.fullmatch(r"(\d{1,2})h", text.strip())
    if not match or not 1 <= int(match.group(1)) <= 24:
        raise ScheduleError(
            f"Duration {text!r} is not a window of whole hours from 1h to 24h (for example 4h)"
        )
    return timedelta(hours=int(match.group(1)))


def parse_schedule_expression(text: str) -> RotationSchedule:
    """``rate(N hours|days)`` or ``cron(...)`` under Secrets Manager's rules."""
    stripped = text.strip()
    if stripped.startswith("cron("):
        try:
            cron = parse_cron(stripped)
        except CronError as exc:
            raise ScheduleError(str(exc)) from None
        gap = cron.min_gap()
        if gap is not None and gap < MIN_RATE:
            raise ScheduleError(
                f"ScheduleExpression {text!r} opens windows {_hours(gap)} apart; "
                "Secrets Manager rotates at most every 4 hours"
            )
        return RotationSchedule(cron.text, "cron", cron=cron)
    match = re.fullmatch(r"rate\(\s*(\d+)\s+(hours?|days?)\s*\)", stripped)
    if not match:
        raise ScheduleError(
            f"ScheduleExpression {text!r} is neither rate(N hours|days) nor cron(...); "
            "for example rate(30 days) or cron(0 4 ? * SUN *)"
        )
    value, unit = int(match.group(1)), match.group(2)
    interval = timedelta(hours=value) if unit.startswith("hour") else timedelta(days=value)
    if value < 1:
        raise ScheduleError(f"ScheduleExpression {text!r}: the rate must be at least 1")
    if interval < MIN_RATE:
        raise ScheduleError(
            f"ScheduleExpression {text!r} is every {_hours(interval)}; Secrets Manager "
            "rotates at most every 4 hours (rate(4 hours))"
        )
    if interval > timedelta(days=MAX_DAYS):
        raise ScheduleError(
            f"ScheduleExpression {text!r} is more than {MAX_DAYS} days; use at most "
            f"rate({MAX_DAYS} days)"
        )
    return RotationSchedule(f"rate({value} {unit})", "rate", interval=interval)


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g} hour" + ("" if hours == 1 else "s")


def _problem_code(message: str) -> RuleProblem:
    code: Any = "expression"
    if "at most every 4 hours" in message:
        code = "rate-too-frequent"
    return RuleProblem(code, message)


def _whole_number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def check_rotation_rules(
    rules: Mapping[str, Any], *, described: bool = False
) -> tuple[RotationSchedule | None, list[RuleProblem]]:
    """Validate ``RotationRules``; return the schedule (if usable) and every problem found.

    ``described``: the rules come from ``DescribeSecret``, which reports an
    ``AutomaticallyAfterDays`` computed from the ``ScheduleExpression`` beside it; the
    expression then wins and the pair is not a conflict.
    """
    problems: list[RuleProblem] = []
    days = rules.get("AutomaticallyAfterDays")
    if described and rules.get("ScheduleExpression") is not None:
        days = None
    expression = rules.get("ScheduleExpression")
    duration_text = rules.get("Duration")
    schedule: RotationSchedule | None = None
    if days is not None and expression is not None:
        problems.append(
            RuleProblem(
                "conflict",
                "RotationRules set both AutomaticallyAfterDays and ScheduleExpression; "
                "Secrets Manager accepts one or the other: keep only ScheduleExpression "
                "(AutomaticallyAfterDays: N is the same as rate(N days))",
            )
        )
    if days is None and expression is None:
        problems.append(
            RuleProblem(
                "missing",
                "RotationRules set neither AutomaticallyAfterDays nor ScheduleExpression",
            )
        )
    if days is not None:
        count = _whole_number(days)
        if count is None or not 1 <= count <= MAX_DAYS:
            problems.append(
                RuleProblem(
                    "days-range",
                    f"AutomaticallyAfterDays {days!r} is not a whole number from 1 to {MAX_DAYS}",
                )
            )
        elif expression is None:
            schedule = RotationSchedule(
                f"AutomaticallyAfterDays={count}", "days", interval=timedelta(days=count)
            )
    if expression is not None:
        if not isinstance(expression, str):
            problems.append(
                RuleProblem("expression", f"ScheduleExpression {expression!r} is not text")
            )
        else:
            try:
                parsed = parse_schedule_expression(expression)
            except ScheduleError as exc:
                problems.append(_problem_code(str(exc)))
            else:
                if days is None:
                    schedule = parsed
    duration: timedelta | None = None
    if duration_text is not None:
        try:
            duration = parse_duration(str(duration_text))
        except ScheduleError as exc:
            problems.append(RuleProblem("duration-format", str(exc)))
    if schedule is not None and duration is not None:
        schedule = RotationSchedule(
            schedule.expression, schedule.kind, schedule.interval, schedule.cron, duration
        )
        problems.extend(_window_problems(schedule, duration))
    return schedule, problems


def _window_problems(schedule: RotationSchedule, duration: timedelta) -> list[RuleProblem]:
    out: list[RuleProblem] = []
    gap = schedule.min_interval
    if gap is not None and duration > gap:
        out.append(
            RuleProblem(
                "window-longer-than-interval",
                f"the rotation window (Duration {_hours(duration)}) is longer than the interval "
                f"of {schedule.expression} ({_hours(gap)}); it would run into the next window",
            )
        )
    starts = sorted(schedule.cron.hours) if schedule.cron is not None else [0]
    late = [h for h in starts if timedelta(hours=h) + duration > _DAY]
    if late:
        out.append(
            RuleProblem(
                "window-past-midnight",
                f"a window opening at {late[-1]:02d}:00 UTC with Duration {_hours(duration)} runs "
                "into the next UTC day; shorten the Duration or open the window earlier",
            )
        )
    return out


def parse_rotation_rules(
    rules: Mapping[str, Any], where: str = "RotationRules", *, described: bool = False
) -> RotationSchedule:
    """The schedule of ``rules``; raises :class:`ScheduleError` naming ``where`` otherwise."""
    schedule, problems = check_rotation_rules(rules, described=described)
    if problems or schedule is None:
        detail = "; ".join(p.message for p in problems) or "no schedule"
        raise ScheduleError(f"{where}: {detail}")
    return schedule
