"""Tokens and field encryption on keys from ``erp.secrets``.

JWTs: :func:`issue_token` signs with the active key and puts its id in the ``kid`` header;
:func:`verify_token` picks the key by ``kid`` from every key still in the ring (staged,
active, retiring), checks the algorithm against an allow-list and requires ``exp``. An
unknown ``kid`` triggers one rate-limited reload of the ring, then :class:`UnknownKeyId`.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import jwt

from erp.clock import Clock, system_clock
from erp.errors import InvalidToken, PolicyViolation, TokenExpired, UnknownKeyId
from erp.keyring import KeyRing, RotationPolicy
from erp.secrets import SecretResolver, default_resolver, load_jwt_ring

__all__ = [
    "ALLOWED_ALGORITHMS",
    "TokenService",
    "default_token_service",
    "issue_token",
    "verify_token",
]

ALLOWED_ALGORITHMS = ("HS256", "HS384", "HS512")
"""HMAC only: the ring holds shared secrets, so public-key algorithms can never apply."""

_KID_CACHE_MAX = 256


class TokenService:
    """Issues and verifies JWTs against a key ring that may change under it.

    ``ring_loader`` returns the current ring; it is called at most once per
    ``check_interval_seconds`` on the hot path, and at most once per
    ``reload_interval_seconds`` when a token names an unknown ``kid``.
    """

    def __init__(
        self,
        ring_loader: Callable[[], KeyRing] | None = None,
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
    ) -> None:
        if algorithm not in ALLOWED_ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALLOWED_ALGORITHMS}, not {algorithm!r}")
        allowed = tuple(allowed_algorithms) if allowed_algorithms is not None else (algorithm,)
        bad = [a for a in allowed if a not in ALLOWED_ALGORITHMS]
        if bad or not allowed:
            raise ValueError(f"allowed_algorithms must be HMAC algorithms {ALLOWED_ALGORITHMS}")
        self._loader = ring_loader or (lambda: load_jwt_ring(default_resolver()))
        self.algorithm = algorithm
        self.allowed_algorithms = list(allowed)
        self.policy = policy or RotationPolicy.from_env()
        self.leeway = self.policy.leeway if leeway is None else leeway
        self._leeway_seconds = self.leeway.total_seconds()
        self.clock = clock
        self._monotonic = monotonic
        self.check_interval_seconds = check_interval_seconds
        self.reload_interval_seconds = reload_interval_seconds
        self._on_reload = on_reload
        self._lock = threading.Lock()
        self._ring: KeyRing | None = None
        self._keys: dict[str, bytes] = {}
        self._next_check = -float("inf")
        self._last_forced = -float("inf")
        self._kids: dict[str, str | None] = {}
        self._jws = jwt.PyJWS()

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
                self._keys = {k: s.encode() for k, s in ring.verification_keys().items()}
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
        key = ring.active
        payload = {**claims, "iat": int(moment.timestamp()), "exp": int((moment + ttl).timestamp())}
        return jwt.encode(
            payload, key.secret.encode(), algorithm=self.algorithm, headers={"kid": key.id}
        )

    # -- verifying ---------------------------------------------------------------------

    def _kid(self, token: str) -> str | None:
        header, dot, _rest = token.partition(".")
        cached = self._kids.get(header, "")
        if cached != "":
            return cached
        if not dot:
            raise InvalidToken("not a JWT: expected three dot-separated segments")
        try:
            raw = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
            parsed = json.loads(raw)
        except (ValueError, binascii.Error):
            raise InvalidToken("token header is not base64url-encoded JSON") from None
        if not isinstance(parsed, dict):
            raise InvalidToken("token header is not a JSON object")
        kid = parsed.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("token kid header must be a string")
        if len(self._kids) >= _KID_CACHE_MAX:
            self._kids.clear()
        self._kids[header] = kid
        return kid

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

        Checked: format, ``alg`` in the allow-list, signature under the key named by ``kid``,
        ``exp`` (required), ``nbf`` and ``iat`` with the leeway, ``aud`` and ``iss`` as PyJWT
        checks them.
        """
        if not isinstance(token, str):
            raise TypeError("token must be str")
        key = self._key_for(self._kid(token))
        try:
            # PyJWS checks format, algorithm allow-list and signature; the claims layer
            # below is ours because PyJWT's cannot take an injected clock.
            payload = self._jws.decode_complete(token, key, algorithms=self.allowed_algorithms)[
                "payload"
            ]
        except jwt.InvalidAlgorithmError:
            raise InvalidToken("token algorithm is not allowed") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("token signature does not verify") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"token rejected: {type(exc).__name__}") from None
        try:
            claims = json.loads(payload)
        except ValueError:
            raise InvalidToken("token payload is not JSON") from None
        if not isinstance(claims, dict):
            raise InvalidToken("token payload is not a JSON object")
        self._check_times(claims, now)
        _check_audience(claims, audience)
        if issuer is not None and claims.get("iss") != issuer:
            raise InvalidToken("token issuer is not accepted")
        return claims

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
        exp = claims["exp"]
        if not _is_number(exp):
            raise InvalidToken("token exp claim is not a number")
        if current > exp + leeway:
            raise TokenExpired("token has expired")
        nbf = claims.get("nbf")
        if nbf is not None:
            if not _is_number(nbf):
                raise InvalidToken("token nbf claim is not a number")
            if current < nbf - leeway:
                raise InvalidToken("token is not yet valid (nbf)")
        iat = claims.get("iat")
        if iat is not None:
            if not _is_number(iat):
                raise InvalidToken("token iat claim is not a number")
            if current < iat - leeway:
                raise InvalidToken("token was issued in the future (iat)")


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


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_service_lock = threading.Lock()
_service: tuple[SecretResolver, TokenService] | None = None


