"""Hostile tokens: non-finite times, deep headers, oversize input, wrong claim types, boundaries.

Every refusal is :class:`InvalidToken` (or a subclass), never another exception, and costs
no more than verifying a valid token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from erp.clock import FrozenClock
from erp.errors import InvalidToken, TokenExpired, UnknownKeyId, WeakSecret
from erp.jwt.compact import _CACHE_BYTES as _KID_CACHE_MAX_BYTES
from erp.jwt.keyring import (
    MIN_SECRET_BYTES,
    Key,
    KeyRing,
    KeyState,
    RotationPolicy,
    binary_secret,
    check_secret_strength,
    generate_secret,
    key_bytes,
)
from erp.jwt.tokens import DEFAULT_MAX_TOKEN_BYTES, TokenService

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
POLICY = RotationPolicy(max_token_ttl=timedelta(hours=1), leeway=timedelta(seconds=30))
SECRET = generate_secret()
RING = KeyRing((Key("k1", SECRET, KeyState.ACTIVE, NOW, NOW),))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(payload: bytes, header: bytes = b'{"alg":"HS256","kid":"k1"}', key: bytes = b"") -> str:
    """A compact HS256 token over raw header and payload bytes (any JSON, even invalid)."""
    signing_input = f"{_b64(header)}.{_b64(payload)}".encode()
    mac = hmac.new(key or SECRET.encode(), signing_input, hashlib.sha256).digest()
    return f"{signing_input.decode()}.{_b64(mac)}"


@pytest.fixture
def clock() -> FrozenClock:
    """The service's clock, at NOW."""
    return FrozenClock(NOW)


@pytest.fixture
def service(clock: FrozenClock) -> TokenService:
    """A service over a one-key ring, with a 30 s leeway."""
    return TokenService(lambda: RING, policy=POLICY, clock=clock, monotonic=lambda: 0.0)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"exp": NaN}',
        b'{"exp": Infinity}',
        b'{"exp": -Infinity}',
        b'{"exp": 1e400}',
        b'{"exp": 1' + b"0" * 400 + b"}",
        b'{"exp": %d, "nbf": NaN}' % (T + 60),
        b'{"exp": %d, "iat": NaN}' % (T + 60),
        b'{"exp": %d, "nbf": 1e400}' % (T + 60),
        b'{"exp": %d, "iat": -1e400}' % (T + 60),
        b'{"exp": %d, "nbf": -1%s}' % (T + 60, b"0" * 400),
        b'{"exp": %d, "iat": 1%s}' % (T + 60, b"0" * 400),
        b'{"exp": true}',
        b'{"exp": null}',
        b'{"exp": "%d"}' % (T + 60),
        b'{"exp": [%d]}' % (T + 60),
    ],
)
def test_time_claims_that_are_not_finite_numbers_are_refused(
    service: TokenService, payload: bytes
) -> None:
    """NaN, infinities, 1e400, integers beyond float range and non-numbers: InvalidToken."""
    with pytest.raises(InvalidToken):
        service.verify(_sign(payload))


def test_huge_but_finite_exp_is_a_number_like_pyjwt_accepts(service: TokenService) -> None:
    """An exp of 10**30 is a finite NumericDate: accepted, as PyJWT accepts it."""
    assert service.verify(_sign(b'{"exp": 1' + b"0" * 30 + b"}"))["exp"] == 10**30


def test_header_nested_100000_deep_is_refused_without_recursion(service: TokenService) -> None:
    """A header nested 100,000 deep is InvalidToken (no RecursionError), before the key look-up."""
    header = b'{"alg":"HS256","kid":"k1","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    token = _sign(b'{"exp": %d}' % (T + 60), header=header)
    service.max_token_bytes = len(token)
    with pytest.raises(InvalidToken, match="nested"):
        service.verify(token)


def test_deep_payload_under_a_valid_signature_is_refused(service: TokenService) -> None:
    """Even signed, a payload nested beyond the bound is InvalidToken, not RecursionError."""
    payload = b'{"exp": %d, "x": %s}' % (T + 60, b"[" * 5000 + b"]" * 5000)
    token = _sign(payload)
    service.max_token_bytes = len(token)
    with pytest.raises(InvalidToken, match="payload"):
        service.verify(token)


