"""Fernet field encryption: the key ring, ``encrypt``/``decrypt``, and a SQLAlchemy type.

Keys (stated once, see :mod:`erp.fernet.keys`): ``FERNET_KEY`` is the one key that
encrypts; ``FERNET_FALLBACK_KEYS`` lists older, decrypt-only keys, comma-separated, newest
first. ``EncryptedType`` and ``encrypted_columns`` load SQLAlchemy on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from erp.fernet.field import current_ring, decrypt, decrypt_bytes, encrypt
from erp.fernet.keys import (
    FALLBACK_NAME,
    PRIMARY_NAME,
    FernetKey,
    FernetKeyError,
    FernetKeyRing,
    NoKeyOpens,
    Rotator,
    generate_key,
    key_fingerprint,
    load_fernet_ring,
    parse_key,
)

if TYPE_CHECKING:
    from erp.fernet.column import EncryptedColumn, EncryptedType, encrypted_columns

__all__ = [
    "FALLBACK_NAME",
    "PRIMARY_NAME",
    "EncryptedColumn",
    "EncryptedType",
    "FernetKey",
    "FernetKeyError",
    "FernetKeyRing",
    "NoKeyOpens",
    "Rotator",
    "current_ring",
    "decrypt",
    "decrypt_bytes",
    "encrypt",
    "encrypted_columns",
    "generate_key",
    "key_fingerprint",
    "load_fernet_ring",
    "parse_key",
]

_LAZY = {"EncryptedColumn", "EncryptedType", "encrypted_columns"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'erp.fernet' has no attribute {name!r}")
    value = getattr(importlib.import_module("erp.fernet.column"), name)
    globals()[name] = value
    return value
