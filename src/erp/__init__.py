"""erp: secrets and key rotation for the ERP platform.

The public API is re-exported here lazily, so ``import erp`` stays cheap:
``erp.get_secret``, ``erp.issue_token``, ``erp.verify_token``, ``erp.KeyRing`` ...
"""

from __future__ import annotations

from erp._lazy import lazy_exports

TYPE_CHECKING = False  # typing is not imported at run time: ``import erp`` must stay cheap

__version__ = "0.1.0"

_EXPORTS = {
    "get_secret": "erp.secrets",
    "load_jwt_ring": "erp.secrets",
    "SecretResolver": "erp.secrets",
    "issue_token": "erp.security",
    "verify_token": "erp.security",
    "TokenService": "erp.security",
    "Key": "erp.jwt.keyring",
    "KeyRing": "erp.jwt.keyring",
    "KeyState": "erp.jwt.keyring",
    "RotationPolicy": "erp.jwt.keyring",
    "ErpError": "erp.errors",
    "ConfigError": "erp.errors",
    "InputError": "erp.errors",
    "InvalidToken": "erp.errors",
    "TokenExpired": "erp.errors",
    "UnknownKeyId": "erp.errors",
    "SecretNotFound": "erp.errors",
}

__all__ = [
    "ConfigError",
    "ErpError",
    "InputError",
    "InvalidToken",
    "Key",
    "KeyRing",
    "KeyState",
    "RotationPolicy",
    "SecretNotFound",
    "SecretResolver",
    "TokenExpired",
    "TokenService",
    "UnknownKeyId",
    "get_secret",
    "issue_token",
    "load_jwt_ring",
    "verify_token",
]

if TYPE_CHECKING:
    from erp.errors import (
        ConfigError,
        ErpError,
        InputError,
        InvalidToken,
        SecretNotFound,
        TokenExpired,
        UnknownKeyId,
    )
    from erp.jwt.keyring import Key, KeyRing, KeyState, RotationPolicy
    from erp.secrets import SecretResolver, get_secret, load_jwt_ring
    from erp.security import TokenService, issue_token, verify_token


__getattr__ = lazy_exports(__name__, _EXPORTS)
