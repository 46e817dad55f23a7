"""One test per known JWT attack: each forged or stale token is rejected with InvalidToken."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from erp.clock import FrozenClock
from erp.errors import InvalidToken, TokenExpired, UnknownKeyId, WeakSecret
from erp.jwt.keyring import KeyRing, RotationPolicy, generate_secret, prune, rotate
from erp.security import TokenService

POLICY = RotationPolicy(max_token_ttl=timedelta(hours=1), leeway=timedelta(seconds=30))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _compact(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"


def _hs256(header: dict[str, Any], payload: dict[str, Any], key: bytes) -> str:
    """A token HMAC-signed by hand, so any key (even a PEM) and any header can be used."""
    signing_input = _compact(header, payload)
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _swap_segment(token: str, index: int, value: dict[str, Any]) -> str:
    parts = token.split(".")
    parts[index] = _b64(json.dumps(value, separators=(",", ":")).encode())
    return ".".join(parts)


def _decode_segment(token: str, index: int) -> dict[str, Any]:
    segment = token.split(".")[index]
    value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    assert isinstance(value, dict)
    return value


@pytest.fixture
def ring(clock: FrozenClock) -> KeyRing:
    """Two keys: a retiring one and the active one."""
    first = rotate(KeyRing(), clock(), POLICY).ring
    return rotate(first, clock(), POLICY).ring


@pytest.fixture
def service(ring: KeyRing, clock: FrozenClock) -> TokenService:
    """A verifier over ``ring`` on the frozen clock."""
    return TokenService(lambda: ring, policy=POLICY, clock=clock, monotonic=lambda: 0.0)


@pytest.fixture
def exp(clock: FrozenClock) -> int:
    """An expiry ten minutes ahead of the frozen clock."""
    return int(clock().timestamp()) + 600


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_alg_none_is_rejected(ring: KeyRing, service: TokenService, exp: int, alg: str) -> None:
    """An unsigned token (alg none, any spelling, empty signature) is refused."""
    token = _compact({"alg": alg, "typ": "JWT", "kid": ring.active.id}, {"exp": exp}) + "."
    with pytest.raises(InvalidToken):
        service.verify(token)


def test_rs256_token_is_rejected_even_with_our_kid(
    ring: KeyRing, service: TokenService, exp: int
) -> None:
    """A public-key algorithm (RS256) is outside the HMAC allow-list, whatever key signed it."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(
        {"exp": exp, "sub": "admin"}, private, algorithm="RS256", headers={"kid": ring.active.id}
    )
    with pytest.raises(InvalidToken, match="algorithm is not allowed"):
        service.verify(token)


def test_hmac_token_keyed_with_a_public_pem_is_rejected(
    ring: KeyRing, service: TokenService, exp: int
) -> None:
    """HS256 signed with a public key's PEM as the secret (algorithm confusion) fails to verify."""
    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = _hs256({"alg": "HS256", "kid": ring.active.id}, {"exp": exp, "sub": "admin"}, pem)
    with pytest.raises(InvalidToken, match="signature does not verify"):
        service.verify(token)


def test_public_pem_is_refused_as_a_ring_secret() -> None:
    """A public key placed in JWT_SECRETS is refused when the ring loads, naming the entry."""
    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(WeakSecret, match=r"JWT_SECRETS\['rsa'\] is a PEM"):
        KeyRing.from_maps({"rsa": pem}, "rsa")


def test_unknown_kid_is_rejected_after_one_reload(exp: int, clock: FrozenClock) -> None:
    """A kid no ring holds, even after the reload it triggers, gives UnknownKeyId."""
    ring = rotate(KeyRing(), clock(), POLICY).ring
    loads: list[int] = []

    def loader() -> KeyRing:
        loads.append(1)
        return ring

    service = TokenService(loader, policy=POLICY, clock=clock, monotonic=lambda: 0.0)
    token = jwt.encode({"exp": exp}, generate_secret(), algorithm="HS256", headers={"kid": "k-x"})
    with pytest.raises(UnknownKeyId, match="'k-x'"):
        service.verify(token)
    assert len(loads) == 2


def test_kid_path_injection_is_just_an_unknown_kid(service: TokenService, exp: int) -> None:
    """A kid shaped like a path or SQL is only looked up in the ring, never used elsewhere."""
    for kid in ("../../../dev/null", "' OR '1'='1", "x" * 5000):
        token = _hs256({"alg": "HS256", "kid": kid}, {"exp": exp}, b"")
        with pytest.raises(UnknownKeyId):
            service.verify(token)


