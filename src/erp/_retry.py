"""The one exponential backoff of ``erp``: capped, with proportional jitter, no sleeping here.

Callers own the loop and the sleep (injected, so tests never wait); this module only says how
long the n-th wait is. Delays are in seconds: attempt 1 waits about ``base_seconds``, each
next attempt twice as long, never more than ``max_seconds``. Jitter draws the wait from
``[1 - jitter_fraction, 1] x delay`` so a fleet that failed together does not retry together
(the AWS Architecture Blog's "Exponential Backoff And Jitter"); a server's ``Retry-After``
is a floor the wait never goes under.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Delay policy: ``delay_seconds(attempt)`` for attempt 1, 2, 3, ..."""

    base_seconds: float = 1.0
    max_seconds: float = 60.0
    jitter_fraction: float = 0.0
    random: Callable[[], float] = field(default=_random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not (0.0 <= self.base_seconds <= self.max_seconds):
            raise ValueError("need 0 <= base_seconds <= max_seconds")
        if not 0.0 <= self.jitter_fraction < 1.0:
            raise ValueError("need 0 <= jitter_fraction < 1")

    def delay_seconds(self, attempt: int, *, retry_after_seconds: float | None = None) -> float:
        """The wait before retry number ``attempt`` (1-based), capped at ``max_seconds``."""
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        # 2**64 already exceeds any cap; bounding the exponent avoids OverflowError.
        raw = self.base_seconds * 2.0 ** min(attempt - 1, 64)
        delay = min(self.max_seconds, raw)
        if self.jitter_fraction:
            delay *= 1.0 - self.jitter_fraction * self.random()
        if retry_after_seconds is not None and retry_after_seconds > delay:
            delay = min(retry_after_seconds, self.max_seconds)
        return delay
