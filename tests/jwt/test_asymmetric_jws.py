"""Compact JWS with key pairs: PyJWT's bytes, RFC 8037's vector, one test per known attack."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from erp.errors import InvalidToken, UnknownKeyId
from erp.jwt.asymmetric import read_header, sign, verify, verify_with
from erp.jwt.compact import MAX_HEADER_SEGMENT_BYTES
from erp.jwt.keys import ASYMMETRIC_ALGORITHMS, PrivateKey, PublicKey, load_private_key

KEYS: dict[str, PrivateKey] = {
    alg: PrivateKey.generate(alg, rsa_bits=2048) for alg in ASYMMETRIC_ALGORITHMS
}
ED = KEYS["EdDSA"]
RFC8037_JWK = {  # pragma: allowlist secret (the published RFC 8037 A.1 example key)
    "kty": "OKP",
    "crv": "Ed25519",
    "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
}
RFC8037_JWS = (
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _only(key: PublicKey) -> Any:
    def key_for(kid: str | None) -> PublicKey:
        if kid not in ("k1", None):
            raise UnknownKeyId(kid)
        return key

    return key_for


def test_rfc8037_a4_verifies() -> None:
    """RFC 8037 A.4's JWS verifies under the A.1 key and gives the A.4 payload."""
    key = load_private_key(json.dumps(RFC8037_JWK)).public
    header, payload = verify(RFC8037_JWS, _only(key))
    assert (header.alg, payload) == ("EdDSA", b"Example of Ed25519 signing")


def test_eddsa_tokens_are_pyjwts_bytes() -> None:
    """Ed25519 is deterministic: our token is byte for byte the one PyJWT writes."""
    claims = {"sub": "u1", "exp": 2_000_000_000, "name": "Zoë"}
    ours = sign(claims, ED, kid="k1")
    assert ours == jwt.encode(claims, ED.key, algorithm="EdDSA", headers={"kid": "k1"})


@pytest.mark.parametrize("alg", ASYMMETRIC_ALGORITHMS)
def test_round_trip_with_pyjwt_both_ways(alg: str) -> None:
    """Our tokens verify in PyJWT and PyJWT's verify here, for every algorithm."""
    key = KEYS[alg]
    claims = {"sub": "u1", "exp": 2_000_000_000}
    assert jwt.decode(sign(claims, key, kid="k1"), key.public.key, algorithms=[alg]) == claims
    theirs = jwt.encode(claims, key.key, algorithm=alg, headers={"kid": "k1"})
    assert json.loads(verify(theirs, _only(key.public))[1]) == claims


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=16), max_size=5))
def test_any_claims_round_trip(claims: dict[str, Any]) -> None:
    """Whatever JSON claims go in come out of verify unchanged."""
    token = sign(claims, ED, kid="k1")
    assert json.loads(verify(token, _only(ED.public))[1]) == claims


def _forge(header: dict[str, Any], signature: bytes = b"") -> str:
    head = _b64(json.dumps(header).encode())
    body = _b64(b'{"sub":"admin","exp":2000000000}')
    return f"{head}.{body}.{_b64(signature)}"


def test_alg_none_refused() -> None:
    """An unsigned token naming the key is refused for its algorithm."""
    with pytest.raises(InvalidToken, match="algorithm is not allowed"):
        verify(_forge({"alg": "none", "kid": "k1"}), _only(ED.public))


@pytest.mark.parametrize(
    "secret",
    [
        ED.public.key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        json.dumps(ED.public.jwk(kid="k1")).encode(),
        ED.public.key.public_bytes(Encoding.Raw, PublicFormat.Raw),
    ],
)
def test_hs256_keyed_with_the_public_key_refused(secret: bytes) -> None:
    """HMAC/public-key confusion: HS256 MACed with the published key is refused."""
    head = _b64(b'{"alg":"HS256","kid":"k1"}')
    body = _b64(b'{"sub":"admin"}')
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidToken, match="algorithm is not allowed"):
        verify(f"{head}.{body}.{_b64(mac)}", _only(ED.public))


def test_es256_header_on_an_ed25519_key_refused() -> None:
    """A valid ES256 token naming an Ed25519 key's kid is refused."""
    token = sign({"sub": "x"}, KEYS["ES256"], kid="k1")
    with pytest.raises(InvalidToken, match="algorithm is not allowed"):
        verify(token, _only(ED.public))


