"""Field encryption on the configured ring: ``encrypt``/``decrypt`` for application code.

The ring is re-resolved on every call (a dict look-up or two, see :mod:`erp.secrets`) and
rebuilt only when the key text changed, so a rotation written to the vault is picked up
within the vault reader's check interval (one second) without a restart.
"""

from __future__ import annotations

import threading

from erp.fernet.keys import (
    FALLBACK_NAME,
    PRIMARY_NAME,
    FernetKeyRing,
    load_fernet_ring,
    resolve_key_text,
)
from erp.secrets import SecretResolver, default_resolver

__all__ = ["current_ring", "decrypt", "decrypt_bytes", "encrypt"]

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


def decrypt(token: str | bytes) -> str:
    """The text inside ``token``; every configured key is tried (primary first).

    Raises :class:`~erp.fernet.keys.NoKeyOpens` (an :class:`erp.errors.InvalidToken`).
    """
    return current_ring().decrypt(token)


def decrypt_bytes(token: str | bytes) -> bytes:
    """Like :func:`decrypt`, returning bytes (for values encrypted from bytes)."""
    return current_ring().decrypt_bytes(token)