def test_token_over_the_size_limit_is_refused_before_parsing(service: TokenService) -> None:
    """A token one byte over max_token_bytes is refused naming the limit and the setting."""
    assert service.max_token_bytes == DEFAULT_MAX_TOKEN_BYTES
    padding = "x" * DEFAULT_MAX_TOKEN_BYTES
    token = _sign(json.dumps({"exp": T + 60, "pad": padding}).encode())
    with pytest.raises(InvalidToken, match="ERP_JWT_MAX_TOKEN_BYTES"):
        service.verify(token)
    assert service.verify(_sign(b'{"exp": %d}' % (T + 60)))  # the service still works


def test_token_of_exactly_the_size_limit_is_checked_normally(clock: FrozenClock) -> None:
    """A valid token exactly max_token_bytes long verifies; one byte shorter limit refuses it."""
    token = _sign(b'{"exp": %d}' % (T + 60))
    exact = TokenService(lambda: RING, policy=POLICY, clock=clock, max_token_bytes=len(token))
    assert exact.verify(token)["exp"] == T + 60
    short = TokenService(lambda: RING, policy=POLICY, clock=clock, max_token_bytes=len(token) - 1)
    with pytest.raises(InvalidToken, match="longer than"):
        short.verify(token)


def test_max_token_bytes_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, clock: FrozenClock
) -> None:
    """ERP_JWT_MAX_TOKEN_BYTES sets the limit; NaN or text there is a SettingError."""
    from erp.errors import SettingError

    monkeypatch.setenv("ERP_JWT_MAX_TOKEN_BYTES", "1024")
    assert TokenService(lambda: RING, policy=POLICY).max_token_bytes == 1024
    for bad in ("nan", "inf", "-1", "1e300", "lots", "10"):
        monkeypatch.setenv("ERP_JWT_MAX_TOKEN_BYTES", bad)
        with pytest.raises(SettingError, match="ERP_JWT_MAX_TOKEN_BYTES"):
            TokenService(lambda: RING, policy=POLICY)


def test_unsigned_headers_never_enter_the_kid_cache(service: TokenService) -> None:
    """64 forged tokens with 1 MB headers leave the kid cache empty."""
    service.max_token_bytes = 2 * 1024 * 1024
    for n in range(64):
        header = json.dumps({"alg": "HS256", "kid": "k1", "pad": f"{n}" * (1 << 20)}).encode()
        forged = _sign(b'{"exp": %d}' % (T + 60), header=header, key=b"k" * 32)
        with pytest.raises(InvalidToken):
            service.verify(forged)
    assert service._compact.cached_headers() == 0


def test_kid_cache_is_bounded_in_bytes(service: TokenService) -> None:
    """Valid tokens with many distinct headers never hold more than the byte bound."""
    for n in range(2000):
        header = json.dumps({"alg": "HS256", "kid": "k1", "n": n, "pad": "p" * 200}).encode()
        assert service.verify(_sign(b'{"exp": %d}' % (T + 60), header=header))
        assert service._compact.cached_bytes <= _KID_CACHE_MAX_BYTES


@pytest.mark.parametrize(
    ("claim", "value"),
    [("iss", 42), ("iss", {"a": 1}), ("sub", 7), ("sub", ["u"]), ("jti", 1.5), ("jti", None)],
)
def test_string_claims_of_another_type_are_refused(
    service: TokenService, claim: str, value: Any
) -> None:
    """iss and sub (StringOrURI) and jti (string) must be strings when present (RFC 7519)."""
    token = _sign(json.dumps({"exp": T + 60, claim: value}).encode())
    with pytest.raises(InvalidToken, match=claim):
        service.verify(token)


def test_string_claims_that_are_strings_pass(service: TokenService) -> None:
    """String iss, sub and jti are accepted and returned."""
    claims = {"exp": T + 60, "iss": "erp", "sub": "user-42", "jti": "j-1"}
    assert service.verify(_sign(json.dumps(claims).encode())) == claims


