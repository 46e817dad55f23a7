"""Key pairs in the ring: made per policy, sign and verify by their own alg, publish, migrate."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import ECKey, OKPKey
from tests.jwt.jwks_helpers import JwksServer, Ticker

import erp.security
from erp.errors import InvalidToken, PolicyViolation, SettingError, WeakSecret
from erp.jwt.keyring import (
    Key,
    KeyRing,
    KeyState,
    RotationPolicy,
    generate_secret,
    promote,
    rotate,
    stage,
)
from erp.jwt.keys import PRIVATE_MEMBERS, PrivateKey, UnusableKey
from erp.jwt.remote import RemoteKeySet
from erp.jwt.rotation import load_ring, rotate_key
from erp.jwt.tokens import TokenService
from erp.store.audit import AuditLog
from erp.store.vault import VaultFile
from erp.testing import CliResult

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
STAGED = RotationPolicy(mode="staged", min_stage_period=timedelta(minutes=10))


def _service(ring: KeyRing) -> TokenService:
    return TokenService(lambda: ring, clock=lambda: NOW, policy=RotationPolicy())


def _claims() -> dict[str, Any]:
    return {"sub": "u1"}


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "RS256"])
def test_policy_alg_makes_a_key_pair_that_signs_with_its_own_alg(alg: str) -> None:
    """rotate under key_alg makes a key pair; issued tokens carry its alg and kid, and verify."""
    ring = rotate(KeyRing(), NOW, RotationPolicy(key_alg=alg)).ring
    assert ring.active.alg == alg
    assert ring.active.metadata()["alg"] == alg
    service = _service(ring)
    token = service.issue(_claims(), ttl=timedelta(minutes=5), now=NOW)
    assert jwt.get_unverified_header(token) == {"alg": alg, "kid": ring.active.id, "typ": "JWT"}
    assert service.verify(token, now=NOW)["sub"] == "u1"


def test_hs256_default_keeps_todays_format() -> None:
    """Without an alg the key is an HMAC secret and its metadata has no alg entry."""
    ring = rotate(KeyRing(), NOW, RotationPolicy()).ring
    assert ring.active.alg == "HS256"
    assert ring.active.private_key is None
    assert "alg" not in ring.active.metadata()
    assert not ring.active.secret.startswith("{")


def test_migration_ring_verifies_hmac_and_eddsa_tokens() -> None:
    """During HS256 -> EdDSA both old HMAC tokens and new EdDSA tokens verify."""
    old = rotate(KeyRing(), NOW, RotationPolicy()).ring
    hmac_token = _service(old).issue(_claims(), now=NOW)
    new = rotate(old, NOW, RotationPolicy(key_alg="EdDSA")).ring
    service = _service(new)
    eddsa_token = service.issue(_claims(), now=NOW)
    assert jwt.get_unverified_header(eddsa_token)["alg"] == "EdDSA"
    assert service.verify(hmac_token, now=NOW)["sub"] == "u1"
    assert service.verify(eddsa_token, now=NOW)["sub"] == "u1"


def _ed_ring() -> tuple[KeyRing, PrivateKey]:
    key = PrivateKey.generate("EdDSA")
    ring = KeyRing(
        (
            Key("hs", generate_secret(), KeyState.RETIRING, NOW, NOW, NOW),
            Key("ed", key.to_text(), KeyState.ACTIVE, NOW, NOW),
        )
    )
    return ring, key


def test_hs256_token_keyed_with_the_public_key_is_refused() -> None:
    """The classic confusion: HS256 MACed with the public key (PEM or JWK) under its kid."""
    ring, key = _ed_ring()
    pem = key.public.key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    jwk_text = json.dumps(key.public.jwk(kid="ed")).encode()
    service = _service(ring)
    for secret in (pem, jwk_text, key.public.key.public_bytes(Encoding.Raw, PublicFormat.Raw)):
        forged = _hs256(secret, kid="ed")
        with pytest.raises(InvalidToken, match="algorithm is not allowed"):
            service.verify(forged, now=NOW)


def _hs256(secret: bytes, *, kid: str) -> str:
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": "x", "exp": int(NOW.timestamp()) + 60}).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def test_es256_header_on_an_ed25519_key_is_refused() -> None:
    """A token signed by a P-256 key naming the Ed25519 kid is refused for its alg."""
    ring, _ = _ed_ring()
    other = PrivateKey.generate("ES256")
    exp = int(NOW.timestamp()) + 60
    forged = jwt.encode({"sub": "x", "exp": exp}, other.key, "ES256", headers={"kid": "ed"})
    with pytest.raises(InvalidToken, match="algorithm is not allowed"):
        _service(ring).verify(forged, now=NOW)


def test_alg_none_is_refused_for_a_key_pair() -> None:
    """An unsigned token (alg none) naming the Ed25519 kid is refused."""
    ring, _ = _ed_ring()
    exp = int(NOW.timestamp()) + 60
    unsigned = jwt.encode({"sub": "x", "exp": exp}, "", "none", headers={"kid": "ed"})
    with pytest.raises(InvalidToken):
        _service(ring).verify(unsigned, now=NOW)


def test_hmac_kid_refuses_an_eddsa_token() -> None:
    """An EdDSA token naming the HMAC key's kid is refused (the HMAC key verifies HS only)."""
    ring, key = _ed_ring()
    exp = int(NOW.timestamp()) + 60
    token = jwt.encode({"sub": "x", "exp": exp}, key.key, "EdDSA", headers={"kid": "hs"})
    with pytest.raises(InvalidToken, match="algorithm is not allowed"):
        _service(ring).verify(token, now=NOW)


