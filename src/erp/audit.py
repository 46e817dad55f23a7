"""Old import path of :mod:`erp.store.audit`, kept so existing imports keep working."""

from __future__ import annotations

from erp.store.audit import (
    DEFAULT_ROTATION_LOG,
    GENESIS,
    AuditLog,
    VerifyReport,
    default_actor,
    default_log_path,
    make_entry,
)

__all__ = [
    "DEFAULT_ROTATION_LOG",
    "GENESIS",
    "AuditLog",
    "VerifyReport",
    "default_actor",
    "default_log_path",
    "make_entry",
]
