"""Compact JWS with HMAC (HS256/384/512): the strict, lean verify and sign path for tokens.

Guarantees, each pinned by ``tests/jwt``:

* a token is exactly three segments of unpadded base64url (RFC 7515 section 2), canonical:
  no ``=``, no whitespace, no ``+``/``/``, no spare bits set in the last character, so each
  token has one spelling only; at most ``max_token_bytes`` long, checked before any work;
* the protected header is a JSON object of at most :data:`MAX_HEADER_SEGMENT_BYTES`, nested
  at most :data:`MAX_HEADER_DEPTH` deep (checked before it is parsed), with unique member
  names, whose ``alg`` the caller allows (the caller's key fixes the algorithm: the header
  only names it, never chooses it); ``crit`` and ``b64`` are refused (no extension is
  understood here, RFC 7515 section 4.1.11);
* the header is the only thing parsed before the signature holds; the MAC is compared in
  constant time as its canonical base64url text, which also proves the signature segment
  canonical; the payload is decoded only after that;
* parsed headers are cached per distinct header segment, and only once a token carrying that
  header verified, so unsigned input can never fill the cache; the cache is bounded in
  entries and in bytes.

Claims (``exp``, ``nbf``, ``aud``, ...) are not checked here: :func:`decode_claims` turns a
verified payload into a dict, and the token service checks the claims.
"""

from __future__ import annotations

import binascii
import hmac
import json
import math
import threading
from collections.abc import Callable, Collection, Mapping
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from erp._json import nesting_depth
from erp.errors import InvalidToken, UnknownKeyId

__all__ = [
    "DEFAULT_MAX_TOKEN_BYTES",
    "HMAC_DIGESTS",
    "MAX_HEADER_DEPTH",
    "MAX_HEADER_SEGMENT_BYTES",
    "CompactVerifier",
    "b64url_decode",
    "b64url_encode",
    "decode_claims",
    "sign_hmac",
    "verify_hmac",
]

HMAC_DIGESTS: Final[Mapping[str, str]] = MappingProxyType(
    {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}
)
"""JWS ``alg`` -> the hashlib name ``hmac.digest`` takes (RFC 7518 section 3.2)."""

DEFAULT_MAX_TOKEN_BYTES: Final = 16 * 1024
"""Far above any token ``erp`` issues (about 300 bytes) and the 8 KiB many HTTP servers cap
a header at; a longer token is refused before it is split or decoded."""

MAX_HEADER_SEGMENT_BYTES: Final = 8 * 1024
"""The encoded header's cap (6 KiB of JSON), whatever the token cap: erp's own headers take
about 80 characters, and this bounds the work done before the signature is checked."""

MAX_HEADER_DEPTH: Final = 4
MAX_CLAIMS_DEPTH: Final = 32  # docs/security.md: claims nested at most 32 levels
"""A JOSE header is flat; an embedded ``jwk`` object or an ``x5c`` list adds one level."""

_CACHE_ENTRIES: Final = 256
_CACHE_BYTES: Final = 64 * 1024
_ENTRY_OVERHEAD_BYTES: Final = 512  # a parsed header's dict and strings, roughly, beyond its text

# Decoding maps the URL-safe alphabet onto the standard one and every character that the
# standard decoder would accept but base64url forbids ('+', '/', '=') onto '!', which strict
# mode refuses: one C pass checks the whole alphabet.
_DECODE_TABLE: Final = bytes.maketrans(b"-_+/=", b"+/!!!")
_ENCODE_TABLE: Final = bytes.maketrans(b"+/", b"-_")
_PADDING: Final = (b"", b"", b"==", b"=")
# With 2 (3) characters in the last quantum, the last one carries 4 (2) spare bits that a
# canonical encoder leaves at zero: only these characters end a canonical segment.
_CANONICAL_LAST: Final[tuple[frozenset[int], ...]] = (
    frozenset(),
    frozenset(),
    frozenset(b"AQgw"),
    frozenset(b"AEIMQUYcgkosw048"),
)


