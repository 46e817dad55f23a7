"""AWS ``cron()`` expressions as Secrets Manager accepts them, and their next occurrence.

Six fields, all UTC: ``Minutes Hours Day-of-month Month Day-of-week Year``. Secrets Manager
requires minutes ``0`` (windows open on the hour) and year ``*``; exactly one of the two day
fields is ``?``. Day-of-week runs 1-7 = SUN-SAT. Wildcards: ``, - * /`` everywhere, ``L``
in both day fields (``L``, ``L-3``, ``6L`` = last Friday), ``#`` in day-of-week
(``TUE#3`` = third Tuesday).
"""

from __future__ import annotations

import calendar
import itertools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from erp.aws.errors import CronError

__all__ = ["CronError", "CronExpression", "parse_cron"]

_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_SEARCH_DAYS = 366 * 5  # a schedule that matches nothing in five years matches nothing at all


def _number(text: str, names: dict[str, int], field: str, low: int, high: int) -> int:
    value = names.get(text.upper()) if names else None
    if value is None:
        if not text.isdigit():
            raise CronError(f"{field} value {text!r} is not a number")
        value = int(text)
    if not low <= value <= high:
        raise CronError(f"{field} value {value} is outside {low}-{high}")
    return value


def _values(
    text: str, field: str, low: int, high: int, names: dict[str, int] | None = None
) -> frozenset[int]:
    """Expand ``*``, ``N``, ``N-M``, ``*/S``, ``N/S``, ``N-M/S`` lists into a set."""
    names = names or {}
    out: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{field} has an empty list entry in {text!r}")
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{field} step {step_text!r} must be a positive number")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start = _number(first, names, field, low, high)
            end = _number(last, names, field, low, high)
            if start > end:
                raise CronError(f"{field} range {base!r} runs backwards")
        else:
            start = _number(base, names, field, low, high)
            end = high if step_text else start
        out.update(range(start, end + 1, step))
    return frozenset(out)


@dataclass(frozen=True)
class _DaySpec:
    """The day-of-month or day-of-week field, with its ``L`` and ``#`` forms."""

    values: frozenset[int] = frozenset()
    last_day: bool = False  # day-of-month "L"
    last_day_offset: int = 0  # day-of-month "L-3"
    last_weekday: int | None = None  # day-of-week "6L": last Friday of the month
    nth_weekday: tuple[int, int] | None = None  # day-of-week "3#2": (weekday, n)

    def matches_dom(self, day: date) -> bool:
        if self.last_day:
            last = calendar.monthrange(day.year, day.month)[1]
            return day.day == last - self.last_day_offset
        return day.day in self.values

    def matches_dow(self, day: date) -> bool:
        weekday = (day.isoweekday() % 7) + 1  # SUN=1 .. SAT=7
        if self.last_weekday is not None:
            last = calendar.monthrange(day.year, day.month)[1]
            return weekday == self.last_weekday and day.day > last - 7
        if self.nth_weekday is not None:
            wanted, nth = self.nth_weekday
            return weekday == wanted and (day.day - 1) // 7 + 1 == nth
        return weekday in self.values


def _day_of_month(text: str) -> _DaySpec:
    field = "day-of-month"
    upper = text.upper()
    if upper == "L":
        return _DaySpec(last_day=True)
    match = re.fullmatch(r"L-(\d{1,2})", upper)
    if match:
        offset = int(match.group(1))
        if offset > 30:
            raise CronError(f"{field} {text!r}: the offset from the last day must be 0-30")
        return _DaySpec(last_day=True, last_day_offset=offset)
    if "W" in upper:
        raise CronError(f"{field} {text!r}: Secrets Manager does not accept W (nearest weekday)")
    if "L" in upper:
        raise CronError(f"{field} {text!r}: L must stand alone (L or L-n)")
    return _DaySpec(values=_values(text, field, 1, 31))


