"""Clocks: every time-dependent call in ``erp`` takes one, so tests never sleep."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = ["Clock", "FrozenClock", "from_iso", "system_clock", "to_iso"]

Clock = Callable[[], datetime]
"""A clock is a callable returning an aware UTC ``datetime``."""


def system_clock() -> datetime:
    """The real wall clock, in UTC, truncated to whole microseconds."""
    return datetime.now(UTC)


class FrozenClock:
    """A clock that moves only when told to; for tests and rehearsals."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)
        if self.now.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | float) -> datetime:
        """Move the clock forward by ``delta`` (a timedelta or seconds) and return the new time."""
        self.now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        return self.now


def to_iso(moment: datetime) -> str:
    """Serialise an aware datetime as ISO 8601 UTC with a ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_iso(text: str) -> datetime:
    """Parse what :func:`to_iso` wrote (or any ISO 8601 string with an offset)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no timezone")
    return moment.astimezone(UTC)
