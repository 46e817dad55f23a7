"""The one key fingerprint of ``erp``: identifies a secret in logs and output, never reveals it.

``sha256:`` and the first 16 hex digits (64 bits) of the SHA-256 of the key's bytes: enough to
tell keys apart and to match a log line to a key, far too little to test guesses against
(the secret itself has at least 256 bits). Text is fingerprinted as its UTF-8 bytes, so a
text secret and the same bytes in binary form have the same fingerprint.
"""

from __future__ import annotations

__all__ = ["fingerprint", "sha256"]

# SHA-256 for fingerprints and the rotation log's hash chain. CPython's built-in SHA-256
# gives the same digests as hashlib's OpenSSL one without loading libcrypto, the largest
# single cost of the rotation script's start-up; our inputs are a few hundred bytes, where
# OpenSSL's speed per byte does not matter. hashlib is the fallback on other builds.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from hashlib import sha256
else:
    try:
        from _sha2 import sha256  # CPython 3.12+
    except ImportError:  # pragma: no cover - depends on the Python version
        try:
            from _sha256 import sha256  # CPython 3.11
        except ImportError:
            from hashlib import sha256


def fingerprint(secret: str | bytes) -> str:
    """``sha256:`` and 16 hex digits of the secret's SHA-256, e.g. ``sha256:6f9d31ea1467d796``."""
    data = secret.encode() if isinstance(secret, str) else bytes(secret)
    return "sha256:" + sha256(data).hexdigest()[:16]