def test_tampered_payload_is_rejected(ring: KeyRing, service: TokenService) -> None:
    """Changing a claim while keeping the signature breaks verification."""
    token = service.issue({"sub": "alice", "role": "user"})
    claims = _decode_segment(token, 1)
    forged = _swap_segment(token, 1, {**claims, "role": "admin"})
    with pytest.raises(InvalidToken, match="signature does not verify"):
        service.verify(forged)


def test_tampered_expiry_is_rejected(service: TokenService) -> None:
    """Extending exp by editing the payload breaks the signature."""
    token = service.issue({}, ttl=timedelta(minutes=1))
    claims = _decode_segment(token, 1)
    forged = _swap_segment(token, 1, {**claims, "exp": claims["exp"] + 86400})
    with pytest.raises(InvalidToken):
        service.verify(forged)


def test_tampered_header_kid_swap_is_rejected(ring: KeyRing, service: TokenService) -> None:
    """Pointing kid at another key of the ring makes the signature fail under that key."""
    token = service.issue({"sub": "alice"})
    other = next(k for k in ring.keys if k.id != ring.active.id)
    forged = _swap_segment(token, 0, {**_decode_segment(token, 0), "kid": other.id})
    with pytest.raises(InvalidToken, match="signature does not verify"):
        service.verify(forged)


def test_tampered_header_algorithm_is_rejected(service: TokenService) -> None:
    """Changing alg in the header (to another allowed HMAC or to none) is refused."""
    token = service.issue({})
    header = _decode_segment(token, 0)
    for alg in ("HS512", "none"):
        with pytest.raises(InvalidToken):
            service.verify(_swap_segment(token, 0, {**header, "alg": alg}))


def test_embedded_jwk_header_is_ignored(ring: KeyRing, service: TokenService, exp: int) -> None:
    """A token carrying its own key in a jwk header, signed with it, is not trusted."""
    attacker = secrets.token_bytes(32)
    jwk = {"kty": "oct", "k": _b64(attacker)}
    token = _hs256({"alg": "HS256", "kid": ring.active.id, "jwk": jwk}, {"exp": exp}, attacker)
    with pytest.raises(InvalidToken, match="signature does not verify"):
        service.verify(token)


def test_stripped_signature_is_rejected(service: TokenService) -> None:
    """A token with its signature removed is refused."""
    token = service.issue({})
    with pytest.raises(InvalidToken):
        service.verify(token.rsplit(".", 1)[0] + ".")


def test_expired_token_is_rejected(service: TokenService, clock: FrozenClock) -> None:
    """A correctly signed token past exp + leeway gives TokenExpired."""
    token = service.issue({}, ttl=timedelta(minutes=5))
    clock.advance(timedelta(minutes=5) + POLICY.leeway + timedelta(seconds=1))
    with pytest.raises(TokenExpired):
        service.verify(token)


@pytest.mark.parametrize("guess", ["secret", "changeme", "your-256-bit-secret", ""])
def test_token_signed_with_a_guessable_key_is_rejected(
    ring: KeyRing, service: TokenService, exp: int, guess: str
) -> None:
    """A forger using a common weak secret with our kid fails the signature check."""
    token = _hs256({"alg": "HS256", "kid": ring.active.id}, {"exp": exp}, guess.encode())
    with pytest.raises(InvalidToken, match="signature does not verify"):
        service.verify(token)


def test_weak_key_in_the_ring_is_refused_before_any_token_is_checked() -> None:
    """A ring holding a key under 256 bits does not load, so nothing verifies against it."""
    with pytest.raises(WeakSecret, match="at least 256 bits"):
        KeyRing.from_maps({"weak": secrets.token_urlsafe(16)}, "weak")


def test_token_from_a_pruned_key_is_rejected(clock: FrozenClock) -> None:
    """Once a key is pruned, even a fresh-looking token signed with it names an unknown key."""
    ring = rotate(KeyRing(), clock(), POLICY).ring
    old = ring.active
    ring = rotate(ring, clock(), POLICY).ring
    clock.advance(POLICY.max_token_ttl + POLICY.leeway + timedelta(seconds=1))
    ring = prune(ring, clock(), POLICY).ring
    assert old.id not in ring
    # a stolen old key cannot mint tokens that outlive its pruning
    now = int(clock().timestamp())
    token = jwt.encode({"exp": now + 600}, old.secret, algorithm="HS256", headers={"kid": old.id})
    service = TokenService(lambda: ring, policy=POLICY, clock=clock, monotonic=lambda: 0.0)
    with pytest.raises(UnknownKeyId):
        service.verify(token)
