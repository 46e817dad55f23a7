"""Versioned signing keys and their life cycle, as pure functions of (ring, now, policy).

Keys move ``staged -> active -> retiring -> (pruned)``. Exactly one key is ``active`` and
signs; every key still in the ring (staged, active, retiring) verifies. Roles are named by
state, never by list position. Nothing here does I/O: stores and the audit log wrap it.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets as _random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from erp.clock import from_iso, to_iso
from erp.errors import KeyRingError, PolicyViolation, WeakSecret

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

MIN_SECRET_BYTES = 32
"""256 bits: RFC 7518 section 3.2 requires HS256 keys at least as long as the hash output."""

_MIN_DISTINCT_CHARS = 8
_SECRET_BYTES = 48  # 384 bits of randomness, 64 url-safe characters


class KeyState(StrEnum):
    """Where a key is in its life: only ``active`` signs; all three verify."""

    STAGED = "staged"
    ACTIVE = "active"
    RETIRING = "retiring"


@dataclass(frozen=True)
class Key:
    """One signing key. ``secret`` never appears in ``repr`` or ``str``."""

    id: str
    secret: str = field(repr=False)
    state: KeyState
    created_at: datetime | None = None
    activated_at: datetime | None = None
    deactivated_at: datetime | None = None

    @property
    def fingerprint(self) -> str:
        """A short, non-reversible identifier of the secret, safe to log."""
        return fingerprint(self.secret)

    def metadata(self) -> dict[str, Any]:
        """The key's non-secret fields, as stored beside ``JWT_SECRETS``."""
        out: dict[str, Any] = {"state": self.state.value, "fingerprint": self.fingerprint}
        for name in ("created_at", "activated_at", "deactivated_at"):
            moment = getattr(self, name)
            if moment is not None:
                out[name] = to_iso(moment)
        return out


@dataclass(frozen=True)
class RotationPolicy:
    """How keys rotate and when old ones may go. Durations are ``timedelta``."""

    mode: Literal["immediate", "staged"] = "immediate"
    max_token_ttl: timedelta = timedelta(hours=1)
    leeway: timedelta = timedelta(seconds=30)
    min_stage_period: timedelta = timedelta(minutes=10)
    rotation_interval: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        if self.mode not in ("immediate", "staged"):
            raise PolicyViolation(
                f"rotation policy mode {self.mode!r} is unknown; use 'immediate' or 'staged'"
            )
        for name in ("max_token_ttl", "leeway", "min_stage_period", "rotation_interval"):
            if getattr(self, name) < timedelta(0):
                raise PolicyViolation(f"rotation policy {name} must not be negative")

    def prune_after(self, key: Key) -> datetime | None:
        """The instant after which every token ``key`` signed has expired (``None``: signing)."""
        if key.state is not KeyState.RETIRING or key.deactivated_at is None:
            return None
        return key.deactivated_at + self.max_token_ttl + self.leeway

    def with_mode(self, mode: str | None) -> RotationPolicy:
        """This policy with another ``mode`` (``None`` keeps it)."""
        if mode is None:
            return self
        if mode not in ("immediate", "staged"):
            raise PolicyViolation(
                f"rotation policy mode {mode!r} is unknown; use 'immediate' or 'staged'"
            )
        return replace(self, mode="staged" if mode == "staged" else "immediate")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RotationPolicy:
        """Read the policy from ``ERP_JWT_*`` variables; unset ones keep their defaults.

        ``ERP_JWT_POLICY`` (immediate|staged), ``ERP_JWT_MAX_TOKEN_TTL_SECONDS``,
        ``ERP_JWT_LEEWAY_SECONDS``, ``ERP_JWT_MIN_STAGE_SECONDS``,
        ``ERP_JWT_ROTATION_INTERVAL_DAYS``.
        """
        env = os.environ if env is None else env
        kwargs: dict[str, Any] = {}
        if "ERP_JWT_POLICY" in env:
            kwargs["mode"] = env["ERP_JWT_POLICY"].strip().lower()
            if kwargs["mode"] not in ("immediate", "staged"):
                raise PolicyViolation(
                    f"environment variable ERP_JWT_POLICY={env['ERP_JWT_POLICY']!r} is unknown; "
                    "set it to 'immediate' or 'staged'"
                )
        for var, name, unit in (
            ("ERP_JWT_MAX_TOKEN_TTL_SECONDS", "max_token_ttl", 1.0),
            ("ERP_JWT_LEEWAY_SECONDS", "leeway", 1.0),
            ("ERP_JWT_MIN_STAGE_SECONDS", "min_stage_period", 1.0),
            ("ERP_JWT_ROTATION_INTERVAL_DAYS", "rotation_interval", 86400.0),
        ):
            if var in env:
                try:
                    value = float(env[var])
                except ValueError:
                    raise PolicyViolation(
                        f"environment variable {var}={env[var]!r} is not a number"
                    ) from None
                kwargs[name] = timedelta(seconds=value * unit)
        return cls(**kwargs)


