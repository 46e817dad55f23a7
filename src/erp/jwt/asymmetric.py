"""Compact JWS with key pairs (EdDSA, ES256, RS256): the sign and verify steps of tokens.

The key decides the algorithm. :func:`verify` looks the key up by the header's ``kid`` and
refuses the token unless its ``alg`` is exactly the key's own (RFC 8725 section 3.1), so
an HS256 token MACed with a published public key, an ES256 header on an Ed25519 key and
``none`` are all "token algorithm is not allowed". Parsing is bounded as in
:mod:`erp.jwt.compact`: three canonical base64url segments, a header of at most
:data:`~erp.jwt.compact.MAX_HEADER_SEGMENT_BYTES` nested at most
:data:`~erp.jwt.compact.MAX_HEADER_DEPTH` deep, ``crit`` and ``b64`` refused, and nothing
but the header read before the signature holds. ``jku``, ``x5u``, ``jwk`` and ``x5c`` are
never read. Claims are the caller's (:class:`~erp.jwt.tokens.TokenService`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple

from erp.errors import InvalidToken
from erp.jwt.compact import b64url_decode, b64url_encode, header_fields
from erp.jwt.keys import PrivateKey, PublicKey

__all__ = ["Header", "read_header", "sign", "verify", "verify_with"]

# PyJWT's separators and ASCII escaping, so both write the same bytes for the same claims
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_HEADER_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), sort_keys=True)


class Header(NamedTuple):
    """The parsed protected header of a token and the segments it came with."""

    fields: Mapping[str, Any]
    alg: str
    kid: str | None
    signing_input: bytes
    payload_segment: bytes
    signature_segment: bytes


def read_header(token: str | bytes) -> Header:
    """The header of an unverified compact ``token`` (bounded parse); :class:`InvalidToken`."""
    if isinstance(token, str):
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            raise InvalidToken("not a JWT: it contains non-ASCII characters") from None
    else:
        raw = token
    try:
        head, payload, signature = raw.split(b".")
    except ValueError:
        raise InvalidToken("not a JWT: expected three dot-separated segments") from None
    fields = header_fields(head)  # the HMAC path's rules, word for word
    alg, kid = fields.get("alg"), fields.get("kid")
    if not isinstance(alg, str):
        raise InvalidToken("token algorithm is not allowed")
    return Header(fields, alg, kid, head + b"." + payload, payload, signature)


def verify_with(header: Header, key: PublicKey) -> bytes:
    """The payload bytes if ``header``'s token is signed by ``key`` with ``key.alg``."""
    if header.alg != key.alg:
        raise InvalidToken("token algorithm is not allowed")
    try:
        signature = b64url_decode(header.signature_segment)
        payload = b64url_decode(header.payload_segment)
    except ValueError:
        raise InvalidToken("token signature does not verify") from None
    if not key.verify(signature, header.signing_input):
        raise InvalidToken("token signature does not verify")
    return payload


def verify(token: str | bytes, key_for: Callable[[str | None], PublicKey]) -> tuple[Header, bytes]:
    """``(header, payload)`` of ``token`` if signed by ``key_for(kid)`` with its own alg."""
    header = read_header(token)
    return header, verify_with(header, key_for(header.kid))


def sign(claims: Mapping[str, Any], key: PrivateKey, *, kid: str | None = None) -> str:
    """A compact JWS of ``claims`` signed by ``key`` with its algorithm (PyJWT's bytes)."""
    fields = {"alg": key.alg, "typ": "JWT"}
    if kid is not None:
        fields["kid"] = kid
    head = b64url_encode(_HEADER_ENCODER.encode(fields).encode("ascii"))
    body = claims if isinstance(claims, dict) else dict(claims)
    payload = b64url_encode(_ENCODER.encode(body).encode("ascii"))
    signing_input = head + b"." + payload
    return (signing_input + b"." + b64url_encode(key.sign(signing_input))).decode("ascii")
