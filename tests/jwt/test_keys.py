"""Asymmetric key material: known answers, round trips, refusals, no private member shown."""

from __future__ import annotations

import json
import pickle

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from erp.errors import WeakSecret
from erp.jwt.compact import b64url_decode, b64url_encode
from erp.jwt.keys import (
    ASYMMETRIC_ALGORITHMS,
    PRIVATE_MEMBERS,
    PrivateKey,
    UnusableKey,
    is_private_jwk_text,
    load_private_key,
    public_key_from_jwk,
    thumbprint,
)

# RFC 8037 appendix A.1 (private key), A.3 (thumbprint), A.4 (signature)
RFC8037_JWK = {  # pragma: allowlist secret (the published RFC 8037 A.1 example key)
    "kty": "OKP",
    "crv": "Ed25519",
    "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
}
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
RFC8037_SIGNING_INPUT = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
RFC8037_SIGNATURE = (
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)
# RFC 7638 section 3.1
RFC7638_RSA = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
    "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2"
    "QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6W"
    "eZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.fixture(scope="module", params=ASYMMETRIC_ALGORITHMS)
def key(request: pytest.FixtureRequest) -> PrivateKey:
    """One fresh key per algorithm (RSA at the 2048-bit minimum, to keep the suite fast)."""
    return PrivateKey.generate(request.param, rsa_bits=2048)


def _text(jwk: dict[str, str]) -> str:
    return json.dumps(jwk)


def test_rfc8037_key_loads_with_its_thumbprint() -> None:
    """The RFC 8037 A.1 key loads as EdDSA and has the A.3 thumbprint."""
    loaded = load_private_key(_text(RFC8037_JWK))
    assert (loaded.alg, loaded.thumbprint) == ("EdDSA", RFC8037_THUMBPRINT)


def test_rfc8037_signature_is_reproduced_and_verifies() -> None:
    """Signing the A.4 input gives the RFC's signature, and the public key verifies it."""
    loaded = load_private_key(_text(RFC8037_JWK))
    assert b64url_encode(loaded.sign(RFC8037_SIGNING_INPUT)).decode() == RFC8037_SIGNATURE
    signature = b64url_decode(RFC8037_SIGNATURE.encode())
    assert loaded.public.verify(signature, RFC8037_SIGNING_INPUT)


def test_rfc7638_rsa_thumbprint() -> None:
    """The RFC 7638 example key has the RFC's thumbprint (alg, kid and order ignored)."""
    assert thumbprint(RFC7638_RSA) == RFC7638_THUMBPRINT
    assert public_key_from_jwk(RFC7638_RSA).thumbprint == RFC7638_THUMBPRINT


def test_stored_text_round_trips(key: PrivateKey) -> None:
    """to_text then load gives the same key, bound to the same algorithm."""
    loaded = load_private_key(key.to_text())
    assert (key.alg, key.public.jwk()) == (loaded.alg, loaded.public.jwk())
    assert json.loads(key.to_text())["alg"] == key.alg


def test_signature_verifies_only_over_the_signed_bytes(key: PrivateKey) -> None:
    """A signature verifies over its data and not over altered data."""
    signature = key.sign(b"payload")
    assert key.public.verify(signature, b"payload")
    assert not key.public.verify(signature, b"payloae")


def test_public_jwk_has_no_private_member(key: PrivateKey) -> None:
    """The public JWK holds only public members, alg, use and kid."""
    jwk = key.public.jwk(kid="k1")
    assert not PRIVATE_MEMBERS & set(jwk)
    assert {"alg": key.alg, "use": "sig", "kid": "k1"}.items() <= jwk.items()


def test_repr_and_str_never_show_private_material(key: PrivateKey) -> None:
    """repr/str of keys name alg and thumbprint only; no private member value appears."""
    stored = json.loads(key.to_text())
    shown = repr(key) + str(key) + repr(key.public) + str(key.public)
    for name in PRIVATE_MEMBERS & set(stored):
        assert stored[name] not in shown
    assert key.thumbprint in repr(key)


def test_private_key_refuses_pickling(key: PrivateKey) -> None:
    """A private key cannot be pickled into caches or queues unnoticed."""
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_pyjwt_verifies_our_signature_and_we_verify_pyjwt(key: PrivateKey) -> None:
    """Tokens signed with our key verify in PyJWT; PyJWT's signatures verify with ours."""
    token = jwt.encode({"sub": "a"}, key.key, algorithm=key.alg)
    assert jwt.decode(token, key.public.key, algorithms=[key.alg]) == {"sub": "a"}
    head, body, sig = token.encode().split(b".")
    assert key.public.verify(b64url_decode(sig), head + b"." + body)


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_any_ed25519_key_round_trips(seed: bytes) -> None:
    """Every Ed25519 private key survives to_text and load unchanged."""
    key = PrivateKey("EdDSA", ed25519.Ed25519PrivateKey.from_private_bytes(seed))
    assert key == load_private_key(key.to_text())


def test_rsa_jwk_without_crt_members_is_completed() -> None:
    """An RSA private JWK with only n, e, d loads (the CRT members are optional)."""
    key = PrivateKey.generate("RS256", rsa_bits=2048)
    jwk = {
        k: v for k, v in json.loads(key.to_text()).items() if k not in ["p", "q", "dp", "dq", "qi"]
    }
    assert key == load_private_key(json.dumps(jwk))


