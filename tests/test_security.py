"""Issuing and verifying JWTs: known answer, round trip, PyJWT interop, claims, kid reloads."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erp.clock import FrozenClock
from erp.errors import (
    InvalidToken,
    PolicyViolation,
    SecretNotFound,
    TokenExpired,
    UnknownKeyId,
)
from erp.jwt.keyring import Key, KeyRing, KeyState, RotationPolicy, generate_secret, rotate, stage
from erp.jwt.rotation import load_ring, rotate_key
from erp.security import TokenService, issue_token, verify_token
from erp.store.audit import AuditLog
from erp.store.vault import VaultFile

POLICY = RotationPolicy(max_token_ttl=timedelta(hours=1), leeway=timedelta(seconds=30))

# The known-answer vector: a key derived from a fixed label (no secret literal in the tree).
KAT_KEY = hashlib.sha256(b"erp known-answer vector").hexdigest()
KAT_HEADER = b'{"alg":"HS256","kid":"k-kat","typ":"JWT"}'
KAT_PAYLOAD = b'{"sub":"user-42","role":"admin","iat":1795608000,"exp":1795608900}'
KAT_SIGNATURE = "CRPscAsmeITVc0jhoyQQztIq3oxVJh4VAwVx9x1GEy8"  # pragma: allowlist secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Counter:
    """A ring loader over a mutable ring that counts its calls."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self.calls = 0

    def __call__(self) -> KeyRing:
        self.calls += 1
        return self.ring


