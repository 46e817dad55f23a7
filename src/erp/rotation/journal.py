"""Old import path of :mod:`erp.store.journal`, kept so existing imports keep working."""

from __future__ import annotations

from erp.store.journal import Change, Recorded, record_change, repair_log

__all__ = ["Change", "Recorded", "record_change", "repair_log"]
