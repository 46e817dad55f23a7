"""Old import path of :mod:`erp.jwt.keyring`, kept so existing imports keep working."""

from __future__ import annotations

from datetime import datetime

from erp.jwt import keyring as _keyring
from erp.jwt.keyring import (
    MIN_SECRET_BYTES,
    Key,
    KeyRing,
    KeyState,
    RotationPolicy,
    Transition,
    check_secret_strength,
    fingerprint,
    generate_secret,
    new_key_id,
    promote,
    prune,
    rotate,
    stage,
)

__all__ = [
    "MIN_SECRET_BYTES",
    "Key",
    "KeyRing",
    "KeyState",
    "RotationPolicy",
    "Transition",
    "check_secret_strength",
    "fingerprint",
    "generate_secret",
    "new_key_id",
    "promote",
    "prune",
    "prune_plan",
    "rotate",
    "stage",
]


def prune_plan(
    ring: KeyRing, now: datetime, policy: RotationPolicy
) -> list[tuple[Key, datetime | None]]:
    """The old signature (``now`` was never used); see :func:`erp.jwt.keyring.prune_plan`."""
    del now
    return _keyring.prune_plan(ring, policy)
