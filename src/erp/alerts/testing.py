"""Old home of the alert test helpers; they live in :mod:`erp.testing.alerts` now."""

from __future__ import annotations

from erp.testing.alerts import FakeTime, Received, Receiver, Reply, pagerduty_pages

__all__ = ["FakeTime", "Received", "Receiver", "Reply", "pagerduty_pages"]