def test_weak_rsa_in_the_vault_is_refused_at_load(vault: VaultFile) -> None:
    """A 1024-bit RSA key in JWT_SECRETS is refused naming the entry, never its value."""
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - refused
    text = PrivateKey("RS256", small).to_text()
    vault.write({"JWT_SECRETS": {"k1": text}, "JWT_SECRET_ID": "k1"})
    with pytest.raises(WeakSecret, match=r"\['k1'\]: RSA key is 1024 bits") as caught:
        load_ring(vault)
    assert isinstance(caught.value, UnusableKey)
    assert json.loads(text)["d"] not in str(caught.value)


def test_promote_waits_for_the_jwks_max_age() -> None:
    """A staged key pair is promoted only when min stage time exceeds the JWKS max-age."""
    ring = rotate(KeyRing(), NOW, RotationPolicy()).ring
    policy = RotationPolicy(mode="staged", key_alg="EdDSA", min_stage_period=timedelta(minutes=5))
    staged = stage(ring, NOW, policy).ring
    with pytest.raises(PolicyViolation, match="ERP_JWKS_MAX_AGE_SECONDS"):
        promote(staged, NOW + timedelta(hours=1), policy)
    longer = RotationPolicy(mode="staged", key_alg="EdDSA", min_stage_period=timedelta(minutes=10))
    with pytest.raises(PolicyViolation, match="promote it after"):
        promote(staged, NOW + timedelta(minutes=9), longer)
    assert promote(staged, NOW + timedelta(minutes=10), longer).ring.active.alg == "EdDSA"


def test_alg_setting_is_read_and_checked() -> None:
    """ERP_JWT_ALG picks the algorithm of new keys; an unknown one is a SettingError."""
    assert RotationPolicy.from_env({"ERP_JWT_ALG": "eddsa"}).key_alg == "EdDSA"
    assert RotationPolicy.from_env({}).key_alg == "HS256"
    with pytest.raises(SettingError, match="ERP_JWT_ALG"):
        RotationPolicy.from_env({"ERP_JWT_ALG": "none"})
    with pytest.raises(PolicyViolation):
        RotationPolicy(key_alg="HS512")


def test_security_jwks_and_tokens_from_the_vault(vault: VaultFile, log: AuditLog) -> None:
    """erp.security.jwks() publishes the vault's key pairs; issue/verify use them."""
    rotate_key(vault=vault, log=log, policy=RotationPolicy())
    rotate_key(vault=vault, log=log, policy=RotationPolicy(key_alg="ES256"))
    erp.secrets.reset()
    published = erp.security.jwks()
    ring = load_ring(vault)
    assert [k["kid"] for k in published["keys"]] == [ring.active.id]
    assert not PRIVATE_MEMBERS & set(published["keys"][0])
    token = erp.security.issue_token(_claims(), ttl=timedelta(minutes=1))
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    assert erp.security.verify_token(token)["sub"] == "u1"
    log_text = log.path.read_text()
    stored = json.loads(ring.active.secret)
    assert stored["d"] not in log_text
    assert stored["d"] not in repr(ring)


def test_cli_rotate_with_alg_and_jwks_out(
    erp_cli: Callable[..., CliResult], vault: VaultFile, tmp_path: Path
) -> None:
    """jwt rotate --alg EdDSA, then jwt jwks --out writes the public set with mode 0644,
    making its folder as the README's `--out public/jwks.json` on a fresh checkout needs."""
    assert erp_cli("jwt", "rotate").code == 0
    assert erp_cli("jwt", "rotate", "--alg", "EdDSA").code == 0
    out = tmp_path / "public" / "jwks.json"
    done = erp_cli("jwt", "jwks", "--out", str(out))
    assert done.code == 0, done.err
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    document = json.loads(out.read_text())
    ring = load_ring(vault)
    assert [k["kid"] for k in document["keys"]] == [ring.active.id]
    assert json.loads(ring.active.secret)["d"] not in out.read_text()
    printed = erp_cli("jwt", "jwks")
    assert json.loads(printed.out) == document


