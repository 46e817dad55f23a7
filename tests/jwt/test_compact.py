"""The compact HMAC JWS layer: strict parsing, constant-time MAC check, bounded header cache."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erp.errors import InvalidToken, UnknownKeyId
from erp.jwt.compact import (
    DEFAULT_MAX_TOKEN_BYTES,
    MAX_HEADER_DEPTH,
    MAX_HEADER_SEGMENT_BYTES,
    CompactVerifier,
    b64url_decode,
    b64url_encode,
    decode_claims,
    sign_hmac,
    verify_hmac,
)

KEY = bytes(range(64))
OTHER = bytes(range(1, 65))
DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _forge(
    header: bytes | dict[str, Any],
    payload: bytes | dict[str, Any],
    key: bytes = KEY,
    alg: str = "HS256",
) -> str:
    """A token MACed by hand over exactly the given header and payload segments' content."""
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    p = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = _b64(h) + b"." + _b64(p)
    return _sign_input(signing_input, key, alg)


def _sign_input(signing_input: bytes, key: bytes = KEY, alg: str = "HS256") -> str:
    mac = hmac.new(key, signing_input, DIGESTS[alg]).digest()
    return (signing_input + b"." + _b64(mac)).decode()


def _verify(token: str | bytes, algorithms: tuple[str, ...] = ("HS256",)) -> dict[str, Any]:
    _header, payload = verify_hmac(token, {"k1": KEY}, algorithms=algorithms)
    return decode_claims(payload)


def _reference_decode(segment: bytes) -> bytes | None:
    """What a strict decoder must return: only the canonical unpadded spelling decodes."""
    try:
        data = base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
    except ValueError:
        return None
    return data if _b64(data) == segment else None


# -- base64url -----------------------------------------------------------------------------


@given(st.binary(max_size=80))
def test_b64url_round_trips_and_has_no_padding(data: bytes) -> None:
    """Encoding is unpadded URL-safe base64 and decodes back to the same bytes."""
    encoded = b64url_encode(data)
    assert encoded == _b64(data)
    assert b64url_decode(encoded) == data


@given(st.binary(max_size=12).map(_b64), st.integers(0, 11), st.sampled_from(b"A_-+/= \n.\x80Qw"))
def test_b64url_decode_accepts_exactly_the_canonical_spellings(
    segment: bytes, index: int, char: int
) -> None:
    """A one-character edit decodes only if the result is canonical base64url, as a reference."""
    mutated = bytearray(segment)
    if mutated:
        mutated[index % len(mutated)] = char
    else:
        mutated.append(char)
    expected = _reference_decode(bytes(mutated))
    if expected is None:
        with pytest.raises(ValueError, match="canonical"):
            b64url_decode(bytes(mutated))
    else:
        assert b64url_decode(bytes(mutated)) == expected


@pytest.mark.parametrize(
    "segment",
    [b"QQ==", b"QQ=", b"QR", b"QUF", b"Q", b"Q Q", b"QQ\n", b"+/8", b"Pz8/", b"QQ\x80", b"Q!"],
)
def test_b64url_decode_refuses_non_canonical_input(segment: bytes) -> None:
    """Padding, spare bits set, a lone character, whitespace and '+'/'/' are all refused."""
    with pytest.raises(ValueError, match="canonical"):
        b64url_decode(segment)


# -- signing -------------------------------------------------------------------------------


claim_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.text(max_size=8), claim_values, max_size=6),
    st.sampled_from(sorted(DIGESTS)),
    st.none() | st.text(min_size=1, max_size=20),
)
def test_sign_writes_the_bytes_pyjwt_writes(
    claims: dict[str, Any], alg: str, kid: str | None
) -> None:
    """For the same claims, alg and kid, sign_hmac and jwt.encode produce the same token."""
    headers = None if kid is None else {"kid": kid}
    expected = jwt.encode(claims, KEY, algorithm=alg, headers=headers)
    assert expected == sign_hmac(claims, KEY, alg=alg, kid=kid)