def fingerprint(secret: str) -> str:
    """``sha256:`` and 16 hex digits of the secret's SHA-256: identifies, never reveals."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:16]


def generate_secret() -> str:
    """A fresh signing secret: 384 random bits from the OS CSPRNG, URL-safe text."""
    return _random.token_urlsafe(_SECRET_BYTES)


def new_key_id(now: datetime) -> str:
    """A sortable, collision-resistant key id such as ``k-20261125T211500Z-3f9a2c``."""
    return f"k-{now.strftime('%Y%m%dT%H%M%SZ')}-{_random.token_hex(3)}"


def check_secret_strength(secret: object, where: str) -> str:
    """Return ``secret`` if it is strong enough to sign with, else raise :class:`WeakSecret`.

    ``where`` names the source (file and entry, or variable) for the error message.
    """
    if not isinstance(secret, str):
        raise WeakSecret(f"{where} is a {type(secret).__name__}, not a string secret")
    length = len(secret.encode())
    if length < MIN_SECRET_BYTES:
        raise WeakSecret(
            f"{where} is {length * 8} bits long; at least {MIN_SECRET_BYTES * 8} bits are "
            f"required. {_WEAK_FIX}"
        )
    if len(set(secret)) < _MIN_DISTINCT_CHARS:
        raise WeakSecret(
            f"{where} uses fewer than {_MIN_DISTINCT_CHARS} distinct characters and is "
            f"guessable. {_WEAK_FIX}"
        )
    if _looks_like_public_key(secret):
        # PyJWT refuses such keys for HMAC (the HMAC/public-key confusion attack): refuse
        # them here, with the entry's name, rather than fail at the first token.
        raise WeakSecret(
            f"{where} is a PEM, SSH or JWK key, not an HMAC secret (using one as the other "
            f"is the algorithm-confusion attack). {_WEAK_FIX}"
        )
    return secret


# The rotation commands refuse a ring holding a weak key, so the fix starts by hand.
_WEAK_FIX = (
    "Remove it from JWT_SECRETS (and JWT_SECRET_ID if it names it), then run "
    "'erp-secrets jwt rotate' to generate a strong key."
)
_SSH_PREFIXES = ("ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-")


def _looks_like_public_key(secret: str) -> bool:
    text = secret.strip()
    return (
        "-----BEGIN" in text
        or text.startswith(_SSH_PREFIXES)
        or (text.startswith(("{", "[")) and '"kty"' in text)
    )


@dataclass(frozen=True)
class KeyRing:
    """An immutable set of keys with exactly one active key (or none, when empty)."""

    keys: tuple[Key, ...] = ()

    def __post_init__(self) -> None:
        ids = [k.id for k in self.keys]
        if len(ids) != len(set(ids)):
            raise KeyRingError("key ring holds the same key id twice")
        active = [k for k in self.keys if k.state is KeyState.ACTIVE]
        if self.keys and len(active) != 1:
            raise KeyRingError(f"key ring must have exactly one active key, found {len(active)}")

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key_id: object) -> bool:
        return any(k.id == key_id for k in self.keys)

    def get(self, key_id: str) -> Key | None:
        """The key with this id, or ``None``."""
        for k in self.keys:
            if k.id == key_id:
                return k
        return None

    @property
    def active(self) -> Key:
        """The one key that signs new tokens."""
        for k in self.keys:
            if k.state is KeyState.ACTIVE:
                return k
        raise KeyRingError("key ring is empty: run 'erp-secrets jwt rotate' to create a key")

    @property
    def staged(self) -> Key | None:
        """The key waiting to be promoted, if any."""
        for k in self.keys:
            if k.state is KeyState.STAGED:
                return k
        return None

    def verification_keys(self) -> dict[str, str]:
        """Map of key id to secret for every key that verifies (all keys in the ring)."""
        return {k.id: k.secret for k in self.keys}

    def secrets_map(self) -> dict[str, str]:
        """The ``JWT_SECRETS`` value: key id to secret, oldest first."""
        return {k.id: k.secret for k in self.keys}

    def metadata_map(self) -> dict[str, dict[str, Any]]:
        """Key id to non-secret metadata, as stored under ``JWT_KEYS``."""
        return {k.id: k.metadata() for k in self.keys}

    def replace_keys(self, keys: Iterable[Key]) -> KeyRing:
        return KeyRing(tuple(keys))

    @classmethod
    def from_maps(
        cls,
        secrets_map: Mapping[str, object],
        active_id: str | None,
        metadata: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        source: str = "JWT_SECRETS",
        check_strength: bool = True,
    ) -> KeyRing:
        """Build a ring from the runbook's ``JWT_SECRETS`` map and ``JWT_SECRET_ID``.

        ``metadata`` (``JWT_KEYS``) adds states and times; without it the active id is the
        active key and every other key is retiring with an unknown deactivation time.
        """
        if not isinstance(secrets_map, Mapping) or not secrets_map:
            if secrets_map == {} and active_id is None:
                return cls()
            raise KeyRingError(f"{source} must be a non-empty JSON object of key id -> secret")
        if active_id is None:
            raise KeyRingError(
                f"{source} is set but JWT_SECRET_ID is not: set it to one of the key ids"
            )
        if active_id not in secrets_map:
            # an id is not secret, but a secret pasted into JWT_SECRET_ID must not be echoed
            shown = (
                repr(active_id)
                if len(active_id) <= 64 and active_id not in secrets_map.values()
                else f"(a value of {len(active_id)} characters, not shown: is it a secret?)"
            )
            raise KeyRingError(
                f"JWT_SECRET_ID names key {shown}, which is not in {source} "
                f"(ids: {', '.join(sorted(map(str, secrets_map)))}); set JWT_SECRET_ID to "
                "one of those ids"
            )
        metadata = metadata or {}
        keys: list[Key] = []
        for key_id, secret in secrets_map.items():
            if not isinstance(key_id, str) or not key_id:
                raise KeyRingError(f"{source} has an empty or non-string key id")
            where = f"{source}[{key_id!r}]"
            if check_strength:
                check_secret_strength(secret, where)
            elif not isinstance(secret, str):
                raise KeyRingError(f"{where} is not a string")
            meta = metadata.get(key_id, {})
            try:
                times = {
                    name: from_iso(str(meta[name]))
                    for name in ("created_at", "activated_at", "deactivated_at")
                    if meta.get(name)
                }
            except ValueError as exc:
                raise KeyRingError(f"JWT_KEYS[{key_id!r}] has a bad timestamp: {exc}") from None
            if key_id == active_id:
                state = KeyState.ACTIVE
                times.pop("deactivated_at", None)
            else:
                raw = meta.get("state", KeyState.RETIRING.value)
                try:
                    state = KeyState(raw)
                except ValueError:
                    raise KeyRingError(f"JWT_KEYS[{key_id!r}] has unknown state {raw!r}") from None
                if state is KeyState.ACTIVE:  # JWT_SECRET_ID wins: the runbook's flip
                    state = KeyState.RETIRING
            keys.append(Key(key_id, str(secret), state, **times))
        return cls(tuple(keys))


@dataclass(frozen=True)
class Transition:
    """The result of a key-ring operation: the new ring and an audit record (no secrets)."""

    ring: KeyRing
    event: dict[str, Any]


def _fresh_key(
    ring: KeyRing, now: datetime, state: KeyState, secret: str | None, key_id: str | None
) -> Key:
    secret = generate_secret() if secret is None else check_secret_strength(secret, "new key")
    while key_id is None or key_id in ring:  # ids made in the same second may clash: redraw
        key_id = new_key_id(now)
    return Key(
        id=key_id,
        secret=secret,
        state=state,
        created_at=now,
        activated_at=now if state is KeyState.ACTIVE else None,
    )


def _demote(key: Key, now: datetime) -> Key:
    return replace(key, state=KeyState.RETIRING, deactivated_at=now)


def _activate(key: Key, now: datetime) -> Key:
    return replace(key, state=KeyState.ACTIVE, activated_at=now, deactivated_at=None)


def _describe(key: Key | None) -> dict[str, str] | None:
    return None if key is None else {"id": key.id, "fingerprint": key.fingerprint}


def rotate(
    ring: KeyRing,
    now: datetime,
    policy: RotationPolicy,
    *,
    secret: str | None = None,
    key_id: str | None = None,
) -> Transition:
    """Rotate under ``policy``.

    ``immediate``: a new key becomes active now; the previous active key starts retiring.
    ``staged``: the staged key (if staged long enough) becomes active and a new key is
    staged behind it; with nothing staged yet, a key is only staged. An empty ring gets an
    active key in either mode.
    """
    if key_id is not None and key_id in ring:
        raise KeyRingError(f"key id {key_id!r} already exists in the ring")
    if not ring.keys:
        first = _fresh_key(ring, now, KeyState.ACTIVE, secret, key_id)
        return Transition(
            KeyRing((first,)),
            {"action": "rotate", "mode": policy.mode, "new": _describe(first), "previous": None},
        )
    if policy.mode == "staged":
        if ring.staged is None:
            step = stage(ring, now, policy, secret=secret, key_id=key_id)
            return Transition(step.ring, {**step.event, "action": "rotate", "mode": "staged"})
        promoted = promote(ring, now, policy)
        step = stage(promoted.ring, now, policy, secret=secret, key_id=key_id)
        return Transition(
            step.ring,
            {
                "action": "rotate",
                "mode": "staged",
                "new": promoted.event["new"],
                "previous": promoted.event["previous"],
                "staged": step.event["staged"],
            },
        )
    old = ring.active
    new = _fresh_key(ring, now, KeyState.ACTIVE, secret, key_id)
    keys = [_demote(k, now) if k.id == old.id else k for k in ring.keys] + [new]
    return Transition(
        KeyRing(tuple(keys)),
        {
            "action": "rotate",
            "mode": "immediate",
            "new": _describe(new),
            "previous": _describe(old),
        },
    )


def stage(
    ring: KeyRing,
    now: datetime,
    policy: RotationPolicy,
    *,
    secret: str | None = None,
    key_id: str | None = None,
) -> Transition:
    """Add a verify-only next key. Refused when one is already staged (one look-ahead)."""
    if not ring.keys:
        raise PolicyViolation("cannot stage into an empty ring: run 'erp-secrets jwt rotate' first")
    if ring.staged is not None:
        raise PolicyViolation(
            f"key {ring.staged.id!r} is already staged; promote it before staging another "
            "(staging twice would leave instances unable to verify)"
        )
    if key_id is not None and key_id in ring:
        raise KeyRingError(f"key id {key_id!r} already exists in the ring")
    new = _fresh_key(ring, now, KeyState.STAGED, secret, key_id)
    return Transition(
        KeyRing((*ring.keys, new)),
        {"action": "stage", "staged": _describe(new), "active": _describe(ring.active)},
    )


def promote(ring: KeyRing, now: datetime, policy: RotationPolicy) -> Transition:
    """Make the staged key active, once it has been staged for ``min_stage_period``."""
    staged = ring.staged
    if staged is None:
        raise PolicyViolation("no key is staged: run 'erp-secrets jwt stage' first")
    ready_at = (staged.created_at or now) + policy.min_stage_period
    if now < ready_at:
        raise PolicyViolation(
            f"key {staged.id!r} was staged less than {policy.min_stage_period} ago; "
            f"promote it after {to_iso(ready_at)} so every instance has loaded it"
        )
    old = ring.active
    keys = []
    for k in ring.keys:
        if k.id == old.id:
            keys.append(_demote(k, now))
        elif k.id == staged.id:
            keys.append(_activate(k, now))
        else:
            keys.append(k)
    return Transition(
        KeyRing(tuple(keys)),
        {"action": "promote", "new": _describe(staged), "previous": _describe(old)},
    )


def prune_plan(
    ring: KeyRing, now: datetime, policy: RotationPolicy
) -> list[tuple[Key, datetime | None]]:
    """Every retiring key with the time it may be pruned (``None``: unknown, never automatic)."""
    return [(k, policy.prune_after(k)) for k in ring.keys if k.state is KeyState.RETIRING]


def prune(ring: KeyRing, now: datetime, policy: RotationPolicy) -> Transition:
    """Remove retiring keys whose tokens have all expired; keep everything else."""
    # strictly after: a token is still valid at exactly exp + leeway
    removed = [k for k, when in prune_plan(ring, now, policy) if when is not None and when < now]
    gone = {k.id for k in removed}
    kept = tuple(k for k in ring.keys if k.id not in gone)
    return Transition(
        KeyRing(kept),
        {"action": "prune", "removed": [_describe(k) for k in removed]},
    )


def ring_from_json_text(text: str, active_id: str | None, source: str) -> KeyRing:
    """Parse a ``JWT_SECRETS`` JSON string (as found in an environment variable)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyRingError(
            f"{source} is not valid JSON ({exc.msg} at position {exc.pos})"
        ) from None
    if not isinstance(value, dict):
        raise KeyRingError(
            f"{source} must be a JSON object of key id -> secret, not {type(value).__name__}"
        )
    return KeyRing.from_maps(value, active_id, source=source)
