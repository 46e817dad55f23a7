"""Old import path of :mod:`erp.jwt.rotation` (and the codec's functions), kept for imports."""

from __future__ import annotations

from datetime import datetime

from erp.jwt import rotation as _rotation
from erp.jwt.codec import ring_from_document, store_ring
from erp.jwt.keyring import KeyRing, RotationPolicy
from erp.jwt.rotation import (
    KeyStatus,
    load_ring,
    promote_key,
    prune_keys,
    rotate_key,
    stage_key,
)

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


def status(ring: KeyRing, now: datetime, policy: RotationPolicy) -> list[KeyStatus]:
    """The old signature (``now`` was never used); see :func:`erp.jwt.rotation.status`."""
    del now
    return _rotation.status(ring, policy)
