"""Versioned signing keys and their life cycle, as pure functions of (ring, now, policy).

Keys move ``staged -> active -> retiring -> (pruned)``. Exactly one key is ``active`` and
signs; every key still in the ring (staged, active, retiring) verifies. Roles are named by
state, never by list position. Nothing here does I/O: stores and the audit log wrap it.

A secret is stored as text. Text is the HMAC key as its UTF-8 bytes, except text of the
form ``b64:<base64url>``, which is the binary key those characters encode (a JWK ``oct``
key's ``k``, such as RFC 7515 Appendix A.1's). Generated secrets are always plain text.

An asymmetric key (EdDSA, ES256, RS256) is stored in the same place as its private JWK text,
which carries its algorithm (:mod:`erp.jwt.keys`); a ring may mix both kinds during a
migration. The algorithm of a new key comes from the policy (``ERP_JWT_ALG``, default HS256).
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from erp import _settings
from erp._record import Record
from erp.clock import from_iso, to_iso
from erp.errors import KeyRingError, PolicyViolation, WeakSecret
from erp.fingerprint import fingerprint

# Neither typing nor dataclasses is imported at run time: this module is on the rotation
# script's start-up path (see erp._record). mypy reads TYPE_CHECKING as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal, TypedDict

    from erp.jwt.keys import PrivateKey

__all__ = [
    "BINARY_PREFIX",
    "KEY_ALGORITHMS",
    "MIN_SECRET_BYTES",
    "Key",
    "KeyRef",
    "KeyRing",
    "KeyState",
    "RingEvent",
    "RotationPolicy",
    "Transition",
    "binary_secret",
    "check_secret_strength",
    "fingerprint",
    "generate_secret",
    "key_bytes",
    "new_key_id",
    "promote",
    "prune",
    "prune_plan",
    "read_jwks_max_age",
    "rotate",
    "shown_id",
    "stage",
]

MIN_SECRET_BYTES = 32
"""256 bits: RFC 7518 section 3.2 requires HS256 keys at least as long as the hash output."""

BINARY_PREFIX = "b64:"
"""Marks a stored secret as base64url-encoded binary key bytes (padding optional)."""

KEY_ALGORITHMS = ("HS256", "EdDSA", "ES256", "RS256")
"""What a new key may be made for: HS256 (a shared secret, the default) or a key pair."""

_MIN_DISTINCT_CHARS = 8
_SECRET_BYTES = 48  # 384 bits of randomness, 64 url-safe characters
_MAX_SECRET_BYTES = 4096  # HMAC hashes longer keys first; anything this long is a mistake
# timestamps a key may carry: anything outside is a typo (and near datetime's limits the
# policy's arithmetic would overflow)
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)
_MAX_SHOWN_ID = 31  # shorter than any accepted secret, so an id shown can never be one


class KeyState(StrEnum):
    """Where a key is in its life: only ``active`` signs; all three verify."""

    STAGED = "staged"
    ACTIVE = "active"
    RETIRING = "retiring"


def key_bytes(secret: str) -> bytes:
    """The HMAC key a stored secret stands for: ``b64:`` text decoded, other text as UTF-8.

    Raises :class:`ValueError` (no content in the message) for bad base64url after ``b64:``.
    """
    if secret.startswith(BINARY_PREFIX):
        body = secret[len(BINARY_PREFIX) :].strip()
        if not body or not set(body) <= _B64URL:
            raise ValueError("the text after 'b64:' is not base64url")
        try:
            padded = (body + "=" * (-len(body) % 4)).encode("ascii").translate(_FROM_URLSAFE)
            return binascii.a2b_base64(padded)
        except (binascii.Error, ValueError):
            raise ValueError("the text after 'b64:' is not base64url") from None
    return secret.encode()


# base64url (RFC 4648 section 5) straight from binascii, as base64.urlsafe_b64encode/decode
# do it: the base64 module (and struct) is not imported on the rotation script's start-up.
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _urlsafe_b64(raw: bytes) -> str:
    """Unpadded base64url text of ``raw``."""
    return binascii.b2a_base64(raw, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode()


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")


def binary_secret(key: bytes) -> str:
    """The stored (``b64:``) form of a binary HMAC key."""
    return BINARY_PREFIX + _urlsafe_b64(key)


def shown_id(key_id: object, *, quote: bool = True) -> str:
    """How a key id may appear in a message: itself if short, else only its fingerprint.

    A map written the wrong way round (``{"<secret>": "k1"}``) has secrets where ids belong;
    an id of 32 bytes or more could be one (secrets are judged in UTF-8 bytes: eleven CJK
    characters can be a secret), so it is named by fingerprint.
    """
    if (
        isinstance(key_id, str)
        and key_id.isprintable()
        and len(key_id.encode("utf-8", "surrogatepass")) <= _MAX_SHOWN_ID
    ):
        return repr(key_id) if quote else key_id
    text = key_id if isinstance(key_id, str) else repr(key_id)
    return f"(id {fingerprint(text)}, not shown: is it a secret?)"


class Key(Record):
    """One signing key. ``secret`` never appears in ``repr`` or ``str``."""

    _fields = ("id", "secret", "state", "created_at", "activated_at", "deactivated_at")
    __slots__ = _fields
    _hidden = frozenset({"secret"})
    id: str
    secret: str
    state: KeyState
    created_at: datetime | None
    activated_at: datetime | None
    deactivated_at: datetime | None

    def __init__(
        self,
        id: str,
        secret: str,
        state: KeyState,
        created_at: datetime | None = None,
        activated_at: datetime | None = None,
        deactivated_at: datetime | None = None,
    ) -> None:
        self._set(
            id=id,
            secret=secret,
            state=state,
            created_at=created_at,
            activated_at=activated_at,
            deactivated_at=deactivated_at,
        )

    @property
    def key_bytes(self) -> bytes:
        """The HMAC key (``b64:`` secrets decoded)."""
        return key_bytes(self.secret)

    @property
    def fingerprint(self) -> str:
        """A short, non-reversible identifier of the key bytes, safe to log."""
        return fingerprint(self.key_bytes)

    @property
    def private_key(self) -> PrivateKey | None:
        """The key pair of an asymmetric key (its stored private JWK), ``None`` for HMAC."""
        if not _is_key_pair_text(self.secret):
            return None
        from erp.jwt.keys import load_private_key

        return load_private_key(self.secret, where=f"key {shown_id(self.id)}")

    @property
    def alg(self) -> str:
        """The algorithm bound to the key: its JWK's for a key pair, else HMAC's HS256."""
        private = self.private_key
        return "HS256" if private is None else private.alg

    def metadata(self) -> dict[str, Any]:
        """The key's non-secret fields, as stored beside ``JWT_SECRETS``."""
        out: dict[str, Any] = {"state": self.state.value, "fingerprint": self.fingerprint}
        private = self.private_key
        if private is not None:  # HMAC keys keep today's format exactly: no alg entry
            out["alg"] = private.alg
        for name in ("created_at", "activated_at", "deactivated_at"):
            moment = getattr(self, name)
            if moment is not None:
                out[name] = to_iso(moment)
        return out