@pytest.mark.parametrize("alg", sorted(DIGESTS))
def test_signed_token_verifies_with_its_alg_allowed(alg: str) -> None:
    """A signed token gives back its header and claims when its alg is allowed."""
    token = sign_hmac({"sub": "alice", "exp": 10}, KEY, alg=alg, kid="k1")
    header, payload = verify_hmac(token, {"k1": KEY}, algorithms=(alg,))
    assert {"alg": alg, "kid": "k1", "typ": "JWT"} == dict(header)
    assert decode_claims(payload) == {"sub": "alice", "exp": 10}


def test_bytes_token_verifies_like_text() -> None:
    """A token given as bytes verifies the same as its text."""
    token = sign_hmac({"sub": "alice"}, KEY, kid="k1")
    assert _verify(token.encode()) == {"sub": "alice"}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_sign_refuses_non_finite_claims(value: float) -> None:
    """NaN and infinities are not JSON, so no token carrying one is written."""
    with pytest.raises(ValueError, match="JSON compliant"):
        sign_hmac({"exp": value}, KEY)


def test_sign_refuses_a_non_hmac_alg() -> None:
    """Only HS256/384/512 are signed here."""
    with pytest.raises(ValueError, match="alg must be one of"):
        sign_hmac({}, KEY, alg="RS256")


def test_sign_accepts_any_mapping() -> None:
    """A read-only mapping of claims signs like the equal dict."""
    from types import MappingProxyType

    assert sign_hmac({"a": 1}, KEY) == sign_hmac(MappingProxyType({"a": 1}), KEY)


# -- token shape and size ------------------------------------------------------------------


@pytest.mark.parametrize(
    "token", ["", "a", "a.b", "a.b.c.d", "..", "...", "a..b.c"], ids=lambda t: repr(t)
)
def test_token_without_exactly_three_segments_is_refused(token: str) -> None:
    """Anything but three dot-separated segments is not a compact JWS."""
    with pytest.raises(InvalidToken):
        _verify(token)


def test_token_over_the_size_cap_is_refused_before_any_work() -> None:
    """A token longer than the cap is refused before its key is looked up."""
    looked_up: list[str | None] = []

    def key_for(kid: str | None) -> bytes:
        looked_up.append(kid)
        return KEY

    verifier = CompactVerifier(max_token_bytes=64)
    token = sign_hmac({"pad": "x" * 64}, KEY, kid="k1")
    for form in (token, token.encode()):
        with pytest.raises(InvalidToken, match="longer than 64 bytes"):
            verifier.verify(form, key_for, ("HS256",))
    assert looked_up == []


