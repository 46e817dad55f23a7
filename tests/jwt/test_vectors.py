"""Known-answer vectors from the standards: RFC 7515 A.1, RFC 7519 3.1 and 6.1, RFC 7520 4.4."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import pytest

from erp.errors import InvalidToken, TokenExpired
from erp.jwt.compact import b64url_decode, decode_claims, verify_hmac
from erp.keyring import KeyRing, RotationPolicy
from erp.security import TokenService


def _binary_prefix() -> str | None:
    """The ring's explicit binary key form ("b64:" + base64url of the bytes), if it has one."""
    try:
        module = importlib.import_module("erp.jwt.keyring")
    except ImportError:  # pragma: no cover - before the jwt package held the ring
        return None
    prefix = getattr(module, "BINARY_PREFIX", None)
    return prefix if isinstance(prefix, str) else None


BINARY_PREFIX = _binary_prefix()

# RFC 7515 Appendix A.1 (also RFC 7519 section 3.1): HS256 under a 64-byte JWK "oct" key
A1_KEY_B64 = (
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
)
A1_TOKEN = (
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)
A1_HEADER = b'{"typ":"JWT",\r\n "alg":"HS256"}'
A1_PAYLOAD = b'{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}'
A1_CLAIMS = {"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}
A1_MAC = bytes(
    [
        *(116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186),
        *(22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121),
    ]
)
A1_EXP = datetime.fromtimestamp(1300819380, UTC)

# RFC 7519 section 6.1: the Unsecured JWT (alg "none") with the same claims
UNSECURED_TOKEN = (
    "eyJhbGciOiJub25lIn0"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    "."
)

# RFC 7520 section 4.4: HMAC-SHA2 integrity protection, with a kid (payload: plain text)
R7520_KID = "018c0ae5-4d9b-471b-bfd6-eef314bc7037"
R7520_KEY_B64 = "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg"
R7520_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9"
    ".SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb2"
    "50byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcg"
    "d2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4"
    ".s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0"
)
R7520_PAYLOAD = (
    "It\u2019s a dangerous business, Frodo, going out your door. You step onto the road, and "
    "if you don't keep your feet, there\u2019s no knowing where you might be swept off to."
).encode()

needs_binary_keys = pytest.mark.skipif(
    BINARY_PREFIX is None, reason="the key ring has no binary key form yet"
)


def _service(secret: str, key_id: str, leeway: timedelta) -> TokenService:
    """A token service over a one-key ring holding ``secret`` under ``key_id``."""
    ring = KeyRing.from_maps({key_id: secret}, key_id)
    policy = RotationPolicy(max_token_ttl=timedelta(hours=1), leeway=leeway)
    return TokenService(lambda: ring, policy=policy, monotonic=lambda: 0.0)


# -- the compact layer, with the binary keys themselves ------------------------------------


def test_rfc7515_a1_segments_decode_to_the_rfcs_octets() -> None:
    """The A.1 header and payload segments decode to exactly the octets the RFC lists."""
    header, payload, signature = A1_TOKEN.split(".")
    assert b64url_decode(header.encode()) == A1_HEADER
    assert b64url_decode(payload.encode()) == A1_PAYLOAD
    assert b64url_decode(signature.encode()) == A1_MAC


def test_rfc7515_a1_verifies_with_its_binary_key() -> None:
    """The A.1 JWS verifies under the JWK's 64 key bytes and yields the RFC's claims."""
    key = b64url_decode(A1_KEY_B64.encode())
    assert len(key) == 64
    header, payload = verify_hmac(A1_TOKEN, {"rfc7515-a1": key})
    assert dict(header) == {"typ": "JWT", "alg": "HS256"}
    assert payload == A1_PAYLOAD
    assert decode_claims(payload) == A1_CLAIMS


def test_rfc7520_4_4_verifies_with_its_kid_and_key() -> None:
    """The JOSE cookbook's HS256 example verifies under the key its kid names."""
    key = b64url_decode(R7520_KEY_B64.encode())
    header, payload = verify_hmac(R7520_TOKEN, {R7520_KID: key, "other": b"x" * 32})
    assert dict(header) == {"alg": "HS256", "kid": R7520_KID}
    assert payload == R7520_PAYLOAD


def test_rfc7515_a1_with_any_one_character_changed_is_refused() -> None:
    """Every single-character edit of the A.1 token fails (format, header or MAC)."""
    key = b64url_decode(A1_KEY_B64.encode())
    for i, char in enumerate(A1_TOKEN):
        if char == ".":
            continue
        edited = A1_TOKEN[:i] + ("B" if char == "A" else "A") + A1_TOKEN[i + 1 :]
        with pytest.raises(InvalidToken):
            verify_hmac(edited, {"rfc7515-a1": key})


def test_rfc7519_6_1_unsecured_jwt_is_refused_by_the_compact_layer() -> None:
    """The Unsecured JWT (alg none) is refused whatever key is offered."""
    with pytest.raises(InvalidToken, match="algorithm is not allowed"):
        verify_hmac(UNSECURED_TOKEN, {"k": b64url_decode(A1_KEY_B64.encode())})


# -- through the token service (verify_token's engine) -------------------------------------


@needs_binary_keys
def test_rfc7519_3_1_jwt_verifies_through_the_token_service() -> None:
    """RFC 7519 3.1's JWT verifies through TokenService with the key in binary form."""
    service = _service(f"{BINARY_PREFIX}{A1_KEY_B64}", "rfc7515-a1", timedelta(seconds=30))
    claims = service.verify(A1_TOKEN, now=A1_EXP - timedelta(minutes=5))
    assert claims == A1_CLAIMS


@needs_binary_keys
def test_rfc7519_3_1_jwt_expires_at_exactly_exp_without_leeway() -> None:
    """RFC 7519 4.1.4: on or after exp the token is refused; one second before, accepted."""
    service = _service(f"{BINARY_PREFIX}{A1_KEY_B64}", "rfc7515-a1", timedelta(0))
    assert service.verify(A1_TOKEN, now=A1_EXP - timedelta(seconds=1)) == A1_CLAIMS
    with pytest.raises(TokenExpired):
        service.verify(A1_TOKEN, now=A1_EXP)


@needs_binary_keys
def test_rfc7519_3_1_jwt_is_refused_today() -> None:
    """Verified against today's clock, the 2011 token has long expired."""
    service = _service(f"{BINARY_PREFIX}{A1_KEY_B64}", "rfc7515-a1", timedelta(seconds=30))
    with pytest.raises(TokenExpired):
        service.verify(A1_TOKEN)


@needs_binary_keys
def test_rfc7519_6_1_unsecured_jwt_is_refused_through_the_token_service() -> None:
    """The Unsecured JWT is refused before any key or claim is looked at."""
    service = _service(f"{BINARY_PREFIX}{A1_KEY_B64}", "rfc7515-a1", timedelta(seconds=30))
    with pytest.raises(InvalidToken, match="algorithm is not allowed"):
        service.verify(UNSECURED_TOKEN, now=A1_EXP - timedelta(minutes=5))


@needs_binary_keys
def test_rfc7520_4_4_payload_is_refused_as_jwt_claims() -> None:
    """The cookbook's MAC holds, but its payload is prose, not a claims object: refused."""
    service = _service(f"{BINARY_PREFIX}{R7520_KEY_B64}", R7520_KID, timedelta(seconds=30))
    with pytest.raises(InvalidToken, match="payload"):
        service.verify(R7520_TOKEN)
