"""Apply one change to the vault file and record it in the rotation log, crash-safely.

Order under the vault lock: reconcile the log with the vault's head, compute the change,
write the vault (holding the new log entry as its head: the commit point), append the entry
to the log. A process killed at any instant leaves the old vault or the new one; a new
vault whose entry is missing from the log is completed by the next change.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime

from erp._record import Record
from erp.clock import Clock, system_clock
from erp.errors import VaultMissing
from erp.store.audit import AuditLog, default_actor, make_entry
from erp.store.vault import META_KEY, VaultFile

TYPE_CHECKING = False  # no typing import at run time: the rotation script's start-up path
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Change", "Recorded", "record_change", "repair_log"]

Change = Callable[[dict[str, "Any"], datetime], "dict[str, Any] | None"]
"""Mutates the vault document in place and returns the audit event, or ``None`` for no-op."""


class Recorded(Record):
    """What a change did: the audit event and full entry (``None`` if nothing changed)."""

    _fields = ("event", "entry", "document")
    __slots__ = _fields
    _hidden = frozenset({"document"})  # holds JWT_SECRETS: never in a repr
    event: dict[str, Any] | None
    entry: dict[str, Any] | None
    document: dict[str, Any]

    def __init__(
        self,
        event: dict[str, Any] | None,
        entry: dict[str, Any] | None,
        document: dict[str, Any],
    ) -> None:
        self._set(event=event, entry=entry, document=document)


def record_change(
    change: Change,
    *,
    vault: VaultFile | None = None,
    log: AuditLog | None = None,
    clock: Clock = system_clock,
    actor: str | None = None,
) -> Recorded:
    """Run ``change`` on the locked vault document and record it (see module docstring)."""
    vault = vault or VaultFile()
    log = log or AuditLog()
    # Refuse a bad setting or file before taking the lock, whose file would stay behind;
    # the same checks run again under the lock, where they are authoritative.
    actor = default_actor() if actor is None else actor
    vault.check_file()
    log.check_file()
    with vault.locked():
        existed = vault.exists()
        doc = vault.read()
        meta = doc.get(META_KEY) or {}
        log.check_writable()  # a log we cannot append to must stop us before the vault changes
        if not existed and log.next_position()[0] > 1:
            # A vault path typed wrong would start a new vault and chain it onto another
            # vault's log, which then no longer matches its own vault: refused.
            raise VaultMissing(
                f"vault file {vault.path} does not exist, but the rotation log {log.path} "
                "already records another vault's rotations: check --vault or ERP_VAULT_FILE "
                f"(a relative path is taken from {os.getcwd()}); a new vault needs a new log "
                "(--log or ERP_ROTATION_LOG). Nothing was written"
            )
        log.reconcile(meta.get("audit"))
        now = clock()
        event = change(doc, now)
        if event is None:
            return Recorded(None, None, doc)
        seq, prev = log.next_position()
        entry = make_entry(event, prev_hash=prev, seq=seq, now=now, actor=actor)
        meta = dict(doc.get(META_KEY) or {})
        meta["audit"] = {"seq": seq, "hash": entry["hash"], "entry": entry}
        doc[META_KEY] = meta
        vault.write(doc)
        log.append(entry)
        return Recorded(event, entry, doc)


def repair_log(vault: VaultFile | None = None, log: AuditLog | None = None) -> None:
    """Complete an interrupted append (what the next change would do), changing nothing else."""
    vault = vault or VaultFile()
    log = log or AuditLog()
    with vault.locked():
        meta = vault.read().get(META_KEY) or {}
        log.reconcile(meta.get("audit"))