def test_default_size_cap_admits_large_tokens_and_refuses_larger() -> None:
    """The default cap lets a token of exactly the cap through and refuses one byte more."""
    base = sign_hmac({"pad": ""}, KEY, kid="k1")
    fill = DEFAULT_MAX_TOKEN_BYTES - len(base)
    fits = sign_hmac({"pad": "x" * (fill * 3 // 4)}, KEY, kid="k1")
    assert len(fits) <= DEFAULT_MAX_TOKEN_BYTES
    assert _verify(fits)["pad"]
    with pytest.raises(InvalidToken, match="longer than"):
        _verify(fits + "A" * (DEFAULT_MAX_TOKEN_BYTES + 1 - len(fits)))


def test_non_ascii_token_is_refused() -> None:
    """A token with a character outside ASCII cannot be base64url and is refused."""
    token = sign_hmac({}, KEY, kid="k1")
    with pytest.raises(InvalidToken, match="non-ASCII"):
        _verify(token[:-1] + "é")


def test_token_of_another_type_is_a_type_error() -> None:
    """Passing something that is not str or bytes is a programming error."""
    with pytest.raises(TypeError, match="str or bytes"):
        verify_hmac(42, {"k1": KEY})  # type: ignore[arg-type]


# -- the header ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"[]", "not a JSON object"),
        (b'"HS256"', "not a JSON object"),
        (b"{", "not base64url-encoded JSON"),
        (b'{"alg":"HS256","kid":"k1","kid":"k2"}', "repeats a member name"),
        (b'{"alg":"HS256","alg":"HS256"}', "repeats a member name"),
        (b'{"alg":"HS256","x":NaN}', "not base64url-encoded JSON"),
        (b'{"alg":"HS256","x":1e400}', "not base64url-encoded JSON"),
        (b'{"alg":"HS256","kid":"\xff"}', "not base64url-encoded JSON"),
        (b'\xef\xbb\xbf{"alg":"HS256"}', "not base64url-encoded JSON"),
        ('{"alg":"HS256"}'.encode("utf-16"), "not base64url-encoded JSON"),
        (b"{}", "algorithm is not allowed"),
        (b'{"alg":null}', "algorithm is not allowed"),
        (b'{"alg":["HS256"]}', "algorithm is not allowed"),
        (b'{"alg":"none"}', "algorithm is not allowed"),
        (b'{"alg":"hs256"}', "algorithm is not allowed"),
        (b'{"alg":"RS256"}', "algorithm is not allowed"),
        (b'{"alg":"HS256","kid":7}', "kid header must be a string"),
        (b'{"alg":"HS256","kid":null}', "kid header must be a string"),
        (b'{"alg":"HS256","crit":["exp"],"exp":1}', "'crit'"),
        (b'{"alg":"HS256","crit":["b64"],"b64":false}', "'crit'"),
        (b'{"alg":"HS256","b64":false}', "'b64'"),
        (b'{"alg":"HS256","b64":true}', "'b64'"),
    ],
)
def test_bad_header_is_refused_even_when_correctly_signed(header: bytes, message: str) -> None:
    """Each header defect is refused by name, whatever the MAC says."""
    with pytest.raises(InvalidToken, match=message):
        _verify(_forge(header, {"sub": "alice"}))


def test_header_alg_outside_the_callers_list_is_refused() -> None:
    """An HS512 token is refused by a verifier that allows only HS256: the header never chooses."""
    token = sign_hmac({}, KEY, alg="HS512", kid="k1")
    with pytest.raises(InvalidToken, match="algorithm is not allowed"):
        _verify(token, algorithms=("HS256",))


def test_oversize_header_is_refused() -> None:
    """A header segment beyond its cap is refused even if signed."""
    header = {"alg": "HS256", "kid": "k1", "x": "y" * MAX_HEADER_SEGMENT_BYTES}
    with pytest.raises(InvalidToken, match="header is longer than"):
        _verify(_forge(header, {}))


@pytest.mark.parametrize("depth", [MAX_HEADER_DEPTH, MAX_HEADER_DEPTH + 1, 2000])
def test_header_nesting_is_bounded_before_it_is_parsed(depth: int) -> None:
    """A header nested up to the bound parses; deeper is one InvalidToken, never RecursionError."""
    inner = depth - 1  # the header object itself is the first level
    header = b'{"alg":"HS256","kid":"k1","x":' + b"[" * inner + b"]" * inner + b"}"
    if depth <= MAX_HEADER_DEPTH:
        assert _verify(_forge(header, {"sub": "a"})) == {"sub": "a"}
    else:
        with pytest.raises(InvalidToken, match="nested at most"):
            _verify(_forge(header, {}))


def test_brackets_inside_header_strings_do_not_count_as_nesting() -> None:
    """A kid made of brackets is text, not depth."""
    token = sign_hmac({"sub": "a"}, KEY, kid="[[[[[[{{{{{{")
    assert verify_hmac(token, {"[[[[[[{{{{{{": KEY}) is not None


def test_header_100000_deep_in_a_huge_token_is_an_invalid_token() -> None:
    """Even with the token cap raised, a 100,000-deep header is refused without recursion."""
    huge = b'{"alg":"HS256","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    verifier = CompactVerifier(max_token_bytes=10**6)
    with pytest.raises(InvalidToken):
        verify_hmac(_forge(huge, {}), {"k1": KEY}, verifier=verifier)


def test_header_whitespace_and_extra_members_are_accepted() -> None:
    """JSON whitespace and unknown members (typ, cty, jku, jwk) are fine; they choose nothing."""
    header = b'{"typ":"JWT",\r\n "alg":"HS256", "kid":"k1", "cty":"x", "jku":"https://e.x/k"}'
    assert _verify(_forge(header, {"sub": "a"})) == {"sub": "a"}


def test_bad_header_is_refused_before_the_key_is_looked_up() -> None:
    """A kid from a header that fails its checks is never looked up."""
    looked_up: list[str | None] = []

    def key_for(kid: str | None) -> bytes:
        looked_up.append(kid)
        return KEY

    token = _forge({"alg": "none", "kid": "k1"}, {})
    with pytest.raises(InvalidToken):
        CompactVerifier().verify(token, key_for, ("HS256",))
    assert looked_up == []


def test_returned_header_is_read_only() -> None:
    """The header is shared through the cache, so callers get a read-only view."""
    header, _payload = verify_hmac(sign_hmac({}, KEY, kid="k1"), {"k1": KEY})
    with pytest.raises(TypeError):
        header["kid"] = "k2"  # type: ignore[index]


# -- keys ----------------------------------------------------------------------------------


def test_unknown_kid_raises_what_the_lookup_raises() -> None:
    """The key lookup's own error (UnknownKeyId) reaches the caller."""
    with pytest.raises(UnknownKeyId, match="'k9'"):
        _verify(sign_hmac({}, KEY, kid="k9"))


def test_token_without_kid_matches_only_a_single_key_map() -> None:
    """No kid: a one-key map verifies it, a two-key map refuses to guess."""
    token = sign_hmac({"sub": "a"}, KEY)
    assert _verify(token) == {"sub": "a"}
    with pytest.raises(UnknownKeyId, match="no kid"):
        verify_hmac(token, {"k1": KEY, "k2": OTHER})


def test_token_under_another_key_does_not_verify() -> None:
    """The right kid with another key's MAC fails the signature check."""
    with pytest.raises(InvalidToken, match="signature does not verify"):
        _verify(sign_hmac({}, OTHER, kid="k1"))


# -- the signature -------------------------------------------------------------------------


def _sig_variants(token: str) -> list[str]:
    head, _dot, sig = token.rpartition(".")
    raw = b64url_decode(sig.encode())
    last = sig[-1]
    index = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(last)
    spare = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[index + 1]
    return [
        f"{head}.{sig}=",  # padded
        f"{head}.{sig[:-1]}{spare}",  # spare bits set: decodes to the same MAC elsewhere
        f"{head}.{sig} ",
        f"{head}.{base64.b64encode(raw).decode().rstrip('=')}",  # standard alphabet
        f"{head}.{sig[:-1]}",
        f"{head}.",
        f"{head}.{sig}{sig}",
    ]


@pytest.mark.parametrize("alg", sorted(DIGESTS))
def test_any_other_spelling_of_a_valid_signature_is_refused(alg: str) -> None:
    """Only the canonical base64url of the MAC verifies: padding, spare bits, '+/' fail."""
    token = sign_hmac({"sub": "a"}, KEY, alg=alg, kid="k1")
    assert _verify(token, (alg,))
    for variant in _sig_variants(token):
        if variant.split(".")[2] == token.split(".")[2]:
            continue
        with pytest.raises(InvalidToken):
            _verify(variant, (alg,))


def test_tampered_payload_fails_the_signature() -> None:
    """One changed payload character breaks the MAC."""
    token = sign_hmac({"role": "user"}, KEY, kid="k1")
    head, _payload, sig = token.split(".")
    forged = b64url_encode(json.dumps({"role": "admin"}).encode()).decode()
    with pytest.raises(InvalidToken, match="signature does not verify"):
        _verify(f"{head}.{forged}.{sig}")


# -- the payload ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["=", "==", " "])
def test_signed_but_non_canonical_payload_segment_is_refused(suffix: str) -> None:
    """A MAC over a padded or spaced payload segment does not make it acceptable."""
    header = _b64(b'{"alg":"HS256","kid":"k1"}')
    payload = _b64(b'{"sub":"a"}')  # 11 bytes: 15 characters, so '=' pads it
    token = _sign_input(header + b"." + payload + suffix.encode())
    with pytest.raises(InvalidToken, match="payload is not base64url"):
        _verify(token)


def test_signed_payload_with_spare_bits_set_is_refused() -> None:
    """A payload segment whose last character carries extra bits is refused though signed."""
    header = _b64(b'{"alg":"HS256","kid":"k1"}')
    payload = bytearray(_b64(b'{"sub":"a"}'))
    payload[-1] += 1  # 'Q' -> 'R': the same bytes under a lenient decoder
    token = _sign_input(header + b"." + bytes(payload))
    with pytest.raises(InvalidToken, match="payload is not base64url"):
        _verify(token)


def test_claims_nested_32_levels_are_read() -> None:
    """The limit is the documented one: 32 levels of objects are claims like any other."""
    claims = decode_claims(b'{"a":' * 31 + b'{"b":1}' + b"}" * 31)
    for _ in range(31):
        claims = claims["a"]
    assert claims == {"b": 1}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"exp":NaN}', "not JSON"),
        (b'{"exp":Infinity}', "not JSON"),
        (b'{"exp":-Infinity}', "not JSON"),
        (b'{"sub":"\xff"}', "not JSON"),
        (b'{"sub":"\xed\xa0\x80"}', "not JSON"),  # a UTF-8-encoded surrogate
        (b'\xef\xbb\xbf{"sub":"a"}', "not JSON"),
        ('{"sub":"a"}'.encode("utf-16"), "not JSON"),
        (b"", "not JSON"),
        (b'{"sub":"a"} x', "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'"x"', "not a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "nested at most 32"),
        # docs/security.md: claims nested at most 32 levels, though 33 would parse
        (b'{"a":' * 33 + b"1" + b"}" * 33, "nested at most 32"),
    ],
)
def test_signed_payload_that_is_not_a_strict_json_object_is_refused(
    payload: bytes, message: str
) -> None:
    """NaN, out-of-range numbers, bad UTF-8, BOMs, other encodings and non-objects are refused."""
    verifier = CompactVerifier(max_token_bytes=10**6)
    _header, raw = verifier.verify(_forge({"alg": "HS256"}, payload), lambda kid: KEY, ("HS256",))
    with pytest.raises(InvalidToken, match=message):
        decode_claims(raw)