def test_exp_boundary_refuses_at_exactly_exp_plus_leeway(
    service: TokenService, clock: FrozenClock
) -> None:
    """Accepted one microsecond before exp + leeway; refused at exactly exp + leeway."""
    token = _sign(b'{"exp": %d}' % T)
    clock.now = NOW + POLICY.leeway - timedelta(microseconds=1)
    assert service.verify(token)
    clock.now = NOW + POLICY.leeway
    with pytest.raises(TokenExpired):
        service.verify(token)


def test_exp_boundary_without_leeway_refuses_at_exactly_exp(clock: FrozenClock) -> None:
    """With no leeway a token is refused at exactly exp (RFC 7519 4.1.4 "on or after")."""
    strict = TokenService(lambda: RING, policy=POLICY, clock=clock, leeway=timedelta(0))
    token = _sign(b'{"exp": %d}' % T)
    clock.now = NOW - timedelta(microseconds=1)
    assert strict.verify(token)
    clock.now = NOW
    with pytest.raises(TokenExpired):
        strict.verify(token)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_nbf_and_iat_are_accepted_from_exactly_claim_minus_leeway(
    service: TokenService, clock: FrozenClock, claim: str
) -> None:
    """nbf/iat in the future: accepted from exactly claim - leeway, refused a microsecond before."""
    token = _sign(json.dumps({"exp": T + 3600, claim: T + 600}).encode())
    clock.now = NOW + timedelta(seconds=600) - POLICY.leeway
    assert service.verify(token)[claim] == T + 600
    clock.now -= timedelta(microseconds=1)
    with pytest.raises(InvalidToken, match=claim):
        service.verify(token)


def test_now_argument_overrides_the_clock(service: TokenService) -> None:
    """verify(now=...) judges the token at that instant, not at the service's clock."""
    token = _sign(b'{"exp": %d}' % (T + 60))
    assert service.verify(token, now=NOW + timedelta(seconds=89))
    with pytest.raises(TokenExpired):
        service.verify(token, now=NOW + timedelta(seconds=90))


def test_single_string_aud_matches_a_list_of_expected_audiences(service: TokenService) -> None:
    """A token aud "api" passes verify(audience=["web", "api"]); "other" does not."""
    ok = _sign(json.dumps({"exp": T + 60, "aud": "api"}).encode())
    assert service.verify(ok, audience=["web", "api"])["aud"] == "api"
    assert service.verify(ok, audience="api")["aud"] == "api"
    bad = _sign(json.dumps({"exp": T + 60, "aud": "other"}).encode())
    with pytest.raises(InvalidToken, match="audience"):
        service.verify(bad, audience=["web", "api"])
    with pytest.raises(InvalidToken, match="none is expected"):
        service.verify(ok)
    with pytest.raises(InvalidToken, match="aud"):
        service.verify(_sign(json.dumps({"exp": T + 60, "aud": 5}).encode()), audience="api")


def test_issue_refuses_a_callers_iat_and_exp(service: TokenService) -> None:
    """issue() sets iat and exp itself; a caller's value is a ValueError naming them."""
    with pytest.raises(ValueError, match="iat"):
        service.issue({"iat": T})
    with pytest.raises(ValueError, match="exp"):
        service.issue({"exp": T})


def test_binary_ring_key_signs_and_verifies(clock: FrozenClock) -> None:
    """A b64: secret is its decoded bytes: tokens verify under those bytes with PyJWT too."""
    raw = bytes(range(64))
    ring = KeyRing((Key("bin", binary_secret(raw), KeyState.ACTIVE, NOW, NOW),))
    service = TokenService(lambda: ring, policy=POLICY, clock=clock)
    token = service.issue({"sub": "u"}, ttl=timedelta(minutes=5))
    assert jwt.decode(token, raw, algorithms=["HS256"], options={"verify_exp": False})["sub"] == "u"
    assert service.verify(token)["sub"] == "u"
    assert ring.active.fingerprint == "sha256:" + hashlib.sha256(raw).hexdigest()[:16]


def test_binary_key_form_round_trips_and_refuses_bad_base64() -> None:
    """binary_secret and key_bytes are inverses; non-base64url text after b64: is refused."""
    raw = bytes(range(200, 256)) + bytes(range(8))
    assert key_bytes(binary_secret(raw)) == raw
    assert key_bytes("plain text secret") == b"plain text secret"
    for bad in ("b64:", "b64:!!!!", "b64:abc/def+", "b64:a"):
        with pytest.raises(WeakSecret):
            check_secret_strength(bad, "JWT_SECRETS['k']")


