"""Retire old Fernet keys, only after a verify pass on the same database state."""

from __future__ import annotations

from collections.abc import Sequence

from erp.clock import Clock, system_clock
from erp.fernet.keys import FernetKeyRing
from erp.fernet.lifecycle import RetireEvent
from erp.fernet.reencrypt.progress import Reporter
from erp.fernet.reencrypt.targets import DatabaseLike, DatabaseRef, parse_column
from erp.fernet.reencrypt.verify import VerificationReport, database_digest, verify_database
from erp.fernet.rotation import VERIFIED_NAME, Applied, record_verify, retire_keys
from erp.store.audit import AuditLog
from erp.store.vault import VaultFile

__all__ = ["retire", "verify_and_record"]


def verify_and_record(
    db: DatabaseLike,
    columns: Sequence[tuple[str, str]],
    ring: FernetKeyRing,
    *,
    vault: VaultFile | None = None,
    log: AuditLog | None = None,
    reporter: Reporter | None = None,
    clock: Clock = system_clock,
    actor: str | None = None,
) -> VerificationReport:
    """Run :func:`verify_database` and store what it proved in the vault and the log."""
    report = verify_database(db, columns, ring, reporter=reporter)
    record_verify(report.record(), vault=vault, log=log, clock=clock, actor=actor)
    return report


def retire(
    dbs: Sequence[DatabaseLike],
    *,
    vault: VaultFile | None = None,
    log: AuditLog | None = None,
    verify_with: FernetKeyRing | None = None,
    columns: Sequence[tuple[str, str]] | None = None,
    reporter: Reporter | None = None,
    clock: Clock = system_clock,
    actor: str | None = None,
) -> Applied[RetireEvent]:
    """Remove the vault's fallback keys if every database's verify record still holds.

    With ``verify_with`` (the ring), verify each database first (``columns``, or those of its
    last verify record). Raises :class:`~erp.fernet.errors.RetireRefused` naming the rows
    still under an old key, or the database that changed since its verify pass.
    """
    vault = vault or VaultFile()
    refs = [DatabaseRef.of(d) for d in dbs]
    current: dict[str, str] = {}
    for ref in refs:
        recorded = (vault.read().get(VERIFIED_NAME) or {}).get(ref.display)
        known = [parse_column(c) for c in (recorded or {}).get("columns", {})]
        if verify_with is not None:
            verify_and_record(
                ref,
                columns or known,
                verify_with,
                vault=vault,
                log=log,
                reporter=reporter,
                clock=clock,
                actor=actor,
            )
            recorded = (vault.read().get(VERIFIED_NAME) or {}).get(ref.display)
            known = [parse_column(c) for c in (recorded or {}).get("columns", {})]
        current[ref.display] = database_digest(ref, known) if known else ""
    return retire_keys(current, vault=vault, log=log, clock=clock, actor=actor)
