"""The one key fingerprint of ``erp``: identifies a secret in logs and output, never reveals it.

``sha256:`` and the first 16 hex digits (64 bits) of the SHA-256 of the key's bytes: enough to
tell keys apart and to match a log line to a key, far too little to test guesses against
(the secret itself has at least 256 bits). Text is fingerprinted as its UTF-8 bytes, so a
text secret and the same bytes in binary form have the same fingerprint.
"""

from __future__ import annotations

import hashlib

__all__ = ["fingerprint"]


def fingerprint(secret: str | bytes) -> str:
    """``sha256:`` and 16 hex digits of the secret's SHA-256, e.g. ``sha256:6f9d31ea1467d796``."""
    data = secret.encode() if isinstance(secret, str) else bytes(secret)
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]