def test_duplicate_claim_names_keep_the_last_as_the_peers_do() -> None:
    """RFC 7519 section 4 allows the lexically last duplicate; PyJWT and joserfc take it too."""
    token = _forge({"alg": "HS256"}, b'{"sub":"a","sub":"b"}')
    assert _verify(token) == {"sub": "b"}
    assert jwt.decode(token, KEY, algorithms=["HS256"]) == {"sub": "b"}


# -- the header cache ----------------------------------------------------------------------


def test_only_headers_of_verified_tokens_are_cached() -> None:
    """Forged, unsigned and malformed tokens leave the cache empty; a valid one fills it."""
    verifier = CompactVerifier()
    for token in (
        sign_hmac({}, OTHER, kid="k1"),  # forged MAC
        _forge({"alg": "none"}, {}),
        _forge({"alg": "HS256", "kid": "k1", "crit": ["x"]}, {}),
        sign_hmac({}, KEY, kid="k1")[:-2],
    ):
        with pytest.raises(InvalidToken):
            verifier.verify(token, lambda kid: KEY, ("HS256",))
    assert verifier.cached_headers() == 0
    verifier.verify(sign_hmac({}, KEY, kid="k1"), lambda kid: KEY, ("HS256",))
    assert verifier.cached_headers() == 1


