"""Fernet keys in the vault file: rotate, record re-encryption and verify passes, retire.

The vault holds ``FERNET_KEY`` (the primary, the one key that encrypts) and
``FERNET_FALLBACK_KEYS`` (older keys, comma-separated, newest first), plus two entries
without secrets: ``FERNET_KEY_META`` (fingerprint -> state and times) and
``FERNET_VERIFIED`` (database -> what the last verify pass proved). This module is the
codec between that document and :class:`~erp.fernet.lifecycle.StoredRing`, and the edge
that applies the pure transitions of :mod:`erp.fernet.lifecycle` through the rotation
journal (lock, log, vault write as the commit point), so each step is in the rotation log.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from erp.clock import Clock, system_clock, to_iso
from erp.errors import SecretNotFound
from erp.fernet.errors import FernetKeyError, RetireRefused
from erp.fernet.keys import (
    FALLBACK_NAME,
    PRIMARY_NAME,
    FernetRingKey,
    generate_key,
    load_fernet_ring,
    parse_key,
)
from erp.fernet.lifecycle import (
    KeyRecord,
    Proof,
    RetireEvent,
    RotateEvent,
    StoredRing,
    retire,
    rotate,
)
from erp.secrets import SecretResolver
from erp.store.audit import AuditLog
from erp.store.journal import record_change
from erp.store.vault import VaultFile

__all__ = [
    "META_NAME",
    "RETIRED_SOURCE",
    "VERIFIED_NAME",
    "Applied",
    "FernetStatus",
    "KeyStatus",
    "RetireRefused",
    "VerifiedRecord",
    "fernet_status",
    "record_event",
    "record_verify",
    "retire_keys",
    "retire_problems",
    "rotate_fernet_key",
    "store_ring",
    "vault_keys",
]

if TYPE_CHECKING:
    from erp.fernet.reencrypt.jobs import PassOverview

META_NAME = "FERNET_KEY_META"
VERIFIED_NAME = "FERNET_VERIFIED"

E = TypeVar("E")


@dataclass(frozen=True)
class Applied(Generic[E]):
    """What a change did: the typed event, and the journal's record of it.

    ``change`` is ``None`` (and so are ``event`` and ``entry``) when nothing changed.
    ``event`` is the event as written to the log, ``entry`` the full log entry.
    """

    change: E | None
    event: dict[str, Any] | None
    entry: dict[str, Any] | None


def vault_keys(doc: Mapping[str, Any], where: str) -> StoredRing:
    """Parse the Fernet entries of a vault document (validated; errors name ``where``)."""
    raw_primary = doc.get(PRIMARY_NAME)
    primary = None
    if raw_primary is not None:
        if not isinstance(raw_primary, str):
            raise FernetKeyError(f"{PRIMARY_NAME} in {where} must be a string")
        primary = parse_key(raw_primary, f"{PRIMARY_NAME} in {where}")
    raw = doc.get(FALLBACK_NAME) or ""
    if not isinstance(raw, str):
        raise FernetKeyError(
            f"{FALLBACK_NAME} in {where} must be a string of keys, comma-separated, newest first"
        )
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    fallbacks = tuple(
        parse_key(p, f"{FALLBACK_NAME} in {where} (entry {i + 1})") for i, p in enumerate(parts)
    )
    meta = doc.get(META_NAME) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, dict) for v in meta.values()):
        raise FernetKeyError(f"{META_NAME} in {where} must be a JSON object of JSON objects")
    return StoredRing(primary, fallbacks, {k: KeyRecord.from_dict(v) for k, v in meta.items()})


def store_ring(doc: dict[str, Any], ring: StoredRing) -> None:
    """Write ``ring`` into the vault document (the inverse of :func:`vault_keys`)."""
    if ring.primary is not None:
        doc[PRIMARY_NAME] = ring.primary.key
    if ring.fallbacks:
        doc[FALLBACK_NAME] = ",".join(k.key for k in ring.fallbacks)
    else:
        doc.pop(FALLBACK_NAME, None)
    doc[META_NAME] = {fp: record.as_dict() for fp, record in ring.records.items()}


def _where(vault: VaultFile) -> str:
    return f"vault file {vault.path}"


def rotate_fernet_key(
    *,
    vault: VaultFile | None = None,
    log: AuditLog | None = None,
    new_key: str | None = None,
    clock: Clock = system_clock,
    actor: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Applied[RotateEvent]:
    """Make a new primary key (generated, or ``new_key``); the old one becomes a fallback.

    A ``FERNET_KEY`` set in the environment but absent from the vault is kept as a
    fallback too (it is what running services encrypt with), so no data becomes unreadable.
    """
    vault = vault or VaultFile()
    env = os.environ if environ is None else environ
    chosen = parse_key(new_key, "the new key") if new_key is not None else None
    env_text = env.get(PRIMARY_NAME)
    in_use = parse_key(env_text, f"environment variable {PRIMARY_NAME}") if env_text else None
    done: list[RotateEvent] = []

    def change(doc: dict[str, Any], now: datetime) -> dict[str, Any]:
        fresh = chosen or FernetRingKey(generate_key(), "generated")
        step = rotate(vault_keys(doc, _where(vault)), now, fresh, in_use=in_use)
        store_ring(doc, step.ring)
        event = replace(step.event, vault=str(vault.path))
        done.append(event)
        return event.as_dict()

    recorded = record_change(change, vault=vault, log=log, clock=clock, actor=actor)
    return Applied(done[-1] if done else None, recorded.event, recorded.entry)


def record_event(
    event: dict[str, Any],
    *,
    vault: VaultFile | None = None,
    log: AuditLog | None = None,
    clock: Clock = system_clock,
    actor: str | None = None,
) -> None:
    """Append a non-secret event (a re-encryption run starting or ending) to the log."""
    record_change(lambda doc, now: dict(event), vault=vault, log=log, clock=clock, actor=actor)


def record_verify(
    record: dict[str, Any],
    *,
    vault: VaultFile | None = None,
    log: AuditLog | None = None,
    clock: Clock = system_clock,
    actor: str | None = None,
) -> None:
    """Store what a verify pass proved (``record["db"]`` names the database) and log it."""

    def change(doc: dict[str, Any], now: datetime) -> dict[str, Any]:
        verified = dict(doc.get(VERIFIED_NAME) or {})
        verified[record["db"]] = {**record, "time": to_iso(now)}
        doc[VERIFIED_NAME] = verified
        return {"event": "fernet.verify", **record}

    record_change(change, vault=vault, log=log, clock=clock, actor=actor)


def retire_problems(doc: Mapping[str, Any], current: Mapping[str, str], where: str) -> list[str]:
    """Why the vault's fallback keys may not go yet (empty when they may).

    ``current`` maps each database to its state digest computed now; each needs a
    successful verify record for the vault's primary key with the same digest.
    """
    keys = vault_keys(doc, where)
    if keys.primary is None:
        return [f"{where} holds no {PRIMARY_NAME}"]
    verified = doc.get(VERIFIED_NAME) or {}
    problems: list[str] = []
    if not current:
        problems.append("name the database(s) the keys encrypt (--db)")
    for db, digest in current.items():
        record = verified.get(db)
        if not isinstance(record, dict):
            problems.append(f"no verify pass recorded for {db}: run 'erp-secrets fernet verify'")
            continue
        if record.get("primary") != keys.primary.fingerprint:
            problems.append(
                f"the verify pass on {db} ({record.get('time')}) proved key "
                f"{record.get('primary')}, but the primary is now {keys.primary.fingerprint}: "
                "re-encrypt and verify again"
            )
            continue
        if not record.get("ok"):
            failing = record.get("failing") or []
            named = ", ".join(f"{f['column']} pk={f['pk']}" for f in failing[:10])
            total = record.get("failing_total", len(failing))
            problems.append(
                f"the verify pass on {db} ({record.get('time')}) found {total} value(s) not "
                f"under the primary key ({named}{', ...' if total > len(failing[:10]) else ''}): "
                "run 'erp-secrets fernet reencrypt', then verify again"
            )
            continue
        if record.get("digest") != digest:
            problems.append(
                f"{db} changed since the verify pass at {record.get('time')}: verify again "
                "(or use 'retire --verify')"
            )
    return problems


def retire_keys(
    current: Mapping[str, str],
    *,
    vault: VaultFile | None = None,
    log: AuditLog | None = None,
    clock: Clock = system_clock,
    actor: str | None = None,
) -> Applied[RetireEvent]:
    """Remove the fallback keys from the vault if :func:`retire_problems` finds none.

    Raises :class:`RetireRefused` listing the problems; the vault is then unchanged.
    """
    vault = vault or VaultFile()
    done: list[RetireEvent] = []

    def change(doc: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        if not vault_keys(doc, _where(vault)).fallbacks:
            return None  # nothing to retire, so nothing to prove (before or after a retire)
        problems = retire_problems(doc, current, _where(vault))
        if problems:
            raise RetireRefused(problems)
        verified = doc.get(VERIFIED_NAME) or {}
        proof = {db: Proof(verified[db].get("time"), digest) for db, digest in current.items()}
        step = retire(vault_keys(doc, _where(vault)), now, proof)
        if step is None:
            return None
        store_ring(doc, step.ring)
        event = replace(step.event, vault=str(vault.path))
        done.append(event)
        return event.as_dict()

    recorded = record_change(change, vault=vault, log=log, clock=clock, actor=actor)
    return Applied(done[-1] if done else None, recorded.event, recorded.entry)


RETIRED_SOURCE = "removed from the vault"
"""The ``source`` of a retired key: no longer in any key list, kept only as a record."""


@dataclass(frozen=True)
class KeyStatus:
    """One key in effect (or retired): role, fingerprint, where it comes from, its record."""

    role: str
    fingerprint: str
    source: str
    record: KeyRecord | None = None

    @property
    def since(self) -> str:
        if self.record is None:
            return "-"
        return self.record.activated_at or self.record.created_at or "-"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "role": self.role,
            "fingerprint": self.fingerprint,
            "source": self.source,
        }
        if self.record is not None:
            out.update(self.record.as_dict())
        return out


@dataclass(frozen=True)
class VerifiedRecord:
    """What the last verify pass on one database proved (``FERNET_VERIFIED``), no values."""

    db: str
    ok: bool
    primary: str | None
    time: str | None
    failing_total: int
    raw: Mapping[str, Any] = field(repr=False, compare=False)  # the stored record, for --json

    @classmethod
    def from_dict(cls, db: str, raw: Mapping[str, Any]) -> VerifiedRecord:
        failing = raw.get("failing_total")
        return cls(
            db,
            bool(raw.get("ok")),
            None if raw.get("primary") is None else str(raw.get("primary")),
            None if raw.get("time") is None else str(raw.get("time")),
            failing if isinstance(failing, int) else 0,
            dict(raw),
        )


@dataclass
class FernetStatus:
    """What ``erp-secrets fernet status`` shows; never key material."""

    vault: str
    keys: list[KeyStatus] = field(default_factory=list)
    verified: list[VerifiedRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    passes: list[PassOverview] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` form."""
        out: dict[str, Any] = {
            "vault": self.vault,
            "keys": [k.as_dict() for k in self.keys],
            "verified": {v.db: dict(v.raw) for v in self.verified},
            "notes": list(self.notes),
        }
        if self.passes is not None:
            out["passes"] = [p.as_dict() for p in self.passes]
        return out


