"""Old import path of :mod:`erp.store.vault`, kept so existing imports keep working."""

from __future__ import annotations

import erp.jwt.codec  # noqa: F401  (registers the ring's shape check, as this module did)
from erp.store.vault import (
    DEFAULT_VAULT_FILE,
    META_KEY,
    VaultFile,
    VaultReader,
    default_vault_path,
)

__all__ = ["DEFAULT_VAULT_FILE", "META_KEY", "VaultFile", "VaultReader", "default_vault_path"]