def b64url_encode(data: bytes) -> bytes:
    """Unpadded base64url (RFC 7515 section 2) of ``data``."""
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_ENCODE_TABLE)


def b64url_decode(segment: bytes) -> bytes:
    """The bytes of a canonical unpadded base64url ``segment``; ``ValueError`` otherwise."""
    rest = len(segment) & 3
    if rest == 1 or (rest and segment[-1] not in _CANONICAL_LAST[rest]):
        raise ValueError("not canonical unpadded base64url")
    try:
        return binascii.a2b_base64(
            segment.translate(_DECODE_TABLE) + _PADDING[rest], strict_mode=True
        )
    except binascii.Error:
        raise ValueError("not canonical unpadded base64url") from None


class _DuplicateName(ValueError):
    pass


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 7515 section 4: parsers must reject duplicate header names or take the last one.
    # Rejecting means two verifiers can never read different algs or kids from one header.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateName("duplicate member name")
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # RFC 8259 section 6: no NaN or Infinity


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400: valid grammar, but no IEEE double holds it
        raise ValueError("number out of range")
    return value


_HEADER_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_unique_object, parse_constant=_refuse_constant, parse_float=_finite_float
)
# 1e400 parses (as inf) in claims: the claims check names the claim it is in, and a peer
# reads it the same way elsewhere in a payload
_PAYLOAD_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant)
# PyJWT's separators and ASCII escaping, so both write the same bytes for the same claims.
_PAYLOAD_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


class _Header(NamedTuple):
    fields: Mapping[str, Any]
    alg: str
    kid: str | None
    digest: str


def _parse_header(segment: bytes) -> _Header:
    fields = header_fields(segment)
    alg = fields.get("alg")
    digest = HMAC_DIGESTS.get(alg) if isinstance(alg, str) else None
    if alg is None or digest is None:
        raise InvalidToken("token algorithm is not allowed")
    return _Header(MappingProxyType(fields), alg, fields.get("kid"), digest)


def header_fields(segment: bytes) -> dict[str, Any]:
    """The JOSE header of a compact token's first ``segment``, read by the rules of both
    verify paths (HMAC and key pairs): bounded size and depth, no repeated member, no
    non-finite number, ``kid`` a string when present (null too is refused), no ``crit`` or
    ``b64``. The caller checks ``alg`` against what it allows. :class:`InvalidToken`.
    """
    if len(segment) > MAX_HEADER_SEGMENT_BYTES:
        # name the likelier attack when its start shows it; the scan is bounded by the cap
        try:
            start = b64url_decode(segment[: MAX_HEADER_SEGMENT_BYTES & ~3])
        except ValueError:
            start = b""
        if nesting_depth(start, MAX_HEADER_DEPTH) > MAX_HEADER_DEPTH:
            raise InvalidToken(
                f"token header is not a JSON object nested at most {MAX_HEADER_DEPTH} deep"
            )
        raise InvalidToken(f"token header is longer than {MAX_HEADER_SEGMENT_BYTES} bytes")
    try:
        text = b64url_decode(segment)
    except ValueError:
        raise InvalidToken("token header is not base64url-encoded JSON") from None
    if nesting_depth(text, MAX_HEADER_DEPTH) > MAX_HEADER_DEPTH:
        raise InvalidToken(
            f"token header is not a JSON object nested at most {MAX_HEADER_DEPTH} deep"
        )
    try:
        fields = _HEADER_DECODER.decode(text.decode("utf-8"))
    except _DuplicateName:
        raise InvalidToken("token header repeats a member name") from None
    except (ValueError, RecursionError):
        raise InvalidToken("token header is not base64url-encoded JSON") from None
    if not isinstance(fields, dict):
        raise InvalidToken("token header is not a JSON object")
    if "kid" in fields and not isinstance(fields["kid"], str):  # null too: absent and null differ
        raise InvalidToken("token kid header must be a string")
    if "crit" in fields:
        raise InvalidToken("token header has 'crit': no critical extension is understood here")
    if "b64" in fields:
        raise InvalidToken("token header has 'b64': unencoded payloads are not accepted")
    return fields