def fernet_status(vault: VaultFile | None = None) -> FernetStatus:
    """The keys in effect (environment first, then ``vault``), their records, last verifies."""
    vault = vault or VaultFile()
    doc = vault.read()
    stored = vault_keys(doc, _where(vault))
    records = doc.get(VERIFIED_NAME) or {}
    verified = [
        VerifiedRecord.from_dict(str(db), raw)
        for db, raw in sorted(records.items())
        if isinstance(raw, dict)
    ]
    status = FernetStatus(str(vault.path), verified=verified)
    try:
        ring = load_fernet_ring(SecretResolver.from_config(vault.path))
    except SecretNotFound:
        ring = None
    except FernetKeyError as exc:
        ring = None
        status.notes.append(str(exc))
    effective: set[str] = set()
    if ring is not None:
        for index, key in enumerate(ring.keys):
            effective.add(key.fingerprint)
            status.keys.append(
                KeyStatus(
                    "primary" if index == 0 else "fallback",
                    key.fingerprint,
                    key.source,
                    stored.records.get(key.fingerprint),
                )
            )
        if stored.primary and stored.primary.fingerprint != ring.primary.fingerprint:
            status.notes.append(
                f"the environment's FERNET_KEY ({ring.primary.fingerprint}) overrides the "
                f"vault's ({stored.primary.fingerprint})"
            )
    for fp, record in sorted(stored.records.items()):
        if fp not in effective and record.state == "retired":
            status.keys.append(KeyStatus("retired", fp, RETIRED_SOURCE, record))
    return status