class Monotonic:
    """An injected monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _ring(clock: FrozenClock, rotations: int = 1) -> KeyRing:
    ring = KeyRing()
    for _ in range(rotations):
        ring = rotate(ring, clock(), POLICY).ring
    return ring


def _service(
    loader: Any, clock: FrozenClock, monotonic: Monotonic | None = None, **kwargs: Any
) -> TokenService:
    return TokenService(
        loader, policy=POLICY, clock=clock, monotonic=monotonic or Monotonic(), **kwargs
    )


def _header(token: str) -> dict[str, Any]:
    value = jwt.get_unverified_header(token)
    assert isinstance(value, dict)
    return value


def test_known_answer_vector() -> None:
    """A fixed key, claims and time produce exactly the expected token, bit for bit."""
    ring = KeyRing((Key("k-kat", KAT_KEY, KeyState.ACTIVE),))
    clock = FrozenClock(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    token = _service(lambda: ring, clock).issue(
        {"sub": "user-42", "role": "admin"}, ttl=timedelta(minutes=15)
    )
    signing_input = f"{_b64(KAT_HEADER)}.{_b64(KAT_PAYLOAD)}"
    assert token == f"{signing_input}.{KAT_SIGNATURE}"
    # the vector itself, recomputed with the standard library alone
    mac = hmac.new(KAT_KEY.encode(), signing_input.encode(), hashlib.sha256).digest()
    assert _b64(mac) == KAT_SIGNATURE


def test_issued_token_names_its_key_and_sets_iat_and_exp(clock: FrozenClock) -> None:
    """issue signs HS256 with the active key, kid = key id, iat = now, exp = now + ttl."""
    ring = _ring(clock, 2)
    token = _service(lambda: ring, clock).issue({"sub": "u1"}, ttl=timedelta(minutes=5))
    assert _header(token) == {"alg": "HS256", "kid": ring.active.id, "typ": "JWT"}
    claims = jwt.decode(
        token, ring.active.secret, algorithms=["HS256"], options={"verify_exp": False}
    )
    assert claims == {
        "sub": "u1",
        "iat": int(clock().timestamp()),
        "exp": int(clock().timestamp()) + 300,
    }


def test_ttl_defaults_to_and_may_not_exceed_max_token_ttl(clock: FrozenClock) -> None:
    """Without ttl a token lives max_token_ttl; a longer ttl is refused (pruning relies on it)."""
    service = _service(lambda: _ring(clock), clock)
    claims = service.verify(service.issue({}))
    assert claims["exp"] - claims["iat"] == POLICY.max_token_ttl.total_seconds()
    with pytest.raises(PolicyViolation, match="max_token_ttl"):
        service.issue({}, ttl=POLICY.max_token_ttl + timedelta(seconds=1))
    with pytest.raises(ValueError, match="positive"):
        service.issue({}, ttl=timedelta(0))


def test_claims_may_not_set_iat_or_exp(clock: FrozenClock) -> None:
    """issue refuses caller-set iat/exp: they come from the clock and ttl."""
    service = _service(lambda: _ring(clock), clock)
    with pytest.raises(ValueError, match="exp"):
        service.issue({"exp": 1})


def test_token_verifies_and_returns_its_claims(clock: FrozenClock) -> None:
    """A fresh token verifies and yields the claims it was issued with."""
    service = _service(lambda: _ring(clock), clock)
    claims = service.verify(service.issue({"sub": "u1", "scope": ["a", "b"]}))
    assert claims["sub"] == "u1"
    assert claims["scope"] == ["a", "b"]


@settings(max_examples=60, deadline=None)
@given(
    claims=st.dictionaries(
        st.text(min_size=1, max_size=12).filter(
            # registered claims whose type or meaning the service checks have their own tests
            lambda k: k not in ("iat", "exp", "nbf", "aud", "iss", "sub", "jti")
        ),
        st.recursive(
            st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=6,
    ),
    ttl_seconds=st.integers(1, 3600),
    elapsed_seconds=st.integers(0, 3600),
)
def test_round_trip_of_any_claims(
    claims: dict[str, Any], ttl_seconds: int, elapsed_seconds: int
) -> None:
    """Any JSON claims come back unchanged while the token lives, and are refused after."""
    clock = FrozenClock(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    service = _service(lambda: _ring(clock), clock)
    token = service.issue(claims, ttl=timedelta(seconds=ttl_seconds))
    clock.advance(elapsed_seconds)
    if elapsed_seconds < ttl_seconds + POLICY.leeway.total_seconds():
        out = service.verify(token)
        assert {k: v for k, v in out.items() if k not in ("iat", "exp")} == claims
    else:
        with pytest.raises(TokenExpired):
            service.verify(token)


def test_plain_pyjwt_verifies_our_tokens() -> None:
    """jwt.decode with the right key and HS256 accepts a token we issued."""
    ring = _ring(FrozenClock(datetime.now(UTC)))
    token = TokenService(lambda: ring, policy=POLICY).issue({"sub": "u1"}, ttl=timedelta(minutes=5))
    claims = jwt.decode(token, ring.active.secret, algorithms=["HS256"])
    assert claims["sub"] == "u1"


def test_we_verify_tokens_made_by_plain_pyjwt() -> None:
    """A token from jwt.encode with our key and kid verifies with TokenService."""
    ring = _ring(FrozenClock(datetime.now(UTC)))
    now = int(time.time())
    token = jwt.encode(
        {"sub": "u1", "iat": now, "exp": now + 300},
        ring.active.secret,
        algorithm="HS256",
        headers={"kid": ring.active.id},
    )
    assert TokenService(lambda: ring, policy=POLICY).verify(token)["sub"] == "u1"


def test_token_of_a_retiring_or_staged_key_verifies(clock: FrozenClock) -> None:
    """Every key still in the ring verifies its tokens, whatever its state."""
    old_ring = _ring(clock)
    old_token = _service(lambda: old_ring, clock).issue({"sub": "old"})
    ring = stage(rotate(old_ring, clock(), POLICY).ring, clock(), POLICY).ring
    staged = ring.staged
    assert staged is not None
    now = int(clock().timestamp())
    staged_token = jwt.encode(
        {"exp": now + 60}, staged.secret, algorithm="HS256", headers={"kid": staged.id}
    )
    service = _service(lambda: ring, clock)
    assert service.verify(old_token)["sub"] == "old"
    assert service.verify(staged_token)["exp"] == now + 60


def test_token_within_leeway_after_exp_verifies_and_beyond_is_expired(
    clock: FrozenClock,
) -> None:
    """exp is honoured with the policy's leeway: valid a second before exp + leeway, not at it."""
    service = _service(lambda: _ring(clock), clock)
    token = service.issue({}, ttl=timedelta(minutes=1))
    clock.advance(60 + 30 - 1)
    assert service.verify(token)
    clock.advance(1)
    with pytest.raises(TokenExpired, match="expired"):
        service.verify(token)


def test_leeway_is_configurable(clock: FrozenClock) -> None:
    """An explicit leeway replaces the policy's."""
    ring = _ring(clock)
    strict = _service(lambda: ring, clock, leeway=timedelta(0))
    token = strict.issue({}, ttl=timedelta(minutes=1))
    clock.advance(61)
    with pytest.raises(TokenExpired):
        strict.verify(token)
    assert _service(lambda: ring, clock, leeway=timedelta(seconds=5)).verify(token)


