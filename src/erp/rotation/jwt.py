"""JWT key rotation on a vault file: rotate, stage, promote, prune, status.

The vault keeps the runbook's names: ``JWT_SECRETS`` (key id -> secret), ``JWT_SECRET_ID``
(the signing key) and, beside them, ``JWT_KEYS`` (key id -> state and times, no secrets).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from erp.audit import AuditLog
from erp.clock import Clock, system_clock
from erp.errors import PolicyViolation
from erp.keyring import (
    Key,
    KeyRing,
    KeyState,
    RotationPolicy,
    Transition,
    prune,
    prune_plan,
)
from erp.keyring import promote as _promote
from erp.keyring import rotate as _rotate
from erp.keyring import stage as _stage
from erp.rotation.journal import Recorded, record_change
from erp.vault import VaultFile

__all__ = [
    "KeyStatus",
    "load_ring",
    "promote_key",
    "prune_keys",
    "ring_from_document",
    "rotate_key",
    "stage_key",
    "status",
    "store_ring",
]


def ring_from_document(doc: dict[str, Any], source: str = "vault file") -> KeyRing:
    """The key ring stored in a vault document (empty if it holds none)."""
    secrets_map = doc.get("JWT_SECRETS") or {}
    active = doc.get("JWT_SECRET_ID")
    if not secrets_map and active is None:
        return KeyRing()
    return KeyRing.from_maps(
        secrets_map, active, doc.get("JWT_KEYS") or {}, source=f"JWT_SECRETS in {source}"
    )


def store_ring(doc: dict[str, Any], ring: KeyRing) -> None:
    """Write ``ring`` into a vault document under the runbook's names."""
    doc["JWT_SECRETS"] = ring.secrets_map()
    doc["JWT_SECRET_ID"] = ring.active.id if ring.keys else None
    doc["JWT_KEYS"] = ring.metadata_map()
    if not ring.keys:
        for name in ("JWT_SECRETS", "JWT_SECRET_ID", "JWT_KEYS"):
            doc.pop(name, None)


def load_ring(vault: VaultFile | None = None) -> KeyRing:
    """Read the key ring from the vault file (no lock: the file is replaced atomically)."""
    vault = vault or VaultFile()
    return ring_from_document(vault.read(), str(vault.path))


def _stamp_unknown(ring: KeyRing, now: datetime) -> KeyRing:
    """Retiring keys of unknown age (hand-made files) start their retirement clock now."""
    if all(k.deactivated_at is not None for k in ring.keys if k.state is KeyState.RETIRING):
        return ring
    return KeyRing(
        tuple(
            replace(k, deactivated_at=now)
            if k.state is KeyState.RETIRING and k.deactivated_at is None
            else k
            for k in ring.keys
        )
    )


def _apply(
    op: str,
    transition: Any,
    *,
    vault: VaultFile | None,
    log: AuditLog | None,
    policy: RotationPolicy | None,
    clock: Clock,
    actor: str | None,
    dry_run: bool = False,
) -> Recorded:
    vault = vault or VaultFile()
    policy = policy or RotationPolicy.from_env()

    def change(doc: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        ring = _stamp_unknown(ring_from_document(doc, str(vault.path)), now)
        result: Transition = transition(ring, now, policy)
        if dry_run:
            return None
        if op == "prune" and not result.event["removed"]:
            return None
        store_ring(doc, result.ring)
        return {"event": f"jwt.{op}", **result.event, "vault": str(vault.path)}

    return record_change(change, vault=vault, log=log, clock=clock, actor=actor)


def rotate_key(
    *,
    vault: VaultFile | None = None,
    log: AuditLog | None = None,
    policy: RotationPolicy | None = None,
    clock: Clock = system_clock,
    actor: str | None = None,
) -> Recorded:
    """Append a new key and flip ``JWT_SECRET_ID`` (or stage/promote under a staged policy)."""
    return _apply("rotate", _rotate, vault=vault, log=log, policy=policy, clock=clock, actor=actor)


def stage_key(
    *,
    vault: VaultFile | None = None,
    log: AuditLog | None = None,
    policy: RotationPolicy | None = None,
    clock: Clock = system_clock,
    actor: str | None = None,
) -> Recorded:
    """Add the next key as verify-only; refused when one is already staged."""
    return _apply("stage", _stage, vault=vault, log=log, policy=policy, clock=clock, actor=actor)


def promote_key(
    *,
    vault: VaultFile | None = None,
    log: AuditLog | None = None,
    policy: RotationPolicy | None = None,
    clock: Clock = system_clock,
    actor: str | None = None,
) -> Recorded:
    """Make the staged key active once it has been staged long enough."""
    return _apply(
        "promote", _promote, vault=vault, log=log, policy=policy, clock=clock, actor=actor
    )


def prune_keys(
    *,
    vault: VaultFile | None = None,
    log: AuditLog | None = None,
    policy: RotationPolicy | None = None,
    clock: Clock = system_clock,
    actor: str | None = None,
) -> Recorded:
    """Remove retiring keys whose every token has expired; log what went."""
    return _apply("prune", prune, vault=vault, log=log, policy=policy, clock=clock, actor=actor)


@dataclass(frozen=True)
class KeyStatus:
    """One row of ``jwt status``: no secret, only what an operator needs."""

    id: str
    state: KeyState
    fingerprint: str
    created_at: datetime | None
    activated_at: datetime | None
    deactivated_at: datetime | None
    prunable_at: datetime | None

    def may_go(self, now: datetime) -> bool:
        return self.prunable_at is not None and self.prunable_at < now


def status(ring: KeyRing, now: datetime, policy: RotationPolicy) -> list[KeyStatus]:
    """Every key with its state, times and when it may be pruned."""
    plan = {k.id: when for k, when in prune_plan(ring, now, policy)}
    return [
        KeyStatus(
            id=k.id,
            state=k.state,
            fingerprint=k.fingerprint,
            created_at=k.created_at,
            activated_at=k.activated_at,
            deactivated_at=k.deactivated_at,
            prunable_at=plan.get(k.id),
        )
        for k in ring.keys
    ]


def planned_removals(ring: KeyRing, now: datetime, policy: RotationPolicy) -> list[Key]:
    """The keys ``prune`` would remove now (for ``--dry-run``)."""
    return [k for k, when in prune_plan(ring, now, policy) if when is not None and when < now]


def refuse_if_empty(ring: KeyRing, what: str) -> None:
    if not ring.keys:
        raise PolicyViolation(f"cannot {what}: the key ring is empty; run 'erp-secrets jwt rotate'")