# Settings bounds: generous for any real deployment, tight enough that arithmetic on them
# (now + ttl, dates in 10,000 years) can never overflow.
_MAX_TTL = timedelta(days=366)
_MAX_LEEWAY = timedelta(days=1)
_MAX_STAGE = timedelta(days=366)
_MAX_INTERVAL = timedelta(days=3660)


class RotationPolicy(Record):
    """How keys rotate and when old ones may go. Durations are ``timedelta``."""

    _fields = (
        "mode",
        "max_token_ttl",
        "leeway",
        "min_stage_period",
        "rotation_interval",
        "key_alg",
        "jwks_max_age",
    )
    __slots__ = _fields
    mode: Literal["immediate", "staged"]
    max_token_ttl: timedelta
    leeway: timedelta
    min_stage_period: timedelta
    rotation_interval: timedelta
    key_alg: str
    jwks_max_age: timedelta

    def __init__(
        self,
        mode: Literal["immediate", "staged"] = "immediate",
        max_token_ttl: timedelta = timedelta(hours=1),
        leeway: timedelta = timedelta(seconds=30),
        min_stage_period: timedelta = timedelta(minutes=10),
        rotation_interval: timedelta = timedelta(days=30),
        key_alg: str = "HS256",
        jwks_max_age: timedelta = timedelta(minutes=5),
    ) -> None:
        if mode not in ("immediate", "staged"):
            raise PolicyViolation(
                f"rotation policy mode {mode!r} is unknown; use 'immediate' or 'staged'"
            )
        if key_alg not in KEY_ALGORITHMS:
            raise PolicyViolation(
                f"key algorithm {shown_id(key_alg)} is unknown; use one of "
                f"{', '.join(KEY_ALGORITHMS)}"
            )
        durations = {
            "max_token_ttl": max_token_ttl,
            "leeway": leeway,
            "min_stage_period": min_stage_period,
            "rotation_interval": rotation_interval,
        }
        for name, value in durations.items():
            if value < timedelta(0):
                raise PolicyViolation(f"rotation policy {name} must not be negative")
        self._set(mode=mode, key_alg=key_alg, jwks_max_age=jwks_max_age, **durations)

    def prune_after(self, key: Key) -> datetime | None:
        """The instant from which every token ``key`` signed is refused (``None``: signing)."""
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
        return self.replace(mode="staged" if mode == "staged" else "immediate")

    def with_alg(self, alg: str | None) -> RotationPolicy:
        """This policy making new keys for ``alg`` (``None`` keeps it)."""
        return self if alg is None else self.replace(key_alg=alg)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RotationPolicy:
        """Read the policy from ``ERP_JWT_*`` variables; unset ones keep their defaults.

        ``ERP_JWT_POLICY`` (immediate|staged), ``ERP_JWT_MAX_TOKEN_TTL_SECONDS`` (1 s to
        366 days), ``ERP_JWT_LEEWAY_SECONDS`` (0 to 1 day), ``ERP_JWT_MIN_STAGE_SECONDS``
        (0 to 366 days), ``ERP_JWT_ROTATION_INTERVAL_DAYS`` (1 to 3660), ``ERP_JWT_ALG``
        (the algorithm of new keys: HS256, EdDSA, ES256 or RS256) and
        ``ERP_JWKS_MAX_AGE_SECONDS`` (1 s to 1 day). A malformed or out-of-range value raises
        :class:`~erp.errors.SettingError` naming the variable.
        """
        default = cls()
        modes: tuple[Literal["immediate", "staged"], ...] = ("immediate", "staged")
        mode = _settings.read_choice("ERP_JWT_POLICY", default.mode, modes, env=env)
        return cls(
            mode=mode,
            max_token_ttl=_settings.read_duration(
                "ERP_JWT_MAX_TOKEN_TTL_SECONDS",
                default.max_token_ttl,
                minimum=timedelta(seconds=1),
                maximum=_MAX_TTL,
                env=env,
            ),
            leeway=_settings.read_duration(
                "ERP_JWT_LEEWAY_SECONDS",
                default.leeway,
                minimum=timedelta(0),
                maximum=_MAX_LEEWAY,
                env=env,
            ),
            min_stage_period=_settings.read_duration(
                "ERP_JWT_MIN_STAGE_SECONDS",
                default.min_stage_period,
                minimum=timedelta(0),
                maximum=_MAX_STAGE,
                env=env,
            ),
            rotation_interval=_settings.read_duration(
                "ERP_JWT_ROTATION_INTERVAL_DAYS",
                default.rotation_interval,
                unit_seconds=86400.0,
                minimum=timedelta(days=1),
                maximum=_MAX_INTERVAL,
                env=env,
            ),
            key_alg=_settings.read_choice("ERP_JWT_ALG", default.key_alg, KEY_ALGORITHMS, env=env),
            jwks_max_age=read_jwks_max_age(env),
        )