def _day_of_week(text: str) -> _DaySpec:
    field = "day-of-week"
    upper = text.upper()
    if upper == "L":
        return _DaySpec(values=frozenset({7}))  # the last day of the week: Saturday
    match = re.fullmatch(r"([A-Z]{3}|\d)L", upper)
    if match:
        return _DaySpec(last_weekday=_number(match.group(1), _DAYS, field, 1, 7))
    match = re.fullmatch(r"([A-Z]{3}|\d)#(\d)", upper)
    if match:
        nth = int(match.group(2))
        if not 1 <= nth <= 5:
            raise CronError(f"{field} {text!r}: the week number after # must be 1-5")
        return _DaySpec(nth_weekday=(_number(match.group(1), _DAYS, field, 1, 7), nth))
    if "#" in upper or "L" in upper:
        raise CronError(f"{field} {text!r}: use one day with L (6L) or # (TUE#3)")
    return _DaySpec(values=_values(text, field, 1, 7, _DAYS))


@dataclass(frozen=True)
class CronExpression:
    """A parsed Secrets Manager ``cron()`` expression."""

    text: str
    hours: frozenset[int]
    months: frozenset[int]
    day_of_month: _DaySpec | None  # None: "?"
    day_of_week: _DaySpec | None  # None: "?"

    @property
    def hourly(self) -> bool:
        """Several windows a day: Secrets Manager's default window is then one hour."""
        return len(self.hours) > 1

    def min_gap(self) -> timedelta | None:
        """The shortest time between two windows on the same or consecutive days."""
        hours = sorted(self.hours)
        gaps = [b - a for a, b in itertools.pairwise(hours)]
        every_day = (
            self.day_of_month is not None and self.day_of_month.values == frozenset(range(1, 32))
        ) or (self.day_of_week is not None and self.day_of_week.values == frozenset(range(1, 8)))
        if every_day:
            gaps.append(24 - hours[-1] + hours[0])
        return timedelta(hours=min(gaps)) if gaps else None

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        if self.day_of_month is not None:
            return self.day_of_month.matches_dom(day)
        assert self.day_of_week is not None
        return self.day_of_week.matches_dow(day)

    def next_after(self, moment: datetime) -> datetime | None:
        """The first window start strictly after ``moment`` (UTC), or ``None`` if none."""
        moment = moment.astimezone(UTC)
        day = moment.date()
        hours = sorted(self.hours)
        for _ in range(_SEARCH_DAYS):
            if self.matches_day(day):
                for hour in hours:
                    start = datetime.combine(day, time(hour), tzinfo=UTC)
                    if start > moment:
                        return start
            day += timedelta(days=1)
        return None

    def __str__(self) -> str:
        return self.text


def parse_cron(text: str) -> CronExpression:
    """Parse ``cron(...)`` (or its six fields) under Secrets Manager's rules."""
    body = text.strip()
    match = re.fullmatch(r"cron\((.*)\)", body, flags=re.DOTALL)
    if match:
        body = match.group(1).strip()
    fields = body.split()
    if len(fields) != 6:
        raise CronError(
            f"cron expression {text!r} has {len(fields)} fields; Secrets Manager needs 6: "
            "Minutes Hours Day-of-month Month Day-of-week Year"
        )
    minutes, hours, dom, month, dow, year = fields
    if minutes != "0":
        raise CronError(
            f"cron expression {text!r}: minutes must be 0 (rotation windows open on the hour)"
        )
    if year != "*":
        raise CronError(
            f"cron expression {text!r}: year must be * (schedules more than a year apart "
            "are not supported)"
        )
    if (dom == "?") == (dow == "?"):
        raise CronError(
            f"cron expression {text!r}: exactly one of day-of-month and day-of-week must be ?"
        )
    try:
        return CronExpression(
            text=f"cron({body})",
            hours=_values(hours, "hours", 0, 23),
            months=_values(month, "month", 1, 12, _MONTHS),
            day_of_month=None if dom == "?" else _day_of_month(dom),
            day_of_week=None if dow == "?" else _day_of_week(dow),
        )
    except CronError as exc:
        raise CronError(f"cron expression {text!r}: {exc}") from None
