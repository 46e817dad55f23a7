"""Fernet keys in the vault file: rotate, record re-encryption and verify passes, retire.

The vault holds ``FERNET_KEY`` (the primary, the one key that encrypts) and
``FERNET_FALLBACK_KEYS`` (older keys, comma-separated, newest first), plus two entries
without secrets: ``FERNET_KEY_META`` (fingerprint -> state and times) and
``FERNET_VERIFIED`` (database -> what the last verify pass proved). Every change goes
through :func:`erp.rotation.journal.record_change`, so each step is in the rotation log.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from erp.audit import AuditLog
from erp.clock import Clock, system_clock, to_iso
from erp.errors import ConfigError, PolicyViolation
from erp.fernet.keys import (
    FALLBACK_NAME,
    PRIMARY_NAME,
    FernetKey,
    generate_key,
    key_fingerprint,
    parse_key,
)
from erp.rotation.journal import Recorded, record_change
from erp.vault import VaultFile

__all__ = [
    "META_NAME",
    "VERIFIED_NAME",
    "RetireRefused",
    "VaultKeys",
    "fernet_status",
    "record_event",
    "record_verify",
    "retire_keys",
    "retire_problems",
    "rotate_fernet_key",
    "vault_keys",
]

META_NAME = "FERNET_KEY_META"
VERIFIED_NAME = "FERNET_VERIFIED"


class RetireRefused(PolicyViolation):
    """Old keys may not be removed yet: no matching verify pass proves they are unused."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__(
            "retire refused, the old keys stay in the vault: " + "; ".join(self.problems)
        )


@dataclass(frozen=True)
class VaultKeys:
    """The Fernet keys stored in one vault document (none may be present)."""

    primary: FernetKey | None
    fallbacks: tuple[FernetKey, ...]
    meta: dict[str, dict[str, Any]]

    def fingerprints(self) -> list[str]:
        keys = ([self.primary] if self.primary else []) + list(self.fallbacks)
        return [k.fingerprint for k in keys]


def vault_keys(doc: Mapping[str, Any], where: str) -> VaultKeys:
    """Parse the Fernet entries of a vault document (validated; errors name ``where``)."""
    raw_primary = doc.get(PRIMARY_NAME)
    primary = None
    if raw_primary is not None:
        if not isinstance(raw_primary, str):
            raise ConfigError(f"{PRIMARY_NAME} in {where} must be a string")
        primary = parse_key(raw_primary, f"{PRIMARY_NAME} in {where}")
    raw = doc.get(FALLBACK_NAME) or ""
    if not isinstance(raw, str):
        raise ConfigError(
            f"{FALLBACK_NAME} in {where} must be a string of keys, comma-separated, newest first"
        )
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    fallbacks = tuple(
        parse_key(p, f"{FALLBACK_NAME} in {where} (entry {i + 1})") for i, p in enumerate(parts)
    )
    meta = doc.get(META_NAME) or {}
    if not isinstance(meta, dict):
        raise ConfigError(f"{META_NAME} in {where} must be a JSON object")
    return VaultKeys(primary, fallbacks, {k: dict(v) for k, v in meta.items()})


def _store(doc: dict[str, Any], primary: str, fallbacks: list[str]) -> None:
    doc[PRIMARY_NAME] = primary
    unique = [k for i, k in enumerate(fallbacks) if k != primary and k not in fallbacks[:i]]
    if unique:
        doc[FALLBACK_NAME] = ",".join(unique)
    else:
        doc.pop(FALLBACK_NAME, None)