def test_cli_stage_with_alg(erp_cli: Callable[..., CliResult], vault: VaultFile) -> None:
    """jwt stage --alg ES256 stages a P-256 key pair behind the HMAC active key."""
    assert erp_cli("jwt", "rotate").code == 0
    assert erp_cli("jwt", "stage", "--alg", "ES256").code == 0
    ring = load_ring(vault)
    assert ring.staged is not None
    assert (ring.active.alg, ring.staged.alg) == ("HS256", "ES256")


def test_verify_token_with_remote_keys_accepts_pyjwt_and_joserfc_tokens(
    jwks_server: JwksServer, ticker: Ticker
) -> None:
    """verify_token(keys=RemoteKeySet) verifies tokens PyJWT and joserfc sign with keys of
    a JWK Set they publish."""
    pyjwt_key = ed25519.Ed25519PrivateKey.generate()  # signed and exported by PyJWT alone
    pyjwt_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(pyjwt_key.public_key()))
    joserfc_key = ECKey.generate_key("P-256", parameters={"kid": "jose"})
    okp = OKPKey.generate_key("Ed25519", parameters={"kid": "jose-ed"})
    jwks_server.publish(
        {
            "keys": [
                {**pyjwt_jwk, "kid": "pyjwt", "alg": "EdDSA"},
                {**joserfc_key.as_dict(private=False), "alg": "ES256"},
                {**okp.as_dict(private=False), "alg": "EdDSA"},
            ]
        }
    )
    keys = RemoteKeySet(jwks_server.url, monotonic=ticker, timeout_seconds=1.0)
    exp = int(datetime.now(UTC).timestamp()) + 300
    by_pyjwt = jwt.encode({"sub": "p", "exp": exp}, pyjwt_key, "EdDSA", headers={"kid": "pyjwt"})
    by_joserfc = joserfc_jwt.encode(
        {"alg": "ES256", "kid": "jose"}, {"sub": "j", "exp": exp}, joserfc_key
    )
    assert erp.security.verify_token(by_pyjwt, keys=keys)["sub"] == "p"
    assert erp.security.verify_token(by_joserfc, keys=keys)["sub"] == "j"
    with pytest.raises(InvalidToken):
        erp.security.verify_token(_hs256(b"k" * 32, kid="pyjwt"), keys=keys)
    assert jwks_server.hits == 1


def test_first_key_pair_token_after_migration_verifies_at_once() -> None:
    """A service caching an HMAC-only ring verifies the first EdDSA token after promote."""
    hmac_ring = rotate(KeyRing(), NOW, RotationPolicy()).ring
    migrated = rotate(hmac_ring, NOW, RotationPolicy(key_alg="EdDSA")).ring
    rings = [hmac_ring]
    loads: list[int] = []

    def loader() -> KeyRing:
        loads.append(1)
        return rings[-1]

    ticker = Ticker()
    service = TokenService(
        loader, clock=lambda: NOW, monotonic=ticker, check_interval_seconds=3600.0
    )
    hmac_token = service.issue(_claims(), now=NOW)
    forged = hmac_token[:-4] + ("AAAA" if not hmac_token.endswith("AAAA") else "BBBB")
    with pytest.raises(InvalidToken):
        service.verify(forged, now=NOW)
    assert len(loads) == 1  # a forged HMAC token never reloads
    rings.append(migrated)
    eddsa_token = _service(migrated).issue(_claims(), now=NOW)
    assert service.verify(eddsa_token, now=NOW)["sub"] == "u1"
    assert service.verify(hmac_token, now=NOW)["sub"] == "u1"
    assert len(loads) == 2


def test_cli_promote_refuses_while_stage_time_is_not_above_max_age(
    erp_cli: Callable[..., CliResult], vault: VaultFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stage time not above the JWKS max-age makes promote exit 1, naming both settings."""
    monkeypatch.setenv("ERP_JWT_MIN_STAGE_SECONDS", "0")
    monkeypatch.setenv("ERP_JWKS_MAX_AGE_SECONDS", "300")
    assert erp_cli("jwt", "rotate").code == 0
    assert erp_cli("jwt", "stage", "--alg", "EdDSA").code == 0
    done = erp_cli("jwt", "promote")
    assert done.code == 1
    assert "ERP_JWT_MIN_STAGE_SECONDS" in done.err
    assert "ERP_JWKS_MAX_AGE_SECONDS" in done.err
    assert load_ring(vault).staged is not None
    monkeypatch.setenv("ERP_JWKS_MAX_AGE_SECONDS", "1")
    monkeypatch.setenv("ERP_JWT_MIN_STAGE_SECONDS", "2")
    assert "promote it after" in erp_cli("jwt", "promote").err


def test_cli_status_shows_each_keys_algorithm(erp_cli: Callable[..., CliResult]) -> None:
    """jwt status names the algorithm of every key, so a migration can be followed."""
    assert erp_cli("jwt", "rotate").code == 0
    assert erp_cli("jwt", "rotate", "--alg", "ES256").code == 0
    out = erp_cli("jwt", "status").out
    assert "HS256" in out
    assert "ES256" in out