class CompactVerifier:
    """Verifies compact HMAC tokens; owns the bounded cache of verified headers.

    Thread-safe: lookups are plain dict reads; inserts and evictions take a lock.
    """

    def __init__(
        self,
        *,
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        cache_entries: int = _CACHE_ENTRIES,
        cache_bytes: int = _CACHE_BYTES,
    ) -> None:
        if max_token_bytes < 1 or cache_entries < 0 or cache_bytes < 0:
            raise ValueError("max_token_bytes must be positive; cache bounds must not be negative")
        self.max_token_bytes = max_token_bytes
        self.cache_entries = cache_entries
        self.cache_bytes = cache_bytes
        self._headers: dict[bytes, _Header] = {}
        self._cached_bytes = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        cached = len(self._headers)
        return f"CompactVerifier(max_token_bytes={self.max_token_bytes}, cached={cached})"

    @property
    def cached_bytes(self) -> int:
        """The cache's current size in its own accounting (header text + per-entry overhead)."""
        return self._cached_bytes

    def cached_headers(self) -> int:
        """How many distinct verified headers are cached."""
        return len(self._headers)

    def verify(
        self,
        token: str | bytes,
        key_for: Callable[[str | None], bytes],
        algorithms: Collection[str],
    ) -> tuple[Mapping[str, Any], bytes]:
        """``(header, payload)`` of ``token`` if its MAC holds under ``key_for(kid)``.

        ``algorithms`` is the allow-list for the header's ``alg``; ``key_for`` returns the
        secret for a ``kid`` (``None``: the header has none) or raises (e.g.
        :class:`UnknownKeyId`). Raises :class:`InvalidToken` for every malformed, oversize,
        disallowed or forged token; ``TypeError`` if ``token`` is neither str nor bytes.
        """
        if isinstance(token, str):
            if len(token) > self.max_token_bytes:
                raise InvalidToken(f"token is longer than {self.max_token_bytes} bytes")
            try:
                raw = token.encode("ascii")
            except UnicodeEncodeError:
                raise InvalidToken("not a JWT: it contains non-ASCII characters") from None
        elif isinstance(token, bytes):
            if len(token) > self.max_token_bytes:
                raise InvalidToken(f"token is longer than {self.max_token_bytes} bytes")
            raw = token
        else:
            raise TypeError("token must be str or bytes")
        try:
            header_segment, payload_segment, signature = raw.split(b".")
        except ValueError:
            raise InvalidToken("not a JWT: expected three dot-separated segments") from None
        header = self._headers.get(header_segment)
        fresh = header is None
        if header is None:
            header = _parse_header(header_segment)
        if header.alg not in algorithms:
            raise InvalidToken("token algorithm is not allowed")
        key = key_for(header.kid)
        signing_input = raw[: len(header_segment) + 1 + len(payload_segment)]
        expected = b64url_encode(hmac.digest(key, signing_input, header.digest))
        if not hmac.compare_digest(expected, signature):
            raise InvalidToken("token signature does not verify")
        try:
            payload = b64url_decode(payload_segment)
        except ValueError:
            raise InvalidToken("token payload is not base64url-encoded") from None
        if fresh:
            self._remember(header_segment, header)
        return header.fields, payload

    def _remember(self, segment: bytes, header: _Header) -> None:
        cost = len(segment) + _ENTRY_OVERHEAD_BYTES
        if cost > self.cache_bytes or self.cache_entries == 0:
            return
        with self._lock:
            if segment in self._headers:
                return
            # evict the oldest entries first (dicts keep insertion order)
            while self._headers and (
                len(self._headers) >= self.cache_entries
                or self._cached_bytes + cost > self.cache_bytes
            ):
                oldest = next(iter(self._headers))
                del self._headers[oldest]
                self._cached_bytes -= len(oldest) + _ENTRY_OVERHEAD_BYTES
            self._headers[segment] = header
            self._cached_bytes += cost