def test_binary_key_strength_counts_bytes_not_characters() -> None:
    """A b64: key of 31 bytes is weak, of 32 distinct-enough bytes strong; 7 distinct bytes weak."""
    with pytest.raises(WeakSecret, match="248 bits"):
        check_secret_strength(binary_secret(bytes(range(31))), "k")
    assert check_secret_strength(binary_secret(bytes(range(32))), "k")
    with pytest.raises(WeakSecret, match="distinct"):
        check_secret_strength(binary_secret(bytes(range(7)) * 10), "k")


def test_secret_of_exactly_32_bytes_and_8_distinct_characters_is_accepted() -> None:
    """The strength bounds are inclusive: 32 bytes and 8 distinct characters pass; 31 or 7 fail."""
    eight = "abcdefgh" * 4
    assert len(eight.encode()) == MIN_SECRET_BYTES
    assert check_secret_strength(eight, "k") == eight
    with pytest.raises(WeakSecret, match="at least 256 bits"):
        check_secret_strength(eight[:-1], "k")
    with pytest.raises(WeakSecret, match="distinct"):
        check_secret_strength("abcdefg" * 5, "k")


def test_unknown_kid_longer_than_64_characters_is_shown_shortened(service: TokenService) -> None:
    """An unknown kid is named in the error, cut at 64 characters."""
    token = _sign(b'{"exp": %d}' % (T + 60), header=b'{"alg":"HS256","kid":"%s"}' % (b"z" * 500))
    with pytest.raises(UnknownKeyId) as caught:
        service.verify(token)
    assert "z" * 64 in str(caught.value)
    assert "z" * 65 not in str(caught.value)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{}", "token lacks the required 'exp' claim"),
        (b'{"exp": %d}' % (T - 60), "token has expired"),
        (b'{"exp": %d, "nbf": %d}' % (T + 600, T + 300), "token is not yet valid (nbf)"),
        (b'{"exp": %d, "iat": %d}' % (T + 600, T + 300), "token was issued in the future (iat)"),
        (b'{"exp": 1%s}' % (b"0" * 400), "token exp claim is out of range"),
        (b'{"exp": 1e400}', "token exp claim is not a finite number"),
        (b'{"exp": "1"}', "token exp claim is not a number"),
        (b'{"exp": %d, "aud": "x"}' % (T + 60), "token has an audience but none is expected"),
    ],
)
def test_each_refusal_has_its_fixed_phrase(
    service: TokenService, payload: bytes, message: str
) -> None:
    """Refusal messages are fixed phrases (adapters pass them on as error descriptions)."""
    with pytest.raises(InvalidToken) as caught:
        service.verify(_sign(payload))
    assert str(caught.value) == message


def test_audience_refusals_have_their_fixed_phrases(service: TokenService) -> None:
    """Missing, malformed and foreign audiences each get their own phrase."""
    cases = [
        (b'{"exp": %d}' % (T + 60), "token lacks the required 'aud' claim"),
        (b'{"exp": %d, "aud": 5}' % (T + 60), "token aud claim is not a string or list of strings"),
        (b'{"exp": %d, "aud": "x"}' % (T + 60), "token audience is not accepted"),
    ]
    for payload, message in cases:
        with pytest.raises(InvalidToken) as caught:
            service.verify(_sign(payload), audience="api")
        assert str(caught.value) == message


def test_issue_refusals_name_the_fix(service: TokenService) -> None:
    """A non-positive ttl is a ValueError; one over max_token_ttl names the setting to raise."""
    from erp.errors import PolicyViolation

    with pytest.raises(ValueError, match=r"^ttl must be positive$"):
        service.issue({}, ttl=timedelta(0))
    with pytest.raises(PolicyViolation) as caught:
        service.issue({}, ttl=timedelta(hours=2))
    assert str(caught.value).endswith(
        "raise ERP_JWT_MAX_TOKEN_TTL_SECONDS first (keys are pruned by it)"
    )