def _is_key_pair_text(secret: str) -> bool:
    # erp.jwt.keys.is_private_jwk_text's rule, here so that HMAC-only rings never import
    # the key-pair code (and cryptography) at all
    return secret.lstrip().startswith("{") and '"kty"' in secret and '"d"' in secret


def read_jwks_max_age(env: Mapping[str, str] | None = None) -> timedelta:
    """``ERP_JWKS_MAX_AGE_SECONDS``: how long verifiers may cache the JWK Set (1 s to 1 day)."""
    return _settings.read_duration(
        "ERP_JWKS_MAX_AGE_SECONDS",
        timedelta(minutes=5),
        minimum=timedelta(seconds=1),
        maximum=timedelta(days=1),
        env=env,
    )


# secrets.token_urlsafe/token_hex are exactly these os.urandom calls; the secrets module
# itself (random, hmac) is not worth its import on the rotation script's start-up path.
def generate_secret() -> str:
    """A fresh signing secret: 384 random bits from the OS CSPRNG, URL-safe text."""
    return _urlsafe_b64(os.urandom(_SECRET_BYTES))


def new_key_id(now: datetime) -> str:
    """A sortable, collision-resistant key id such as ``k-20261125T211500Z-3f9a2c``."""
    return f"k-{now.strftime('%Y%m%dT%H%M%SZ')}-{os.urandom(3).hex()}"