def test_tampered_payload_and_wrong_key_refused() -> None:
    """A changed payload, or another key of the same type, fails the signature."""
    token = sign({"sub": "u1"}, ED, kid="k1")
    head, _body, sig = token.split(".")
    admin = _b64(b'{"sub":"admin"}')
    tampered = f"{head}.{admin}.{sig}"
    with pytest.raises(InvalidToken, match="signature does not verify"):
        verify(tampered, _only(ED.public))
    with pytest.raises(InvalidToken, match="signature does not verify"):
        verify(token, _only(PrivateKey.generate("EdDSA").public))


def test_non_canonical_signature_refused() -> None:
    """A signature segment with padding or spare bits set is refused (one spelling only)."""
    token = sign({"sub": "u1"}, ED, kid="k1")
    with pytest.raises(InvalidToken):
        verify(token + "=", _only(ED.public))
    head, body, sig = token.split(".")
    flipped = sig[:-1] + ("B" if sig[-1] == "A" else "A")
    with pytest.raises(InvalidToken):
        verify(f"{head}.{body}.{flipped}", _only(ED.public))


def test_p256_der_signature_refused() -> None:
    """JWS ES256 signatures are raw R||S; a DER-encoded one is refused."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = KEYS["ES256"]
    assert isinstance(key.key, ec.EllipticCurvePrivateKey)
    head = _b64(b'{"alg":"ES256","kid":"k1"}')
    body = _b64(b'{"sub":"u1"}')
    der = key.key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidToken, match="signature does not verify"):
        verify(f"{head}.{body}.{_b64(der)}", _only(key.public))


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("a.b", "three dot-separated"),
        ("a.b.c.d", "three dot-separated"),
        ("é.b.c", "non-ASCII"),
        (_b64(b"[1]") + ".e30.", "not a JSON object"),
        (_b64(b'{"alg":"EdDSA","kid":7}') + ".e30.", "kid header must be a string"),
        # the HMAC path's rules, and joserfc's: no repeated member, no null kid, no 1e400
        (_b64(b'{"alg":"none","alg":"EdDSA"}') + ".e30.", "repeats a member name"),
        (_b64(b'{"alg":"EdDSA","kid":"x","kid":"k1"}') + ".e30.", "repeats a member name"),
        (_b64(b'{"alg":"EdDSA","kid":null}') + ".e30.", "kid header must be a string"),
        (_b64(b'{"alg":"EdDSA","typ":1e400}') + ".e30.", "not base64url-encoded JSON"),
        (_b64(b'{"alg":"EdDSA","crit":["exp"]}') + ".e30.", "crit"),
        (_b64(b'{"alg":"EdDSA","b64":false}') + ".e30.", "b64"),
        (_b64(b'{"alg":"EdDSA","x":' + b"[" * 10 + b"]" * 10 + b"}") + ".e30.", "JSON"),
        ("A" * (MAX_HEADER_SEGMENT_BYTES + 4) + ".e30.", "longer than"),
    ],
)
def test_malformed_tokens_refused_before_any_key_lookup(token: str, problem: str) -> None:
    """Format problems are refused by the header parse; the key is never looked up."""

    def never(kid: str | None) -> PublicKey:
        raise AssertionError("key looked up for a malformed token")

    with pytest.raises(InvalidToken, match=problem):
        verify(token, never)


def test_jku_and_jwk_headers_are_never_used() -> None:
    """A token carrying its own jwk/jku is still checked against the looked-up key only."""
    forger = PrivateKey.generate("EdDSA")
    head = {"alg": "EdDSA", "kid": "k1", "jwk": forger.public.jwk(), "jku": "http://x/"}
    token = sign({"sub": "admin"}, forger, kid="k1")
    _, body, _ = token.split(".")
    signing_input = f"{_b64(json.dumps(head).encode())}.{body}"
    forged = f"{signing_input}.{_b64(forger.sign(signing_input.encode()))}"
    assert read_header(forged).fields["jku"] == "http://x/"
    with pytest.raises(InvalidToken, match="signature does not verify"):
        verify_with(read_header(forged), ED.public)