def test_token_without_exp_is_refused(clock: FrozenClock) -> None:
    """exp is required, even on a correctly signed token."""
    ring = _ring(clock)
    token = jwt.encode(
        {"sub": "u1"}, ring.active.secret, algorithm="HS256", headers={"kid": ring.active.id}
    )
    with pytest.raises(InvalidToken, match="'exp'"):
        _service(lambda: ring, clock).verify(token)


@pytest.mark.parametrize(
    ("claims", "problem"),
    [
        ({"exp": "tomorrow"}, "exp claim is not a number"),
        ({"exp": True}, "exp claim is not a number"),
        ({"nbf": "+60"}, "nbf claim is not a number"),
        ({"nbf": 60}, "not yet valid"),
        ({"iat": 120}, "issued in the future"),
    ],
)
def test_bad_time_claims_are_refused(
    clock: FrozenClock, claims: dict[str, Any], problem: str
) -> None:
    """exp/nbf/iat that are not numbers, or in the future beyond leeway, are refused."""
    ring = _ring(clock)
    now = int(clock().timestamp())
    body: dict[str, Any] = {"exp": now + 300}
    for name, value in claims.items():
        body[name] = (
            now + value if isinstance(value, int) and not isinstance(value, bool) else value
        )
    token = jwt.encode(body, ring.active.secret, algorithm="HS256", headers={"kid": ring.active.id})
    with pytest.raises(InvalidToken, match=problem):
        _service(lambda: ring, clock).verify(token)


def test_audience_and_issuer_are_checked_as_pyjwt_does(clock: FrozenClock) -> None:
    """aud must match the expected audience (and be absent when none is expected); iss too."""
    service = _service(lambda: _ring(clock), clock)
    token = service.issue({"aud": ["api", "web"], "iss": "erp"})
    assert service.verify(token, audience="api", issuer="erp")["iss"] == "erp"
    with pytest.raises(InvalidToken, match="audience is not accepted"):
        service.verify(token, audience="billing")
    with pytest.raises(InvalidToken, match="none is expected"):
        service.verify(token)
    with pytest.raises(InvalidToken, match="issuer"):
        service.verify(token, audience="api", issuer="someone-else")
    with pytest.raises(InvalidToken, match="lacks the required 'aud'"):
        service.verify(service.issue({}), audience="api")


def test_unknown_kid_reloads_the_ring_once_then_finds_a_new_key(clock: FrozenClock) -> None:
    """A kid this instance has not loaded yet triggers one reload, which finds it."""
    loader = Counter(_ring(clock))
    monotonic = Monotonic()
    service = _service(loader, clock, monotonic, check_interval_seconds=3600)
    service.ring()
    loader.ring = rotate(loader.ring, clock(), POLICY).ring  # another instance rotated
    newer = _service(lambda: loader.ring, clock).issue({"sub": "u1"})
    assert service.verify(newer)["sub"] == "u1"
    assert loader.calls == 2


def test_unknown_kid_reload_is_rate_limited(clock: FrozenClock) -> None:
    """A flood of unknown kids causes at most one reload per reload_interval_seconds."""
    loader = Counter(_ring(clock))
    monotonic = Monotonic()
    service = _service(
        loader, clock, monotonic, check_interval_seconds=3600, reload_interval_seconds=5
    )
    service.ring()
    forged = [
        jwt.encode({"exp": 2**40}, generate_secret(), algorithm="HS256", headers={"kid": f"x{i}"})
        for i in range(20)
    ]
    for token in forged:
        with pytest.raises(UnknownKeyId):
            service.verify(token)
    assert loader.calls == 2
    monotonic.now += 5
    with pytest.raises(UnknownKeyId) as caught:
        service.verify(forged[0])
    assert loader.calls == 3
    assert caught.value.kid == "x0"


def test_ring_is_reread_at_most_once_per_check_interval(clock: FrozenClock) -> None:
    """Verifying many tokens costs one ring load per check_interval_seconds."""
    loader = Counter(_ring(clock))
    monotonic = Monotonic()
    service = _service(loader, clock, monotonic, check_interval_seconds=1)
    token = service.issue({})
    for _ in range(50):
        service.verify(token)
    assert loader.calls == 1
    monotonic.now += 1
    service.verify(token)
    assert loader.calls == 2