def test_weak_rsa_refused_at_load_and_generate() -> None:
    """A 1024-bit RSA key is refused, private or public, naming the size."""
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the refusal under test
    text = PrivateKey("RS256", small).to_text()
    with pytest.raises(UnusableKey, match="1024 bits; at least 2048"):
        load_private_key(text, where="JWT_SECRETS['k1']")
    public = {k: v for k, v in json.loads(text).items() if k in ("kty", "n", "e")}
    with pytest.raises(UnusableKey, match="at least 2048"):
        public_key_from_jwk(public)
    with pytest.raises(ValueError, match="rsa_bits"):
        PrivateKey.generate("RS256", rsa_bits=1024)


def test_wrong_curve_refused() -> None:
    """ES256 is P-256 only and EdDSA Ed25519 only: other curves are refused."""
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-384",
        "x": b64url_encode(p384.x.to_bytes(48, "big")).decode(),
        "y": b64url_encode(p384.y.to_bytes(48, "big")).decode(),
    }
    with pytest.raises(UnusableKey, match="needs curve P-256"):
        public_key_from_jwk(jwk)
    with pytest.raises(UnusableKey, match="needs curve P-256"):
        public_key_from_jwk({**jwk, "crv": "secp256k1"})
    ed448 = {"kty": "OKP", "crv": "Ed448", "x": RFC8037_JWK["x"]}
    with pytest.raises(UnusableKey, match="needs curve Ed25519"):
        public_key_from_jwk(ed448)


def test_point_off_the_curve_refused() -> None:
    """A P-256 public key whose point is not on the curve is refused (invalid-curve attack)."""
    good = PrivateKey.generate("ES256").public.jwk()
    y = bytearray(b64url_decode(good["y"].encode()))
    y[-1] ^= 1
    with pytest.raises(UnusableKey, match="not valid"):
        public_key_from_jwk({**good, "y": b64url_encode(bytes(y)).decode()})


def test_alg_must_fit_the_key_type() -> None:
    """An ES256 alg on an Ed25519 key, or HS256 on any key, is refused."""
    with pytest.raises(UnusableKey, match="ES256 needs kty EC"):
        load_private_key(_text({**RFC8037_JWK, "alg": "ES256"}))
    with pytest.raises(UnusableKey, match="is not one of"):
        public_key_from_jwk({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_JWK["x"], "alg": "HS256"})
    with pytest.raises(UnusableKey, match="is for EdDSA, not RS256"):
        load_private_key(_text(RFC8037_JWK), alg="RS256")


def test_private_half_must_match_public_half() -> None:
    """A stored key whose public members belong to another key is refused."""
    other = PrivateKey.generate("EdDSA").public.jwk()
    with pytest.raises(UnusableKey, match="does not match"):
        load_private_key(_text({**RFC8037_JWK, "x": other["x"]}))
    es = json.loads(PrivateKey.generate("ES256").to_text())
    es2 = PrivateKey.generate("ES256").public.jwk()
    with pytest.raises(UnusableKey, match="does not match"):
        load_private_key(json.dumps({**es, "x": es2["x"], "y": es2["y"]}))


def test_malformed_text_refused_without_echo() -> None:
    """Non-JSON, non-object, bad base64url and oversize text are refused; no value echoed."""
    secret_d = RFC8037_JWK["d"]
    cases = [
        "{not json " + secret_d,
        "[1, 2]",
        _text({**RFC8037_JWK, "d": secret_d + "!"}),
        _text({**RFC8037_JWK, "pad": "x" * 20000}),
        _text({**RFC8037_JWK, "d": b64url_encode(b"short").decode()}),
    ]
    for text in cases:
        with pytest.raises(UnusableKey) as caught:
            load_private_key(text, where="JWT_SECRETS['k1']")
        assert secret_d not in str(caught.value)
        assert "JWT_SECRETS['k1']" in str(caught.value)


def test_unusable_key_is_a_weak_secret() -> None:
    """Refusals are WeakSecret (a ConfigError), so the CLI reports them as it does today."""
    assert issubclass(UnusableKey, WeakSecret)


def test_published_private_members_refused() -> None:
    """A 'public' JWK carrying d is refused, and the error does not echo it."""
    with pytest.raises(UnusableKey, match="private key members") as caught:
        public_key_from_jwk(RFC8037_JWK)
    assert RFC8037_JWK["d"] not in str(caught.value)


def test_other_uses_refused() -> None:
    """An encryption key (use: enc) is not a verification key."""
    with pytest.raises(UnusableKey, match="use 'enc'"):
        public_key_from_jwk({**RFC7638_RSA, "use": "enc"})


def test_private_jwk_text_is_told_apart_from_hmac_secrets() -> None:
    """Stored JWK text is recognised; generated HMAC secrets are not."""
    assert is_private_jwk_text(PrivateKey.generate("EdDSA").to_text())
    assert not is_private_jwk_text("x" * 64)
    assert not is_private_jwk_text("b64:" + "A" * 43)
    assert not is_private_jwk_text(json.dumps(PrivateKey.generate("EdDSA").public.jwk()))