def decode_claims(payload: bytes) -> dict[str, Any]:
    """The claims object of a verified ``payload``: strict UTF-8 JSON, no NaN or Infinity.

    Numbers beyond double range read as infinities, for the claims checks to refuse by name.
    Nested at most :data:`MAX_CLAIMS_DEPTH` levels, checked before parsing (no recursion).
    """
    if nesting_depth(payload, MAX_CLAIMS_DEPTH) > MAX_CLAIMS_DEPTH:
        raise InvalidToken(
            f"token payload is not a JSON object nested at most {MAX_CLAIMS_DEPTH} deep"
        )
    try:
        claims = _PAYLOAD_DECODER.decode(payload.decode("utf-8"))
    except (ValueError, RecursionError):
        raise InvalidToken("token payload is not JSON") from None
    if not isinstance(claims, dict):
        raise InvalidToken("token payload is not a JSON object")
    return claims


_default_verifier = CompactVerifier()


def verify_hmac(
    token: str | bytes,
    keys: Mapping[str, bytes] | Callable[[str | None], bytes],
    *,
    algorithms: Collection[str] = ("HS256",),
    verifier: CompactVerifier | None = None,
) -> tuple[Mapping[str, Any], bytes]:
    """``(header, payload)`` of an HMAC-signed compact ``token``; see :class:`CompactVerifier`.

    ``keys`` maps key ids to secrets (a token without ``kid`` matches a single-key map only)
    or is a function of the ``kid`` returning the secret.
    """
    key_for = _mapping_lookup(keys) if isinstance(keys, Mapping) else keys
    return (verifier or _default_verifier).verify(token, key_for, algorithms)


def _mapping_lookup(keys: Mapping[str, bytes]) -> Callable[[str | None], bytes]:
    def key_for(kid: str | None) -> bytes:
        if kid is None:
            if len(keys) == 1:
                return next(iter(keys.values()))
            raise UnknownKeyId(None)
        key = keys.get(kid)
        if key is None:
            raise UnknownKeyId(kid)
        return key

    return key_for


_header_segments: dict[tuple[str, str | None], bytes] = {}


def _header_segment(alg: str, kid: str | None) -> bytes:
    segment = _header_segments.get((alg, kid))
    if segment is None:
        # sorted keys and compact separators: the header PyJWT writes for the same alg and kid
        fields = {"alg": alg, "typ": "JWT"}
        if kid is not None:
            fields["kid"] = kid
        text = json.dumps(fields, separators=(",", ":"), sort_keys=True)
        segment = b64url_encode(text.encode("ascii"))
        if len(_header_segments) >= _CACHE_ENTRIES:  # key ids change only on rotation
            _header_segments.clear()
        _header_segments[(alg, kid)] = segment
    return segment


def sign_hmac(
    claims: Mapping[str, Any], key: bytes, *, alg: str = "HS256", kid: str | None = None
) -> str:
    """A compact JWS of ``claims`` MACed with ``key``: the bytes PyJWT's ``jwt.encode`` writes.

    ``ValueError`` for a non-HMAC ``alg`` or a claim that is ``NaN`` or infinite (no verifier
    of this module would accept it); ``TypeError`` for a claim JSON cannot hold.
    """
    digest = HMAC_DIGESTS.get(alg)
    if digest is None:
        raise ValueError(f"alg must be one of {sorted(HMAC_DIGESTS)}, not {alg!r}")
    body = claims if isinstance(claims, dict) else dict(claims)
    payload_segment = b64url_encode(_PAYLOAD_ENCODER.encode(body).encode("ascii"))
    signing_input = _header_segment(alg, kid) + b"." + payload_segment
    signature = b64url_encode(hmac.digest(key, signing_input, digest))
    return (signing_input + b"." + signature).decode("ascii")
