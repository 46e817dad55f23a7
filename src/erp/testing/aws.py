"""AWS helpers for tests and benchmarks: count the API calls a boto3 client makes."""

from __future__ import annotations

from typing import Any

__all__ = ["CallCounter"]


class CallCounter:
    """Counts the AWS API calls a client makes (one per operation, SDK retries not included)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, *, model: Any = None, **_: Any) -> None:
        self.calls.append(getattr(model, "name", "?"))

    @property
    def total(self) -> int:
        return len(self.calls)

    def attach(self, client: Any) -> CallCounter:
        """Count every call ``client`` makes from now on; returns ``self``."""
        client.meta.events.register("before-call.*.*", self)
        return self
