"""Tokens and field encryption on keys from ``erp.secrets``.

JWTs: :func:`issue_token` signs with the active key and puts its id in the ``kid`` header;
:func:`verify_token` picks the key by ``kid`` from every key still in the ring (staged,
active, retiring), checks the algorithm against an allow-list and requires ``exp``. An
unknown ``kid`` triggers one rate-limited reload of the ring, then :class:`UnknownKeyId`.
A service that only verifies passes ``keys=RemoteKeySet(url)`` (another service's published
JWK Set) instead; :func:`jwks` is the JWK Set this ring publishes (its public keys only).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

from erp.jwt import tokens as _tokens
from erp.jwt.keyring import KeyRing
from erp.jwt.tokens import ALLOWED_ALGORITHMS, DEFAULT_MAX_TOKEN_BYTES, KeySource
from erp.secrets import SecretResolver, default_resolver, load_jwt_ring

__all__ = [
    "ALLOWED_ALGORITHMS",
    "DEFAULT_MAX_TOKEN_BYTES",
    "TokenService",
    "default_token_service",
    "issue_token",
    "jwks",
    "verify_token",
]


class TokenService(_tokens.TokenService):
    """:class:`erp.jwt.tokens.TokenService` whose ring defaults to ``get_secret``'s sources.

    Without ``ring_loader`` the ring is ``JWT_SECRETS``/``JWT_SECRET_ID`` as
    :func:`erp.secrets.load_jwt_ring` resolves them (environment, vault file, AWS).
    """

    def __init__(self, ring_loader: Callable[[], KeyRing] | None = None, **options: Any) -> None:
        super().__init__(ring_loader or (lambda: load_jwt_ring(default_resolver())), **options)


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
    keys: KeySource | None = None,
) -> dict[str, Any]:
    """Verify ``token`` against every key of the configured ring; return its claims.

    With ``keys`` (an :class:`erp.jwt.remote.RemoteKeySet`), against those keys instead:
    each key verifies only the algorithm it was published for.
    """
    service = default_token_service() if keys is None else _service_for(keys)
    return service.verify(token, audience=audience, issuer=issuer)


_EMPTY_RING = KeyRing()
_remote_services: weakref.WeakKeyDictionary[Any, _tokens.TokenService] = weakref.WeakKeyDictionary()


def _service_for(keys: KeySource) -> _tokens.TokenService:
    service = _remote_services.get(keys)
    if service is None:
        with _service_lock:
            service = _remote_services.get(keys)
            if service is None:
                service = _tokens.TokenService(lambda: _EMPTY_RING, key_source=keys)
                _remote_services[keys] = service
    return service


def jwks() -> dict[str, list[dict[str, str]]]:
    """The public JWK Set of every key pair in the configured ring (staged, active, retiring).

    HMAC keys are never in it; no member of it is private. Serve it with
    :func:`erp.jwt.jwks.wsgi_app`/:func:`~erp.jwt.jwks.asgi_app` or ``erp-secrets jwt jwks``.
    """
    from erp.jwt.jwks import jwk_set

    return jwk_set(default_token_service().ring())


# -- Fernet field encryption ---------------------------------------------------------------
# Keys: FERNET_KEY encrypts; FERNET_FALLBACK_KEYS (comma-separated, newest first) only decrypt.
# The implementation lives in erp.fernet, imported on first use. A ttl is a timedelta or whole
# seconds (as in pyca's Fernet); a moment is epoch seconds or an aware datetime.

import typing  # noqa: E402 - kept with the Fernet section it serves

if typing.TYPE_CHECKING:
    from erp.fernet.keys import TimeLike

__all__ += ["decrypt", "decrypt_at_time", "decrypt_bytes", "decrypt_bytes_at_time", "encrypt"]


def encrypt(value: str | bytes) -> str:
    """Encrypt ``value`` under ``FERNET_KEY`` (resolved by ``get_secret``); a text token."""
    from erp.fernet.field import encrypt as _encrypt

    return _encrypt(value)


def decrypt(token: str | bytes, *, ttl: timedelta | int | None = None) -> str:
    """The text inside ``token``, trying ``FERNET_KEY`` then ``FERNET_FALLBACK_KEYS``.

    Without ``ttl`` the token's age is not checked. Raises :class:`erp.fernet.NoKeyOpens`
    (an :class:`erp.errors.InvalidToken`) when no key opens it, ``FernetTokenExpired`` /
    ``TimestampInFuture`` when a ``ttl`` is given and the token is too old / stamped too far
    ahead, and :class:`erp.fernet.NotText` when the plaintext is not UTF-8 (use
    :func:`decrypt_bytes`).
    """
    from erp.fernet.field import decrypt as _decrypt

    return _decrypt(token, ttl=ttl)


def decrypt_at_time(token: str | bytes, *, ttl: timedelta | int, current_time: TimeLike) -> str:
    """:func:`decrypt` judged at ``current_time`` instead of the system clock."""
    from erp.fernet.field import decrypt_at_time as _decrypt_at_time

    return _decrypt_at_time(token, ttl=ttl, current_time=current_time)


def decrypt_bytes(token: str | bytes, *, ttl: timedelta | int | None = None) -> bytes:
    """Like :func:`decrypt`, for values that were encrypted from bytes."""
    from erp.fernet.field import decrypt_bytes as _decrypt_bytes

    return _decrypt_bytes(token, ttl=ttl)


def decrypt_bytes_at_time(
    token: str | bytes, *, ttl: timedelta | int, current_time: TimeLike
) -> bytes:
    """:func:`decrypt_bytes` judged at ``current_time`` instead of the system clock."""
    from erp.fernet.field import decrypt_bytes_at_time as _decrypt_bytes_at_time

    return _decrypt_bytes_at_time(token, ttl=ttl, current_time=current_time)