def test_cache_is_bounded_in_entries() -> None:
    """Past its entry bound the cache evicts the oldest header."""
    verifier = CompactVerifier(cache_entries=3)
    for i in range(10):
        verifier.verify(sign_hmac({}, KEY, kid=f"k{i}"), lambda kid: KEY, ("HS256",))
    assert verifier.cached_headers() == 3


def test_cache_is_bounded_in_bytes() -> None:
    """Large verified headers never make the cache exceed its byte bound."""
    verifier = CompactVerifier(cache_bytes=4096)
    for i in range(40):
        token = sign_hmac({}, KEY, kid=f"k{i}-" + "x" * 600)
        verifier.verify(token, lambda kid: KEY, ("HS256",))
        assert verifier.cached_bytes <= 4096
    assert 1 <= verifier.cached_headers() < 40


def test_cached_header_still_checks_the_alg_allow_list_and_the_mac() -> None:
    """A cached header is no shortcut: the alg list and the MAC are checked on every call."""
    verifier = CompactVerifier()
    token = sign_hmac({}, KEY, alg="HS384", kid="k1")
    verifier.verify(token, lambda kid: KEY, ("HS384",))
    with pytest.raises(InvalidToken, match="algorithm is not allowed"):
        verifier.verify(token, lambda kid: KEY, ("HS256",))
    with pytest.raises(InvalidToken, match="signature does not verify"):
        verifier.verify(token, lambda kid: OTHER, ("HS384",))