def test_token_without_kid_verifies_only_against_a_single_key_ring(clock: FrozenClock) -> None:
    """No kid: accepted when the ring holds one key, refused when it holds several."""
    one = _ring(clock)
    now = int(clock().timestamp())
    token = jwt.encode({"exp": now + 60}, one.active.secret, algorithm="HS256")
    assert _service(lambda: one, clock).verify(token)
    two = rotate(one, clock(), POLICY).ring
    with pytest.raises(UnknownKeyId, match="no kid header"):
        _service(lambda: two, clock).verify(token)


def test_algorithm_allow_list_is_enforced(clock: FrozenClock) -> None:
    """A service allowing only HS512 refuses HS256 tokens; non-HMAC algorithms cannot be set."""
    ring = _ring(clock)
    hs256 = _service(lambda: ring, clock).issue({})
    hs512 = _service(lambda: ring, clock, algorithm="HS512")
    assert _header(hs512.issue({}))["alg"] == "HS512"
    with pytest.raises(InvalidToken, match="algorithm is not allowed"):
        hs512.verify(hs256)
    both = _service(lambda: ring, clock, allowed_algorithms=["HS256", "HS512"])
    assert both.verify(hs256)
    with pytest.raises(ValueError, match="algorithm"):
        _service(lambda: ring, clock, algorithm="RS256")
    with pytest.raises(ValueError, match="HMAC"):
        _service(lambda: ring, clock, allowed_algorithms=["HS256", "RS256"])


@pytest.mark.parametrize(
    "token", ["", "not-a-jwt", "a.b.c", "e30.e30.", "W10.e30.x", "!!!.e30.x", "eyJraWQiOjF9.e30.x"]
)
def test_malformed_tokens_are_refused_as_invalid(clock: FrozenClock, token: str) -> None:
    """Garbage, non-object headers and a non-string kid give InvalidToken, never a crash."""
    with pytest.raises(InvalidToken):
        _service(lambda: _ring(clock), clock).verify(token)


def test_non_string_token_is_a_programming_error(clock: FrozenClock) -> None:
    """Passing bytes is a TypeError (misuse), not a rejected token."""
    with pytest.raises(TypeError):
        _service(lambda: _ring(clock), clock).verify(b"a.b.c")  # type: ignore[arg-type]


def test_module_functions_use_the_configured_vault(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """issue_token/verify_token sign with the vault's active key (ERP_VAULT_FILE) and verify."""
    rotate_key(vault=vault, log=log, policy=POLICY)
    token = issue_token({"sub": "u1"}, ttl=timedelta(minutes=5))
    assert _header(token)["kid"] == load_ring(vault).active.id
    assert verify_token(token)["sub"] == "u1"


def test_module_functions_verify_old_tokens_after_a_rotation(
    vault: VaultFile, log: AuditLog
) -> None:
    """After a rotation, a token issued before it still verifies through verify_token."""
    rotate_key(vault=vault, log=log, policy=POLICY)
    token = issue_token({"sub": "u1"}, ttl=timedelta(minutes=5))
    rotate_key(vault=vault, log=log, policy=POLICY)
    assert verify_token(token)["sub"] == "u1"
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"] != (
        load_ring(vault).active.id
    )


def test_issue_right_after_the_first_rotation_does_not_use_a_cached_empty_ring(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """A service that cached an empty ring reloads once when asked to sign, and finds the key."""
    service = TokenService(
        lambda: load_ring(vault), policy=POLICY, clock=clock, monotonic=lambda: 0.0
    )
    assert len(service.ring()) == 0
    rotate_key(vault=vault, log=log, policy=POLICY, clock=clock)
    token = service.issue({"sub": "u1"})
    assert _header(token)["kid"] == load_ring(vault).active.id


def test_verify_token_without_any_key_source_names_where_it_looked(vault: VaultFile) -> None:
    """With no vault file and no JWT_SECRETS variable, verify_token says where it looked."""
    token = jwt.encode({"exp": 2**40}, generate_secret(), algorithm="HS256", headers={"kid": "k"})
    with pytest.raises(SecretNotFound) as caught:
        verify_token(token)
    assert f"vault file {vault.path}" in str(caught.value)
    assert "environment variables" in str(caught.value)
    assert not vault.path.exists()