def rotate_fernet_key(
    *,
    vault: VaultFile | None = None,
    log: AuditLog | None = None,
    new_key: str | None = None,
    clock: Clock = system_clock,
    actor: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Recorded:
    """Make a new primary key (generated, or ``new_key``); the old one becomes a fallback.

    A ``FERNET_KEY`` set in the environment but absent from the vault is kept as a
    fallback too (it is what running services encrypt with), so no data becomes unreadable.
    """
    vault = vault or VaultFile()
    env = os.environ if environ is None else environ
    new = parse_key(new_key, "the new key") if new_key is not None else None

    def change(doc: dict[str, Any], now: datetime) -> dict[str, Any]:
        where = f"vault file {vault.path}"
        keys = vault_keys(doc, where)
        fresh = new or FernetKey(generate_key(), "generated")
        old_keys = [k.key for k in ([keys.primary] if keys.primary else [])]
        adopted = None
        env_text = env.get(PRIMARY_NAME)
        if env_text:
            env_key = parse_key(env_text, f"environment variable {PRIMARY_NAME}")
            if env_key.key not in old_keys and env_key.key not in [k.key for k in keys.fallbacks]:
                adopted = env_key
                old_keys.insert(0, env_key.key)
        known = old_keys + [k.key for k in keys.fallbacks]
        if fresh.key in known:
            raise ConfigError("the new key is already in the ring; rotate to a fresh key")
        _store(doc, fresh.key, old_keys + [k.key for k in keys.fallbacks])
        meta = dict(keys.meta)
        stamp = to_iso(now)
        for text in old_keys:
            fp = key_fingerprint(text)
            entry = dict(meta.get(fp) or {})
            entry.setdefault("created_at", stamp)
            entry.update(state="fallback", deactivated_at=stamp)
            meta[fp] = entry
        meta[fresh.fingerprint] = {"state": "primary", "created_at": stamp, "activated_at": stamp}
        doc[META_NAME] = meta
        return {
            "event": "fernet.rotate",
            "new": {"fingerprint": fresh.fingerprint},
            "previous": {"fingerprint": keys.primary.fingerprint} if keys.primary else None,
            "adopted_from_environment": adopted.fingerprint if adopted else None,
            "fallbacks": [key_fingerprint(k) for k in doc.get(FALLBACK_NAME, "").split(",") if k],
            "vault": str(vault.path),
        }

    return record_change(change, vault=vault, log=log, clock=clock, actor=actor)


def record_event(
    event: dict[str, Any],
    *,
    vault: VaultFile | None = None,
    log: AuditLog | None = None,
    clock: Clock = system_clock,
    actor: str | None = None,
) -> Recorded:
    """Append a non-secret event (a re-encryption run starting or ending) to the log."""
    return record_change(
        lambda doc, now: dict(event), vault=vault, log=log, clock=clock, actor=actor
    )


def record_verify(
    record: dict[str, Any],
    *,
    vault: VaultFile | None = None,
    log: AuditLog | None = None,
    clock: Clock = system_clock,
    actor: str | None = None,
) -> Recorded:
    """Store what a verify pass proved (``record["db"]`` names the database) and log it."""

    def change(doc: dict[str, Any], now: datetime) -> dict[str, Any]:
        verified = dict(doc.get(VERIFIED_NAME) or {})
        verified[record["db"]] = {**record, "time": to_iso(now)}
        doc[VERIFIED_NAME] = verified
        return {"event": "fernet.verify", **record}

    return record_change(change, vault=vault, log=log, clock=clock, actor=actor)


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
) -> Recorded:
    """Remove the fallback keys from the vault if :func:`retire_problems` finds none.

    Raises :class:`RetireRefused` listing the problems; the vault is then unchanged.
    """
    vault = vault or VaultFile()

    def change(doc: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        where = f"vault file {vault.path}"
        problems = retire_problems(doc, current, where)
        if problems:
            raise RetireRefused(problems)
        keys = vault_keys(doc, where)
        assert keys.primary is not None
        if not keys.fallbacks:
            return None
        verified = doc.get(VERIFIED_NAME) or {}
        meta = dict(keys.meta)
        for key in keys.fallbacks:
            entry = dict(meta.get(key.fingerprint) or {})
            entry.update(state="retired", retired_at=to_iso(now))
            meta[key.fingerprint] = entry
        doc[META_NAME] = meta
        doc.pop(FALLBACK_NAME, None)
        return {
            "event": "fernet.retire",
            "retired": [k.fingerprint for k in keys.fallbacks],
            "primary": keys.primary.fingerprint,
            "proof": {
                db: {"verified_at": verified[db].get("time"), "digest": digest}
                for db, digest in current.items()
            },
            "vault": str(vault.path),
        }

    return record_change(change, vault=vault, log=log, clock=clock, actor=actor)


def fernet_status(vault: VaultFile | None = None) -> dict[str, Any]:
    """The keys in effect (environment first, then ``vault``), their metadata, last verifies.

    Never contains key material: fingerprints, sources, states and times only.
    """
    from erp.errors import SecretNotFound
    from erp.fernet.keys import FernetKeyError, load_fernet_ring
    from erp.secrets import SecretResolver

    vault = vault or VaultFile()
    doc = vault.read()
    where = f"vault file {vault.path}"
    stored = vault_keys(doc, where)
    notes: list[str] = []
    keys: list[dict[str, Any]] = []
    try:
        ring = load_fernet_ring(SecretResolver.from_config(vault.path))
    except SecretNotFound:
        ring = None
    except FernetKeyError as exc:
        ring = None
        notes.append(str(exc))
    effective: set[str] = set()
    if ring is not None:
        for index, key in enumerate(ring.keys):
            effective.add(key.fingerprint)
            keys.append(
                {
                    "role": "primary" if index == 0 else "fallback",
                    "fingerprint": key.fingerprint,
                    "source": key.source,
                    **stored.meta.get(key.fingerprint, {}),
                }
            )
        if stored.primary and stored.primary.fingerprint != ring.primary.fingerprint:
            notes.append(
                f"the environment's FERNET_KEY ({ring.primary.fingerprint}) overrides the "
                f"vault's ({stored.primary.fingerprint})"
            )
    for fp, meta in sorted(stored.meta.items()):
        if fp not in effective and meta.get("state") == "retired":
            keys.append({"role": "retired", "fingerprint": fp, "source": "-", **meta})
    verified = doc.get(VERIFIED_NAME) or {}
    return {"vault": str(vault.path), "keys": keys, "verified": verified, "notes": notes}
