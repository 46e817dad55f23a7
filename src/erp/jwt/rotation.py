"""JWT key rotation on a vault file: rotate, stage, promote, prune, status.

Each operation is a pure transition of :mod:`erp.jwt.keyring` applied to the vault through
the journal (:func:`erp.store.journal.record_change`), so the vault write is the commit
point and the rotation log gets the event. The document format is :mod:`erp.jwt.codec`'s.
"""

from __future__ import annotations

import os
from datetime import datetime

from erp._record import Record
from erp.clock import Clock, system_clock, to_iso
from erp.jwt.codec import ring_from_document, store_ring
from erp.jwt.keyring import (
    KeyRing,
    KeyState,
    RingEvent,
    RotationPolicy,
    Transition,
    prune,
    prune_plan,
)
from erp.jwt.keyring import promote as _promote
from erp.jwt.keyring import rotate as _rotate
from erp.jwt.keyring import stage as _stage
from erp.store.audit import AuditLog
from erp.store.journal import Recorded, record_change
from erp.store.vault import VaultFile

TYPE_CHECKING = False  # no typing import at run time: the rotation script's start-up path
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypedDict

    Step = Callable[[KeyRing, datetime, RotationPolicy], Transition]

__all__ = [
    "KeyStatus",
    "KeyStatusJson",
    "load_ring",
    "promote_key",
    "prune_keys",
    "rotate_key",
    "stage_key",
    "stamp_unknown_retirements",
    "status",
]


def load_ring(vault: VaultFile | None = None) -> KeyRing:
    """Read the key ring from the vault file (no lock: the file is replaced atomically)."""
    vault = vault or VaultFile()
    return ring_from_document(vault.read(), os.fspath(vault))


def stamp_unknown_retirements(ring: KeyRing, now: datetime) -> KeyRing:
    """Retiring keys of unknown age (hand-made files) start their retirement clock ``now``.

    Pure; the AWS rotation applies the same rule to the ring it stores.
    """
    if all(k.deactivated_at is not None for k in ring.keys if k.state is KeyState.RETIRING):
        return ring
    return KeyRing(
        tuple(
            k.replace(deactivated_at=now)
            if k.state is KeyState.RETIRING and k.deactivated_at is None
            else k
            for k in ring.keys
        )
    )


if TYPE_CHECKING:

    class JwtLogEvent(RingEvent, total=False):
        """A ring event as the rotation log records it: with its name and the vault's path."""

        event: str
        vault: str


def _apply(
    op: str,
    step: Step,
    *,
    vault: VaultFile | None,
    log: AuditLog | None,
    policy: RotationPolicy | None,
    clock: Clock,
    actor: str | None,
) -> Recorded:
    vault = vault or VaultFile()
    policy = policy or RotationPolicy.from_env()

    def change(doc: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        ring = stamp_unknown_retirements(ring_from_document(doc, os.fspath(vault)), now)
        result = step(ring, now, policy)
        if op == "prune" and not result.event.get("removed"):
            return None
        store_ring(doc, result.ring)
        event: JwtLogEvent = {"event": f"jwt.{op}", **result.event, "vault": os.fspath(vault)}
        return event  # type: ignore[return-value]  # a TypedDict is a dict[str, Any]

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


if TYPE_CHECKING:

    class KeyStatusJson(TypedDict):
        """One key of ``erp-secrets jwt status --json``."""

        id: str
        state: str
        alg: str
        fingerprint: str
        created_at: str | None
        activated_at: str | None
        deactivated_at: str | None
        prunable_at: str | None

else:
    KeyStatusJson = dict


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else to_iso(moment)


class KeyStatus(Record):
    """One row of ``jwt status``: no secret, only what an operator needs."""

    _fields = (
        "id",
        "state",
        "fingerprint",
        "created_at",
        "activated_at",
        "deactivated_at",
        "prunable_at",
        "alg",
    )
    __slots__ = _fields
    id: str
    state: KeyState
    fingerprint: str
    created_at: datetime | None
    activated_at: datetime | None
    deactivated_at: datetime | None
    prunable_at: datetime | None
    alg: str

    def __init__(
        self,
        id: str,
        state: KeyState,
        fingerprint: str,
        created_at: datetime | None,
        activated_at: datetime | None,
        deactivated_at: datetime | None,
        prunable_at: datetime | None,
        alg: str = "HS256",
    ) -> None:
        self._set(
            id=id,
            state=state,
            fingerprint=fingerprint,
            created_at=created_at,
            activated_at=activated_at,
            deactivated_at=deactivated_at,
            prunable_at=prunable_at,
            alg=alg,
        )

    def may_go(self, now: datetime) -> bool:
        """Whether ``prune`` would remove this key at ``now``."""
        return self.prunable_at is not None and self.prunable_at <= now

    def to_json(self) -> KeyStatusJson:
        """The row as ``jwt status --json`` prints it."""
        return {
            "id": self.id,
            "state": self.state.value,
            "alg": self.alg,
            "fingerprint": self.fingerprint,
            "created_at": _iso(self.created_at),
            "activated_at": _iso(self.activated_at),
            "deactivated_at": _iso(self.deactivated_at),
            "prunable_at": _iso(self.prunable_at),
        }


def status(ring: KeyRing, policy: RotationPolicy) -> list[KeyStatus]:
    """Every key with its state, times and when it may be pruned."""
    plan = {k.id: when for k, when in prune_plan(ring, policy)}
    return [
        KeyStatus(
            id=k.id,
            state=k.state,
            fingerprint=k.fingerprint,
            created_at=k.created_at,
            activated_at=k.activated_at,
            deactivated_at=k.deactivated_at,
            prunable_at=plan.get(k.id),
            alg=k.alg,
        )
        for k in ring.keys
    ]