def default_token_service() -> TokenService:
    """The process-wide service over :func:`erp.secrets.default_resolver`."""
    global _service
    resolver = default_resolver()
    current = _service
    if current is not None and current[0] is resolver:
        return current[1]
    with _service_lock:
        if _service is None or _service[0] is not resolver:
            _service = (
                resolver,
                TokenService(lambda: load_jwt_ring(resolver), on_reload=resolver.refresh),
            )
        return _service[1]


def issue_token(claims: Mapping[str, Any], *, ttl: timedelta | None = None) -> str:
    """Sign ``claims`` with the active key of the configured ring (see :class:`TokenService`)."""
    return default_token_service().issue(claims, ttl=ttl)


def verify_token(
    token: str,
    *,
    audience: str | Iterable[str] | None = None,
    issuer: str | None = None,
) -> dict[str, Any]:
    """Verify ``token`` against every key of the configured ring; return its claims."""
    return default_token_service().verify(token, audience=audience, issuer=issuer)


# -- Fernet field encryption ---------------------------------------------------------------
# Keys: FERNET_KEY encrypts; FERNET_FALLBACK_KEYS (comma-separated, newest first) only decrypt.
# The implementation lives in erp.fernet, imported on first use.

__all__ += ["decrypt", "decrypt_bytes", "encrypt"]


def encrypt(value: str | bytes) -> str:
    """Encrypt ``value`` under ``FERNET_KEY`` (resolved by ``get_secret``); a text token."""
    from erp.fernet.field import encrypt as _encrypt

    return _encrypt(value)


def decrypt(token: str | bytes) -> str:
    """The text inside ``token``, trying ``FERNET_KEY`` then ``FERNET_FALLBACK_KEYS``.

    Raises :class:`erp.fernet.NoKeyOpens` (an :class:`erp.errors.InvalidToken`).
    """
    from erp.fernet.field import decrypt as _decrypt

    return _decrypt(token)


def decrypt_bytes(token: str | bytes) -> bytes:
    """Like :func:`decrypt`, for values that were encrypted from bytes."""
    from erp.fernet.field import decrypt_bytes as _decrypt_bytes

    return _decrypt_bytes(token)