def test_zero_sized_cache_still_verifies() -> None:
    """With caching off every token is parsed afresh and still verifies."""
    verifier = CompactVerifier(cache_entries=0)
    token = sign_hmac({"sub": "a"}, KEY, kid="k1")
    for _ in range(2):
        assert decode_claims(verifier.verify(token, lambda kid: KEY, ("HS256",))[1])
    assert verifier.cached_headers() == 0
    assert "cached=0" in repr(verifier)


def test_bad_cache_bounds_are_refused() -> None:
    """A size cap below one byte or a negative bound is a programming error."""
    with pytest.raises(ValueError, match="max_token_bytes"):
        CompactVerifier(max_token_bytes=0)
    with pytest.raises(ValueError, match="must not be negative"):
        CompactVerifier(cache_bytes=-1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=30),
    st.integers(0, 3),
)
def test_cache_never_changes_a_verdict(kids: list[int], edit: int) -> None:
    """A verifier with a tiny cache and one with none give the same answer for every token."""
    cached, uncached = CompactVerifier(cache_entries=2), CompactVerifier(cache_entries=0)
    keys = {f"k{i}": bytes([i + 1]) * 32 for i in range(6)}
    for i in kids:
        token = sign_hmac({"n": i}, keys[f"k{i}"], kid=f"k{i}")
        if edit and i % 2:
            token = token[:-edit] + "A" * edit
        verdicts: list[bytes | str] = []
        for verifier in (cached, uncached):
            try:
                verdicts.append(verify_hmac(token, keys, verifier=verifier)[1])
            except InvalidToken as exc:
                verdicts.append(str(exc))
        assert verdicts[0] == verdicts[1]
        assert cached.cached_headers() <= 2


def test_cache_stays_bounded_under_concurrent_verification() -> None:
    """Eight threads verifying and evicting at once raise nothing and respect the bounds."""
    import threading

    verifier = CompactVerifier(cache_entries=5, cache_bytes=4000)
    tokens = [sign_hmac({"n": i}, KEY, kid=f"k{i}") for i in range(50)]
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for n in range(400):
                token = tokens[(n * 7 + offset) % len(tokens)]
                verifier.verify(token, lambda kid: KEY, ("HS256",))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert verifier.cached_headers() <= 5
    assert 0 <= verifier.cached_bytes <= 4000


def test_numbers_beyond_double_range_in_claims_read_as_infinity() -> None:
    """1e400 in the claims parses (as peers read it); the claims checks refuse it by name."""
    assert decode_claims(b'{"exp":1e400,"x":-1e400}') == {"exp": float("inf"), "x": -float("inf")}


def test_over_long_deep_header_is_named_as_nested() -> None:
    """A header over the cap that starts with deep nesting is refused as nested, not as long."""
    deep = b'{"alg":"HS256","x":' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    with pytest.raises(InvalidToken, match="nested at most"):
        verify_hmac(_forge(deep, {}), {"k1": KEY}, verifier=CompactVerifier(max_token_bytes=10**6))


def test_cache_bounds_are_inclusive() -> None:
    """Entries and bytes may reach their bounds exactly; one more evicts the oldest."""
    tokens = [sign_hmac({}, KEY, kid=f"k{i}") for i in range(3)]
    cost = len(tokens[0].split(".")[0]) + 512  # header text plus the per-entry overhead
    verifier = CompactVerifier(cache_entries=2, cache_bytes=2 * cost)
    for token in tokens[:2]:
        verifier.verify(token, lambda kid: KEY, ("HS256",))
    assert (verifier.cached_headers(), verifier.cached_bytes) == (2, 2 * cost)
    verifier.verify(tokens[2], lambda kid: KEY, ("HS256",))
    assert (verifier.cached_headers(), verifier.cached_bytes) == (2, 2 * cost)
