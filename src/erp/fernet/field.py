"""Field encryption on the configured ring: ``encrypt``/``decrypt`` for application code.

The ring is re-resolved on every call (a dict look-up or two, see :mod:`erp.secrets`) and
rebuilt only when the key text changed, so a rotation written to the vault is picked up
within the vault reader's check interval (one second) without a restart.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from erp.fernet.keys import (
    FALLBACK_NAME,
    PRIMARY_NAME,
    FernetKeyRing,
    TimeLike,
    load_fernet_ring,
    resolve_key_text,
)
from erp.secrets import SecretResolver, default_resolver

__all__ = [
    "current_ring",
    "decrypt",
    "decrypt_at_time",
    "decrypt_bytes",
    "decrypt_bytes_at_time",
    "encrypt",
]

Ttl = timedelta | int | None
"""A maximum token age: a ``timedelta``, whole seconds (as in pyca's ``Fernet``), or none."""

_lock = threading.Lock()
_cache: tuple[tuple[object, str | None, str | None], FernetKeyRing] | None = None


def current_ring(resolver: SecretResolver | None = None) -> FernetKeyRing:
    """The ring from ``FERNET_KEY``/``FERNET_FALLBACK_KEYS``, cached while they are unchanged."""
    global _cache
    resolver = resolver or default_resolver()
    primary = resolve_key_text(PRIMARY_NAME, resolver)
    fallbacks = resolve_key_text(FALLBACK_NAME, resolver)
    key = (
        resolver,
        primary[0] if primary else None,
        fallbacks[0] if fallbacks else None,
    )
    cached = _cache
    if cached is not None and cached[0] == key:
        return cached[1]
    ring = load_fernet_ring(resolver)
    with _lock:
        _cache = (key, ring)
    return ring


def encrypt(value: str | bytes) -> str:
    """Encrypt ``value`` under the primary key (``FERNET_KEY``); returns the token as text."""
    return current_ring().encrypt(value)


def decrypt(token: str | bytes, *, ttl: Ttl = None) -> str:
    """The text inside ``token``; every configured key is tried (primary first).

    Without ``ttl`` the token's age is not checked (stored values do not expire). With it,
    a token older than ``ttl`` raises :class:`~erp.fernet.errors.FernetTokenExpired` and
    one stamped more than 60 s in the future :class:`~erp.fernet.errors.TimestampInFuture`.
    A token no key opens raises :class:`~erp.fernet.errors.NoKeyOpens`; a plaintext that is
    not UTF-8 :class:`~erp.fernet.errors.NotText` (use :func:`decrypt_bytes`). All are
    :class:`erp.errors.InputError`.
    """
    return current_ring().decrypt(token, ttl=ttl)


def decrypt_at_time(token: str | bytes, *, ttl: timedelta | int, current_time: TimeLike) -> str:
    """:func:`decrypt` with the clock as a parameter (epoch seconds or an aware datetime)."""
    return current_ring().decrypt_at_time(token, ttl=ttl, current_time=current_time)


def decrypt_bytes(token: str | bytes, *, ttl: Ttl = None) -> bytes:
    """Like :func:`decrypt`, returning bytes (for values encrypted from bytes)."""
    return current_ring().decrypt_bytes(token, ttl=ttl)


def decrypt_bytes_at_time(
    token: str | bytes, *, ttl: timedelta | int, current_time: TimeLike
) -> bytes:
    """:func:`decrypt_bytes` with the clock as a parameter."""
    return current_ring().decrypt_bytes_at_time(token, ttl=ttl, current_time=current_time)
