"""Fernet field encryption: the key ring, ``encrypt``/``decrypt``, and a SQLAlchemy type.

Keys (stated once, see :mod:`erp.fernet.keys`): ``FERNET_KEY`` is the one key that
encrypts; ``FERNET_FALLBACK_KEYS`` lists older, decrypt-only keys, comma-separated, newest
first. The package's exceptions are in :mod:`erp.fernet.errors`; the key ring's pure
transitions in :mod:`erp.fernet.lifecycle`, applied to the vault by
:mod:`erp.fernet.rotation`; re-encryption of stored data in :mod:`erp.fernet.reencrypt`.
``EncryptedType`` and ``encrypted_columns`` load SQLAlchemy on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from erp._lazy import lazy_exports
from erp.fernet.errors import (
    FernetKeyError,
    FernetTokenExpired,
    NoKeyOpens,
    NotText,
    TimestampInFuture,
)
from erp.fernet.field import (
    current_ring,
    decrypt,
    decrypt_at_time,
    decrypt_bytes,
    decrypt_bytes_at_time,
    encrypt,
)
from erp.fernet.keys import (
    FALLBACK_NAME,
    MAX_CLOCK_SKEW_SECONDS,
    PRIMARY_NAME,
    FernetKeyRing,
    FernetRingKey,
    generate_key,
    key_fingerprint,
    load_fernet_ring,
    parse_key,
)

if TYPE_CHECKING:
    from erp.fernet.column import EncryptedColumn, EncryptedType, encrypted_columns
    from erp.fernet.rotator import Rotator

__all__ = [
    "FALLBACK_NAME",
    "MAX_CLOCK_SKEW_SECONDS",
    "PRIMARY_NAME",
    "EncryptedColumn",
    "EncryptedType",
    "FernetKeyError",
    "FernetKeyRing",
    "FernetRingKey",
    "FernetTokenExpired",
    "NoKeyOpens",
    "NotText",
    "Rotator",
    "TimestampInFuture",
    "current_ring",
    "decrypt",
    "decrypt_at_time",
    "decrypt_bytes",
    "decrypt_bytes_at_time",
    "encrypt",
    "encrypted_columns",
    "generate_key",
    "key_fingerprint",
    "load_fernet_ring",
    "parse_key",
]

_LAZY = {
    "EncryptedColumn": "erp.fernet.column",
    "EncryptedType": "erp.fernet.column",
    "encrypted_columns": "erp.fernet.column",
    "Rotator": "erp.fernet.rotator",
}


__getattr__ = lazy_exports(__name__, _LAZY)
