"""The one fingerprint and SHA-256 of erp: the same digests as hashlib, on every input."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from erp.fingerprint import fingerprint, sha256


@given(st.binary(max_size=4096))
def test_sha256_is_hashlibs(data: bytes) -> None:
    """erp's SHA-256 (CPython's built-in one) gives hashlib's digest for any bytes."""
    assert sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()


@given(st.text(max_size=200))
def test_fingerprint_is_the_first_16_hex_digits_of_the_utf8_sha256(text: str) -> None:
    """A text and its UTF-8 bytes share one fingerprint: sha256: and 16 hex digits."""
    expected = "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]
    assert fingerprint(text) == expected
    assert fingerprint(text.encode()) == expected
