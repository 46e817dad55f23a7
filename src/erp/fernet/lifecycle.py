"""The Fernet key ring as stored in the vault, and its transitions as pure functions.

A :class:`StoredRing` is what one vault document says: the primary key, the fallbacks
(newest first) and, per fingerprint, a :class:`KeyRecord` of state and times. ``rotate``
and ``retire`` are functions of (ring, now, inputs) that return the new ring and the audit
event as frozen dataclasses; the vault is changed only by :mod:`erp.fernet.rotation`, which
applies them through the rotation journal. Randomness (a new key) and the environment come
in as arguments, so every transition can be tested without a file or a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from erp.clock import to_iso
from erp.fernet.errors import FernetKeyError, KeyAlreadyInRing
from erp.fernet.keys import FernetRingKey

__all__ = [
    "KeyRecord",
    "KeyState",
    "RetireEvent",
    "RotateEvent",
    "StoredRing",
    "Transition",
    "retire",
    "rotate",
]


class KeyState(StrEnum):
    """What a stored key does: encrypts (``primary``), only decrypts, or is gone."""

    PRIMARY = "primary"
    FALLBACK = "fallback"
    RETIRED = "retired"


@dataclass(frozen=True)
class KeyRecord:
    """State and times of one key, by fingerprint (``FERNET_KEY_META``); never the key."""

    state: str
    created_at: str | None = None
    activated_at: str | None = None
    deactivated_at: str | None = None
    retired_at: str | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> KeyRecord:
        def text(name: str) -> str | None:
            value = raw.get(name)
            return None if value is None else str(value)

        return cls(
            str(raw.get("state", "")),
            text("created_at"),
            text("activated_at"),
            text("deactivated_at"),
            text("retired_at"),
        )

    def as_dict(self) -> dict[str, str]:
        """The vault's form: only the fields that are set."""
        out = {"state": self.state}
        for name in ("created_at", "activated_at", "deactivated_at", "retired_at"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True)
class StoredRing:
    """The Fernet keys of one vault document (the primary may be absent)."""

    primary: FernetRingKey | None = None
    fallbacks: tuple[FernetRingKey, ...] = ()
    records: Mapping[str, KeyRecord] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen = {self.primary.key} if self.primary else set()
        unique = []
        for key in self.fallbacks:  # the primary or a repeated key adds nothing
            if key.key not in seen:
                seen.add(key.key)
                unique.append(key)
        object.__setattr__(self, "fallbacks", tuple(unique))
        object.__setattr__(self, "records", dict(self.records))

    @property
    def keys(self) -> tuple[FernetRingKey, ...]:
        return ((self.primary,) if self.primary else ()) + self.fallbacks

    def fingerprints(self) -> list[str]:
        return [k.fingerprint for k in self.keys]


E = TypeVar("E")


@dataclass(frozen=True)
class Transition(Generic[E]):
    """The result of a transition: the new ring and its audit event (no secrets)."""

    ring: StoredRing
    event: E


@dataclass(frozen=True)
class RotateEvent:
    """``fernet.rotate``: the new primary, the previous one, the fallbacks after it."""

    new: str
    previous: str | None
    adopted_from_environment: str | None
    fallbacks: tuple[str, ...]
    vault: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The rotation log's form (unchanged since the first release)."""
        return {
            "event": "fernet.rotate",
            "new": {"fingerprint": self.new},
            "previous": {"fingerprint": self.previous} if self.previous else None,
            "adopted_from_environment": self.adopted_from_environment,
            "fallbacks": list(self.fallbacks),
            "vault": self.vault,
        }


@dataclass(frozen=True)
class Proof:
    """Why a database no longer needs the old keys: its verify pass and state digest."""

    verified_at: str | None
    digest: str


@dataclass(frozen=True)
class RetireEvent:
    """``fernet.retire``: the keys removed, the primary that remains, the proof per database."""

    retired: tuple[str, ...]
    primary: str
    proof: Mapping[str, Proof]
    vault: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The rotation log's form (unchanged since the first release)."""
        return {
            "event": "fernet.retire",
            "retired": list(self.retired),
            "primary": self.primary,
            "proof": {
                db: {"verified_at": p.verified_at, "digest": p.digest}
                for db, p in self.proof.items()
            },
            "vault": self.vault,
        }


def rotate(
    ring: StoredRing,
    now: datetime,
    new: FernetRingKey,
    *,
    in_use: FernetRingKey | None = None,
) -> Transition[RotateEvent]:
    """``new`` becomes the primary; the old primary becomes the newest fallback.

    ``in_use`` is a key the running services encrypt with that the ring does not hold (a
    ``FERNET_KEY`` set in their environment): it is kept as a fallback too, ahead of the old
    primary, so nothing it encrypted becomes unreadable. Raises :class:`KeyAlreadyInRing` when
    ``new`` is already in the ring.
    """
    old = [ring.primary] if ring.primary else []
    adopted = None
    if in_use is not None and in_use.key not in {k.key for k in ring.keys}:
        adopted = in_use
        old.insert(0, in_use)
    if new.key in {k.key for k in (*old, *ring.fallbacks)}:
        raise KeyAlreadyInRing("the new key is already in the ring; rotate to a fresh key")
    stamp = to_iso(now)
    records = dict(ring.records)
    for key in old:
        record = records.get(key.fingerprint) or KeyRecord(KeyState.FALLBACK, created_at=stamp)
        if record.created_at is None:
            record = replace(record, created_at=stamp)
        records[key.fingerprint] = replace(
            record, state=KeyState.FALLBACK.value, deactivated_at=stamp
        )
    records[new.fingerprint] = KeyRecord(KeyState.PRIMARY.value, stamp, stamp)
    after = StoredRing(new, (*old, *ring.fallbacks), records)
    event = RotateEvent(
        new=new.fingerprint,
        previous=ring.primary.fingerprint if ring.primary else None,
        adopted_from_environment=adopted.fingerprint if adopted else None,
        fallbacks=tuple(k.fingerprint for k in after.fallbacks),
    )
    return Transition(after, event)


def retire(
    ring: StoredRing, now: datetime, proof: Mapping[str, Proof]
) -> Transition[RetireEvent] | None:
    """Every fallback is retired (``None`` when there is none); the primary stays alone.

    The caller has established ``proof`` (see :func:`erp.fernet.rotation.retire_problems`);
    this function only records it.
    """
    if ring.primary is None:
        raise FernetKeyError("the vault holds no FERNET_KEY; there is nothing to retire towards")
    if not ring.fallbacks:
        return None
    stamp = to_iso(now)
    records = dict(ring.records)
    for key in ring.fallbacks:
        record = records.get(key.fingerprint) or KeyRecord(KeyState.RETIRED.value)
        records[key.fingerprint] = replace(record, state=KeyState.RETIRED.value, retired_at=stamp)
    event = RetireEvent(
        retired=tuple(k.fingerprint for k in ring.fallbacks),
        primary=ring.primary.fingerprint,
        proof=dict(proof),
    )
    return Transition(StoredRing(ring.primary, (), records), event)