def test_max_token_bytes_setting_range_is_inclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    """ERP_JWT_MAX_TOKEN_BYTES accepts 256 and 1 MiB, refuses 255 and 1 MiB + 1, in bytes."""
    from erp.errors import SettingError

    for good in ("256", "1048576"):
        monkeypatch.setenv("ERP_JWT_MAX_TOKEN_BYTES", good)
        assert TokenService(lambda: RING, policy=POLICY).max_token_bytes == int(good)
    for bad in ("255", "1048577"):
        monkeypatch.setenv("ERP_JWT_MAX_TOKEN_BYTES", bad)
        with pytest.raises(SettingError) as caught:
            TokenService(lambda: RING, policy=POLICY)
        assert str(caught.value).endswith("set it to a whole number from 256 to 1048576 bytes")


def test_service_defaults_and_argument_checks() -> None:
    """Intervals default to one second; max_token_bytes must be at least 1."""
    service = TokenService(lambda: RING, policy=POLICY)
    assert (service.check_interval_seconds, service.reload_interval_seconds) == (1.0, 1.0)
    assert TokenService(lambda: RING, policy=POLICY, max_token_bytes=1).max_token_bytes == 1
    with pytest.raises(ValueError, match=r"^max_token_bytes must be positive$"):
        TokenService(lambda: RING, policy=POLICY, max_token_bytes=0)


def test_ring_is_cached_for_the_check_interval_and_reload_calls_the_hook() -> None:
    """ring() reads once per interval; an unknown kid forces one reload, calling on_reload."""
    calls: list[str] = []
    now = [0.0]

    def loader() -> KeyRing:
        calls.append("load")
        return RING

    service = TokenService(
        loader,
        policy=POLICY,
        monotonic=lambda: now[0],
        check_interval_seconds=10,
        on_reload=lambda: calls.append("hook"),
    )
    service.ring()
    service.ring()
    assert calls == ["load"]
    now[0] = 10.0
    service.ring()
    assert calls == ["load", "load"]
    token = _sign(b'{"exp": %d}' % (T + 60), header=b'{"alg":"HS256","kid":"nope"}')
    with pytest.raises(UnknownKeyId):
        service.verify(token)
    assert calls == ["load", "load", "hook", "load"]


def test_header_depth_bound_is_four(service: TokenService) -> None:
    """A header nested 4 deep verifies; 5 deep is refused before the key is looked up."""
    four = b'{"alg":"HS256","kid":"k1","x":[[[1]]]}'
    assert service.verify(_sign(b'{"exp": %d}' % (T + 60), header=four))
    five = b'{"alg":"HS256","kid":"k1","x":[[[[1]]]]}'
    with pytest.raises(InvalidToken, match="nested"):
        service.verify(_sign(b'{"exp": %d}' % (T + 60), header=five))


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("!!!.e30.AAAA", "token header is not base64url-encoded JSON"),
        ("nodots", "not a JWT: expected three dot-separated segments"),
        (_sign(b"{}", header=b'{"alg":"HS256","kid":7}'), "token kid header must be a string"),
        (_sign(b"{}", header=b'{"alg":"none","kid":"k1"}'), "token algorithm is not allowed"),
        (_sign(b"{}", key=b"s" * 40), "token signature does not verify"),
        (_sign(b"{}")[:-2], "token signature does not verify"),
    ],
)
def test_format_refusals_have_fixed_phrases(
    service: TokenService, token: str, message: str
) -> None:
    """Each way the format or signature can fail has its own fixed phrase."""
    with pytest.raises(InvalidToken) as caught:
        service.verify(token)
    assert str(caught.value) == message


def test_wrong_type_and_wrong_issuer_have_fixed_phrases(service: TokenService) -> None:
    """A non-str token is a TypeError; a foreign issuer is InvalidToken with its own phrase."""
    with pytest.raises(TypeError, match=r"^token must be str$"):
        service.verify(b"a.b.c")  # type: ignore[arg-type]
    token = _sign(json.dumps({"exp": T + 60, "iss": "other"}).encode())
    with pytest.raises(InvalidToken) as caught:
        service.verify(token, issuer="erp")
    assert str(caught.value) == "token issuer is not accepted"
