"""The stores every feature shares: the vault file, the hash-chained rotation log, and the
journal that applies one change to both in a crash-safe order.

* :mod:`erp.store.vault`: :class:`VaultFile` (locked, atomic, validated) and :class:`VaultReader`;
* :mod:`erp.store.audit`: :class:`AuditLog` (append-only, hash-chained, verifiable);
* :mod:`erp.store.journal`: :func:`record_change` (change -> vault -> log).

Stores know no feature's format: features register shape checks with the vault.
"""

from __future__ import annotations

from erp.store.audit import AuditLog, VerifyReport, make_entry
from erp.store.journal import Recorded, record_change, repair_log
from erp.store.vault import META_KEY, VaultFile, VaultReader, register_entry_check

__all__ = [
    "META_KEY",
    "AuditLog",
    "Recorded",
    "VaultFile",
    "VaultReader",
    "VerifyReport",
    "make_entry",
    "record_change",
    "register_entry_check",
    "repair_log",
]