def check_secret_strength(secret: object, where: str) -> str:
    """Return ``secret`` if it is strong enough to sign with, else raise :class:`WeakSecret`.

    ``where`` names the source (file and entry, or variable) for the error message. A
    ``b64:`` secret is judged by its decoded bytes.
    """
    if not isinstance(secret, str):
        raise WeakSecret(f"{where} is a {type(secret).__name__}, not a string secret")
    if _is_key_pair_text(secret):
        from erp.jwt.keys import load_private_key

        # a key pair: refused when weak (RSA < 2048 bits), on a wrong curve, or inconsistent
        load_private_key(secret, where=where)
        return secret
    try:
        raw = key_bytes(secret)
    except ValueError as exc:
        raise WeakSecret(f"{where}: {exc}. {_WEAK_FIX}") from None
    length = len(raw)
    if length < MIN_SECRET_BYTES:
        raise WeakSecret(
            f"{where} is {length * 8} bits long; at least {MIN_SECRET_BYTES * 8} bits are "
            f"required. {_WEAK_FIX}"
        )
    if length > _MAX_SECRET_BYTES:
        raise WeakSecret(
            f"{where} is {length} bytes long; at most {_MAX_SECRET_BYTES} are accepted "
            f"(is it a file pasted by mistake?). {_WEAK_FIX}"
        )
    distinct = len(set(raw)) if secret.startswith(BINARY_PREFIX) else len(set(secret))
    if distinct < _MIN_DISTINCT_CHARS:
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


