"""Issue and verify JWTs against a key ring that may change under the service.

Verification order, cheapest refusal first, and nothing but the header parsed before the
signature holds:

1. the token's length against ``max_token_bytes`` (one ``len``);
2. the header, by :mod:`erp.jwt.compact`: canonical base64url, JSON nested at most 4 deep,
   ``alg`` in the allow-list, ``kid`` a string (a header seen with a valid signature
   before is not parsed again);
3. the key named by ``kid`` (an unknown ``kid`` gets one rate-limited reload of the ring,
   or asks the ``key_source``, such as a :class:`~erp.jwt.remote.RemoteKeySet`); a key pair's
   token is then checked by :mod:`erp.jwt.asymmetric`, with exactly the key's own algorithm
   (an HS256 token naming an EdDSA key is refused, whatever secret it was MACed with);
4. the MAC, compared in constant time as canonical base64url text;
5. the claims: strict JSON, ``exp`` required, every NumericDate finite, ``exp`` refused
   from exactly ``exp + leeway`` (RFC 7519 4.1.4 "on or after"), ``nbf``/``iat`` with the
   leeway, ``aud``/``iss`` as PyJWT checks them, ``iss``/``sub``/``jti`` strings.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from erp import _settings
from erp.clock import Clock, system_clock
from erp.errors import InvalidToken, PolicyViolation, TokenExpired, UnknownKeyId
from erp.jwt import asymmetric
from erp.jwt.compact import CompactVerifier, decode_claims, sign_hmac
from erp.jwt.keyring import KeyRing, RotationPolicy
from erp.jwt.keys import ASYMMETRIC_ALGORITHMS, PrivateKey, PublicKey

__all__ = [
    "ALLOWED_ALGORITHMS",
    "DEFAULT_MAX_TOKEN_BYTES",
    "KeySource",
    "TokenService",
]

ALLOWED_ALGORITHMS = ("HS256", "HS384", "HS512")
"""What a shared secret may verify. A key pair verifies its own algorithm only (EdDSA,
ES256 or RS256, bound to it when it was made), never one of these."""


class KeySource(Protocol):
    """Verify-only keys from elsewhere than the ring: a :class:`~erp.jwt.remote.RemoteKeySet`."""

    def public_key(self, kid: str | None) -> PublicKey:
        """The key named ``kid``, or raise :class:`~erp.errors.UnknownKeyId`."""
        ...


DEFAULT_MAX_TOKEN_BYTES = 8192
"""8 KiB: a token with a kid and a dozen claims is 300-600 bytes; HTTP servers commonly cap
a whole header line at 8 KiB, so a longer token could not have arrived intact anyway."""

_STRING_CLAIMS = ("iss", "sub", "jti")  # RFC 7519 4.1.1-4.1.2 StringOrURI, 4.1.7 string


def _read_max_token_bytes() -> int:
    return _settings.read_int(
        "ERP_JWT_MAX_TOKEN_BYTES",
        DEFAULT_MAX_TOKEN_BYTES,
        minimum=256,
        maximum=1024 * 1024,
        unit="bytes",
    )


class TokenService:
    """Issues and verifies JWTs against a key ring that may change under it.

    ``ring_loader`` returns the current ring; it is called at most once per
    ``check_interval_seconds`` on the hot path, and at most once per
    ``reload_interval_seconds`` when a token names an unknown ``kid``.
    """

    def __init__(
        self,
        ring_loader: Callable[[], KeyRing],
        *,
        algorithm: str = "HS256",
        allowed_algorithms: Iterable[str] | None = None,
        policy: RotationPolicy | None = None,
        leeway: timedelta | None = None,
        clock: Clock = system_clock,
        monotonic: Callable[[], float] = time.monotonic,
        check_interval_seconds: float = 1.0,
        reload_interval_seconds: float = 1.0,
        on_reload: Callable[[], None] | None = None,
        max_token_bytes: int | None = None,
        key_source: KeySource | None = None,
    ) -> None:
        if algorithm not in ALLOWED_ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALLOWED_ALGORITHMS}, not {algorithm!r}")
        allowed = tuple(allowed_algorithms) if allowed_algorithms is not None else (algorithm,)
        bad = [a for a in allowed if a not in ALLOWED_ALGORITHMS]
        if bad or not allowed:
            raise ValueError(f"allowed_algorithms must be HMAC algorithms {ALLOWED_ALGORITHMS}")
        self._loader = ring_loader
        self.algorithm = algorithm
        self.allowed_algorithms = list(allowed)
        self.policy = policy or RotationPolicy.from_env()
        self.leeway = self.policy.leeway if leeway is None else leeway
        self._leeway_seconds = self.leeway.total_seconds()
        self.max_token_bytes = (
            _read_max_token_bytes() if max_token_bytes is None else max_token_bytes
        )
        if self.max_token_bytes < 1:
            raise ValueError("max_token_bytes must be positive")
        self.clock = clock
        self._monotonic = monotonic
        self.check_interval_seconds = check_interval_seconds
        self.reload_interval_seconds = reload_interval_seconds
        self._on_reload = on_reload
        self._lock = threading.Lock()
        self._ring: KeyRing | None = None
        self._keys: dict[str, bytes] = {}  # shared secrets only
        self._public: dict[str, PublicKey] = {}  # key pairs, by kid
        self._key_source = key_source
        self._next_check = -float("inf")
        self._last_forced = -float("inf")
        # verify() checks the length against self.max_token_bytes (which may be changed) first
        self._compact = CompactVerifier(max_token_bytes=1 << 62)
        # (ring, kid, HMAC key, key pair or None)
        self._signing: tuple[KeyRing, str, bytes, PrivateKey | None] | None = None

    def __repr__(self) -> str:
        return f"TokenService(algorithm={self.algorithm!r}, keys={len(self._keys)})"

    # -- the ring ----------------------------------------------------------------------

    def ring(self) -> KeyRing:
        """The current ring, re-read at most once per ``check_interval_seconds``."""
        if self._ring is not None and self._monotonic() < self._next_check:
            return self._ring
        return self._load(force=False)

    def reload(self) -> KeyRing:
        """Re-read the ring now, bypassing caches."""
        return self._load(force=True)

    def _load(self, *, force: bool) -> KeyRing:
        with self._lock:
            now = self._monotonic()
            if not force and self._ring is not None and now < self._next_check:
                return self._ring
            if force and self._on_reload is not None:
                self._on_reload()
            ring = self._loader()
            if ring is not self._ring:
                self._ring = ring
                pairs = {k.id: k.private_key for k in ring.keys}
                self._keys = {k.id: k.key_bytes for k in ring.keys if pairs[k.id] is None}
                self._public = {i: p.public for i, p in pairs.items() if p is not None}
            self._next_check = now + self.check_interval_seconds
            return ring

    # -- issuing -----------------------------------------------------------------------

    def issue(
        self,
        claims: Mapping[str, Any],
        *,
        ttl: timedelta | None = None,
        now: datetime | None = None,
    ) -> str:
        """Sign ``claims`` with the active key; adds ``iat`` and ``exp`` (now + ``ttl``).

        ``ttl`` defaults to, and may not exceed, the policy's ``max_token_ttl``: pruning a
        key relies on no token outliving it.
        """
        ttl = self.policy.max_token_ttl if ttl is None else ttl
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        if ttl > self.policy.max_token_ttl:
            raise PolicyViolation(
                f"ttl {ttl} exceeds the policy's max_token_ttl {self.policy.max_token_ttl}; "
                "raise ERP_JWT_MAX_TOKEN_TTL_SECONDS first (keys are pruned by it)"
            )
        reserved = {"exp", "iat"} & set(claims)
        if reserved:
            raise ValueError(f"claims must not set {sorted(reserved)}: issue() sets them from ttl")
        moment = now or self.clock()
        ring = self.ring()
        if not ring.keys:  # a cached empty ring may have been filled since: look once more
            ring = self.reload()
        signing = self._signing
        if signing is None or signing[0] is not ring:  # ring.active scans the ring
            active = ring.active
            signing = (ring, active.id, active.key_bytes, active.private_key)
            self._signing = signing
        payload = {**claims, "iat": int(moment.timestamp()), "exp": int((moment + ttl).timestamp())}
        if signing[3] is not None:  # a key pair signs with its own algorithm, never self.algorithm
            return asymmetric.sign(payload, signing[3], kid=signing[1])
        return sign_hmac(payload, signing[2], alg=self.algorithm, kid=signing[1])

    # -- verifying ---------------------------------------------------------------------

    def _key_for(self, kid: str | None) -> bytes:
        self.ring()
        keys = self._keys
        if kid is None:
            # as PyJWKClient: a token without kid matches only a single-key ring
            if len(keys) == 1:
                return next(iter(keys.values()))
            raise UnknownKeyId(None)
        key = keys.get(kid)
        if key is not None:
            return key
        now = self._monotonic()
        if now - self._last_forced >= self.reload_interval_seconds:
            self._last_forced = now
            self.reload()
            key = self._keys.get(kid)
            if key is not None:
                return key
        raise UnknownKeyId(kid)

    def verify(
        self,
        token: str,
        *,
        audience: str | Iterable[str] | None = None,
        issuer: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """The token's claims if it is valid now; else :class:`InvalidToken` or a subclass.

        See the module docstring for what is checked, in which order.
        """
        if not isinstance(token, str):
            raise TypeError("token must be str")
        if len(token) > self.max_token_bytes:
            raise InvalidToken(
                f"token is longer than {self.max_token_bytes} bytes (ERP_JWT_MAX_TOKEN_BYTES)"
            )
        # erp.jwt.compact: format, header, alg allow-list, key by kid, MAC, payload
        if self._ring is None:  # the first token: load, so the path below fits the ring
            self.ring()
        if self._public or self._key_source is not None:
            payload = self._verify_any(token)
        else:
            try:
                _header, payload = self._compact.verify(
                    token, self._key_for, self.allowed_algorithms
                )
            except InvalidToken:
                if not self._first_pair_arrived(token):
                    raise
                payload = self._verify_any(token)
        claims = decode_claims(payload)
        self._check_times(claims, now)
        _check_audience(claims, audience)
        for name in _STRING_CLAIMS:
            if name in claims and not isinstance(claims[name], str):
                raise InvalidToken(f"token {name} claim is not a string")
        if issuer is not None and claims.get("iss") != issuer:
            raise InvalidToken("token issuer is not accepted")
        return claims

    def _first_pair_arrived(self, token: str) -> bool:
        """Whether a refused token names a key pair the cached HMAC-only ring lacked.

        Only a key-pair token (or the reload its unknown kid caused) may trigger this, with
        the same one rate-limited reload as an unknown kid: the first EdDSA token after a
        migration's promote is then verified, not refused for up to a check interval.
        """
        if self._public:
            return True  # the HMAC path's own reload (unknown kid) brought them
        try:
            alg = asymmetric.read_header(token).alg
        except InvalidToken:
            return False
        if alg not in ASYMMETRIC_ALGORITHMS:
            return False
        now = self._monotonic()
        if now - self._last_forced < self.reload_interval_seconds:
            return False
        self._last_forced = now
        self.reload()
        return bool(self._public)

    def _verify_any(self, token: str) -> bytes:
        """The payload of a token for a ring with key pairs, or for a ``key_source``."""
        header = asymmetric.read_header(token)
        key = self._public_key_for(header.kid)
        if key is None:  # a shared secret's kid (or unknown): the HMAC path decides
            return self._compact.verify(token, self._key_for, self.allowed_algorithms)[1]
        return asymmetric.verify_with(header, key)

    def _public_key_for(self, kid: str | None) -> PublicKey | None:
        if self._key_source is not None:
            return self._key_source.public_key(kid)
        self.ring()
        key = self._public.get(kid) if kid is not None else None
        if key is None and kid is not None and kid not in self._keys:
            now = self._monotonic()  # the same one rate-limited reload as _key_for
            if now - self._last_forced >= self.reload_interval_seconds:
                self._last_forced = now
                self.reload()
                key = self._public.get(kid)
        if kid is None and not self._keys and len(self._public) == 1:
            key = next(iter(self._public.values()))  # a kid-less token, a one-key ring
        return key

    def _check_times(self, claims: Mapping[str, Any], now: datetime | None) -> None:
        if now is not None:
            current = now.timestamp()
        elif self.clock is system_clock:
            current = time.time()
        else:
            current = self.clock().timestamp()
        leeway = self._leeway_seconds
        if "exp" not in claims:
            raise InvalidToken("token lacks the required 'exp' claim")
        if current >= _numeric_date(claims, "exp") + leeway:
            raise TokenExpired("token has expired")
        if "nbf" in claims and current < _numeric_date(claims, "nbf") - leeway:
            raise InvalidToken("token is not yet valid (nbf)")
        if "iat" in claims and current < _numeric_date(claims, "iat") - leeway:
            raise InvalidToken("token was issued in the future (iat)")


def _numeric_date(claims: Mapping[str, Any], name: str) -> float:
    """RFC 7519 NumericDate: a finite JSON number (not a bool, NaN, infinity or 1e400)."""
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"token {name} claim is not a number")
    try:
        moment = float(value)
    except OverflowError:  # an integer beyond float range
        raise InvalidToken(f"token {name} claim is out of range") from None
    if not math.isfinite(moment):
        raise InvalidToken(f"token {name} claim is not a finite number")
    return moment


def _check_audience(claims: Mapping[str, Any], audience: str | Iterable[str] | None) -> None:
    """PyJWT's rule: with no expected audience a token must carry none; else they intersect."""
    if "aud" not in claims:
        if audience is not None:
            raise InvalidToken("token lacks the required 'aud' claim")
        return
    if audience is None:
        raise InvalidToken("token has an audience but none is expected")
    token_aud = claims["aud"]
    if isinstance(token_aud, str):
        token_aud = [token_aud]
    if not isinstance(token_aud, list) or not all(isinstance(a, str) for a in token_aud):
        raise InvalidToken("token aud claim is not a string or list of strings")
    expected = {audience} if isinstance(audience, str) else set(audience)
    if not expected.intersection(token_aud):
        raise InvalidToken("token audience is not accepted")
