"""Errors of the alerts feature, each in one branch of :mod:`erp.errors`.

Rotation-rule errors (:class:`~erp.aws.errors.ScheduleError`) belong to the AWS feature,
whose rules they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from erp.errors import InputError, TransientError

if TYPE_CHECKING:
    from erp.alerts.delivery import DeliveryResult

__all__ = ["DeliveryFailed", "UnknownMessage"]


class DeliveryFailed(TransientError):
    """One or more notifications could not be delivered after every retry; try again later."""

    def __init__(self, results: Sequence[DeliveryResult]) -> None:
        self.results = list(results)
        failed = [r for r in self.results if not r.ok]
        lines = "; ".join(r.describe() for r in failed[:5])
        more = f" (+{len(failed) - 5} more)" if len(failed) > 5 else ""
        super().__init__(f"{len(failed)} notification(s) not delivered: {lines}{more}")


class UnknownMessage(InputError):
    """A message the notifier does not understand (it is named by type, never printed)."""