class KeyRing(Record):
    """An immutable set of keys with exactly one active key (or none, when empty)."""

    _fields = ("keys",)
    __slots__ = _fields
    keys: tuple[Key, ...]

    def __init__(self, keys: tuple[Key, ...] = ()) -> None:
        keys = tuple(keys)
        ids = [k.id for k in keys]
        if len(ids) != len(set(ids)):
            raise KeyRingError("key ring holds the same key id twice")
        active = [k for k in keys if k.state is KeyState.ACTIVE]
        if keys and len(active) != 1:
            raise KeyRingError(f"key ring must have exactly one active key, found {len(active)}")
        self._set(keys=keys)

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

    def secrets_map(self) -> dict[str, str]:
        """The ``JWT_SECRETS`` value: key id to stored secret, oldest first. Every key verifies."""
        return {k.id: k.secret for k in self.keys}

    def metadata_map(self) -> dict[str, dict[str, Any]]:
        """Key id to non-secret metadata, as stored under ``JWT_KEYS``."""
        return {k.id: k.metadata() for k in self.keys}

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
        Messages name ids only when they cannot be secrets (see :func:`shown_id`).
        """
        if not isinstance(secrets_map, Mapping) or not secrets_map:
            if secrets_map == {} and active_id is None:
                return cls()
            raise KeyRingError(f"{source} must be a non-empty JSON object of key id -> secret")
        if active_id is None:
            raise KeyRingError(
                f"{source} is set but JWT_SECRET_ID is not: set it to one of the key ids"
            )
        ids = ", ".join(sorted(shown_id(k, quote=False) for k in secrets_map))
        if not isinstance(active_id, str) or active_id not in secrets_map:
            # a secret pasted into JWT_SECRET_ID, or a reversed map, must not be echoed
            reversed_hint = (
                " (JWT_SECRETS looks reversed: secret -> id)"
                if active_id in secrets_map.values()
                else ""
            )
            raise KeyRingError(
                f"JWT_SECRET_ID names key {shown_id(active_id)}, which is not in {source}"
                f"{reversed_hint} (ids: {ids}); set JWT_SECRET_ID to one of those ids"
            )
        metadata = metadata or {}
        # where JWT_KEYS came from, for its messages: the same document as JWT_SECRETS
        meta_in = (
            source.split("JWT_SECRETS", 1)[1] if "JWT_SECRETS" in source else f" (beside {source})"
        )
        keys: list[Key] = []
        for key_id, secret in secrets_map.items():
            if not isinstance(key_id, str) or not key_id:
                raise KeyRingError(
                    f"{source} has an empty or non-string key id; give every key a "
                    'non-empty name such as "k1"'
                )
            where = f"{source}[{shown_id(key_id)}]"
            if check_strength:
                check_secret_strength(secret, where)
            elif not isinstance(secret, str):
                raise KeyRingError(f"{where} is not a string")
            meta = metadata.get(key_id, {})
            entry = f"JWT_KEYS[{shown_id(key_id)}]{meta_in}"
            if not isinstance(meta, Mapping):
                raise KeyRingError(
                    f"{entry} is not a JSON object; restore the file from its backup or "
                    "remove that entry (its key then counts as retiring)"
                )
            try:
                times = {
                    name: from_iso(str(meta[name]))
                    for name in ("created_at", "activated_at", "deactivated_at")
                    if meta.get(name)
                }
            except (ValueError, OverflowError):
                raise KeyRingError(
                    f"{entry} has a bad timestamp (not ISO 8601 with a zone); write it as "
                    "2026-01-31T12:00:00Z or remove it"
                ) from None
            if any(not _EARLIEST <= t < _LATEST for t in times.values()):
                # a date near datetime's limits overflows the policy's arithmetic later
                raise KeyRingError(
                    f"{entry} has a timestamp outside {_EARLIEST.year}-{_LATEST.year - 1}; "
                    "correct it (write the real date) or remove it"
                )
            if key_id == active_id:
                state = KeyState.ACTIVE
                times.pop("deactivated_at", None)
            else:
                raw = meta.get("state", KeyState.RETIRING.value)
                try:
                    state = KeyState(raw)
                except ValueError:
                    raise KeyRingError(
                        f"{entry} has unknown state {shown_id(raw)}; use one of "
                        + ", ".join(repr(s.value) for s in KeyState)
                    ) from None
                if state is KeyState.ACTIVE:  # JWT_SECRET_ID wins: the runbook's flip
                    state = KeyState.RETIRING
            keys.append(Key(key_id, str(secret), state, **times))
        return cls(tuple(keys))


if TYPE_CHECKING:

    class KeyRef(TypedDict):
        """A key as the audit log and the CLI name it: id and fingerprint, never the secret."""

        id: str
        fingerprint: str

    class RingEvent(TypedDict, total=False):
        """What a transition did, as recorded in the rotation log (no secrets)."""

        action: str
        mode: str
        new: KeyRef | None
        previous: KeyRef | None
        staged: KeyRef | None
        active: KeyRef | None
        removed: list[KeyRef]

else:  # at run time both are plain dicts (a TypedDict is one): no typing import
    KeyRef = RingEvent = dict


class Transition(Record):
    """The result of a key-ring operation: the new ring and an audit record (no secrets)."""

    _fields = ("ring", "event")
    __slots__ = _fields
    ring: KeyRing
    event: RingEvent

    def __init__(self, ring: KeyRing, event: RingEvent) -> None:
        self._set(ring=ring, event=event)


def _fresh_key(
    ring: KeyRing,
    now: datetime,
    state: KeyState,
    secret: str | None,
    key_id: str | None,
    alg: str = "HS256",
) -> Key:
    if secret is None and alg != "HS256":
        from erp.jwt.keys import PrivateKey

        secret = PrivateKey.generate(alg).to_text()
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


def _check_new_id(ring: KeyRing, key_id: str | None) -> None:
    if key_id is None:
        return
    if not isinstance(key_id, str) or not key_id:
        raise KeyRingError("a new key id must be a non-empty string")
    if key_id in ring:
        raise KeyRingError(f"key id {shown_id(key_id)} already exists in the ring")


def _demote(key: Key, now: datetime) -> Key:
    return key.replace(state=KeyState.RETIRING, deactivated_at=now)


def _activate(key: Key, now: datetime) -> Key:
    return key.replace(state=KeyState.ACTIVE, activated_at=now, deactivated_at=None)


def _ref(key: Key) -> KeyRef:
    return {"id": key.id, "fingerprint": key.fingerprint}


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
    _check_new_id(ring, key_id)
    if not ring.keys:
        first = _fresh_key(ring, now, KeyState.ACTIVE, secret, key_id, policy.key_alg)
        return Transition(
            KeyRing((first,)),
            {"action": "rotate", "mode": policy.mode, "new": _ref(first), "previous": None},
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
    new = _fresh_key(ring, now, KeyState.ACTIVE, secret, key_id, policy.key_alg)
    keys = [_demote(k, now) if k.id == old.id else k for k in ring.keys] + [new]
    return Transition(
        KeyRing(tuple(keys)),
        {
            "action": "rotate",
            "mode": "immediate",
            "new": _ref(new),
            "previous": _ref(old),
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
            f"key {shown_id(ring.staged.id)} is already staged; promote it before staging "
            "another (staging twice would leave instances unable to verify)"
        )
    _check_new_id(ring, key_id)
    new = _fresh_key(ring, now, KeyState.STAGED, secret, key_id, policy.key_alg)
    return Transition(
        KeyRing((*ring.keys, new)),
        {"action": "stage", "staged": _ref(new), "active": _ref(ring.active)},
    )


def promote(ring: KeyRing, now: datetime, policy: RotationPolicy) -> Transition:
    """Make the staged key active, once it has been staged for ``min_stage_period``."""
    staged = ring.staged
    if staged is None:
        raise PolicyViolation("no key is staged: run 'erp-secrets jwt stage' first")
    if staged.private_key is not None and policy.min_stage_period <= policy.jwks_max_age:
        # a verifier may hold a JWK Set fetched just before the key was staged for max-age
        raise PolicyViolation(
            f"key {shown_id(staged.id)} is published in the JWK Set, whose max-age "
            f"({policy.jwks_max_age}) is not shorter than the minimum stage time "
            f"({policy.min_stage_period}); raise ERP_JWT_MIN_STAGE_SECONDS or lower "
            "ERP_JWKS_MAX_AGE_SECONDS"
        )
    ready_at = (staged.created_at or now) + policy.min_stage_period
    if now < ready_at:
        raise PolicyViolation(
            f"key {shown_id(staged.id)} was staged less than {policy.min_stage_period} ago; "
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
        {"action": "promote", "new": _ref(staged), "previous": _ref(old)},
    )


def prune_plan(ring: KeyRing, policy: RotationPolicy) -> list[tuple[Key, datetime | None]]:
    """Every retiring key with the time it may be pruned (``None``: unknown, never automatic)."""
    return [(k, policy.prune_after(k)) for k in ring.keys if k.state is KeyState.RETIRING]


def prune(ring: KeyRing, now: datetime, policy: RotationPolicy) -> Transition:
    """Remove retiring keys whose tokens have all expired; keep everything else."""
    # From exactly exp + leeway a token is refused (RFC 7519 4.1.4: "on or after"), so a key
    # may go at exactly deactivated_at + max_token_ttl + leeway.
    removed = [k for k, when in prune_plan(ring, policy) if when is not None and when <= now]
    gone = {k.id for k in removed}
    kept = tuple(k for k in ring.keys if k.id not in gone)
    return Transition(
        KeyRing(kept),
        {"action": "prune", "removed": [_ref(k) for k in removed]},
    )
