"""The Fernet key ring: the runbook's commands, the key convention, rotate semantics, errors."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, MultiFernet
from hypothesis import given, settings
from hypothesis import strategies as st

from erp.errors import SecretNotFound
from erp.fernet import (
    FernetKeyError,
    FernetKeyRing,
    NoKeyOpens,
    Rotator,
    key_fingerprint,
    load_fernet_ring,
    parse_key,
)
from erp.secrets import SecretResolver
from erp.store.vault import VaultFile

from .conftest import KeyFactory


def _is_fernet_key(text: str) -> bool:
    return len(text) == 44 and len(base64.urlsafe_b64decode(text)) == 32


def test_runbook_one_liner_prints_a_fernet_key() -> None:
    """The runbook's ``python -c`` command works in the project environment."""
    code = "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert _is_fernet_key(out.stdout.strip())


def test_fernet_generate_prints_a_fresh_key_each_time() -> None:
    """``erp-secrets fernet generate`` does what the one-liner does."""
    from click.testing import CliRunner

    from erp.cli import cli

    runner = CliRunner()
    first = runner.invoke(cli, ["fernet", "generate"]).output.strip()
    second = runner.invoke(cli, ["fernet", "generate"]).output.strip()
    assert _is_fernet_key(first)
    assert _is_fernet_key(second)
    assert first != second


def test_multifernet_rotate_keeps_the_original_timestamp(new_key: KeyFactory) -> None:
    """``MultiFernet.rotate`` re-encrypts under the first key with the token's own timestamp."""
    old, new = Fernet(new_key()), Fernet(new_key())
    token = old.encrypt_at_time(b"value", 1_234_567_890)
    rotated = MultiFernet([new, old]).rotate(token)
    assert new.extract_timestamp(rotated) == 1_234_567_890
    assert new.decrypt(rotated) == b"value"


@pytest.mark.parametrize("fast", [True, False])
def test_rotator_matches_multifernet_rotate(new_key: KeyFactory, fast: bool) -> None:
    """Both rotate paths act as ``MultiFernet.rotate`` does, and return None when current."""
    primary, older, oldest = new_key(), new_key(), new_key()
    ring = FernetKeyRing.from_keys(primary, [older, oldest])
    rotator = Rotator(ring)
    assert rotator.fast  # the self-test passes on the installed cryptography
    rotator.fast = fast
    for key in (older, oldest):
        token = Fernet(key).encrypt_at_time(b"payload", 1_500_000_000)
        out = rotator(token)
        assert out is not None
        assert Fernet(primary).extract_timestamp(out) == 1_500_000_000
        assert Fernet(primary).decrypt(out) == b"payload"
    assert rotator(Fernet(primary).encrypt(b"x")) is None
    with pytest.raises(NoKeyOpens):
        rotator(Fernet(new_key()).encrypt(b"x"))
    with pytest.raises(NoKeyOpens):
        rotator("not a token")


_KEYS = [Fernet.generate_key().decode() for _ in range(4)]  # 0 primary, 1-2 old, 3 stranger


@settings(max_examples=60, deadline=None)
@given(
    stream=st.lists(
        st.tuples(st.integers(0, 3), st.binary(max_size=40), st.integers(0, 2**40)),
        max_size=30,
    ),
    fast=st.booleans(),
)
def test_rotator_agrees_with_multifernet_whatever_order_tokens_come_in(
    stream: list[tuple[int, bytes, int]], fast: bool
) -> None:
    """Trying the last opener's key first never changes an answer, over any token stream."""
    ring = FernetKeyRing.from_keys(_KEYS[0], _KEYS[1:3])
    multi = MultiFernet([Fernet(k) for k in _KEYS[:3]])
    rotator = Rotator(ring)
    rotator.fast = fast
    primary = Fernet(_KEYS[0])
    for which, plaintext, stamp in stream:
        token = Fernet(_KEYS[which]).encrypt_at_time(plaintext, stamp)
        if which == 3:
            with pytest.raises(NoKeyOpens):
                rotator(token)
            continue
        out = rotator(token)
        if which == 0:
            assert out is None
            continue
        assert out is not None
        assert primary.decrypt(out) == plaintext == primary.decrypt(multi.rotate(token))
        assert primary.extract_timestamp(out) == stamp


def test_rotator_keeps_ring_order_when_two_keys_share_a_signing_key(new_key: KeyFactory) -> None:
    """Keys that share their HMAC half would both "verify": then only the ring's order counts."""
    primary = base64.urlsafe_b64decode(new_key())
    twin = base64.urlsafe_b64encode(primary[:16] + bytes(16)).decode()  # same signing half
    old = new_key()
    ring = FernetKeyRing.from_keys(base64.urlsafe_b64encode(primary).decode(), [old, twin])
    rotator = Rotator(ring)
    assert not rotator._hinted
    for _ in range(3):  # a run of old tokens would otherwise move the hint off the primary
        assert rotator(Fernet(old).encrypt(b"x")) is not None
    assert rotator._hint == 0
    assert rotator(Fernet(base64.urlsafe_b64encode(primary)).encrypt(b"x")) is None


def test_ring_encrypts_with_primary_and_decrypts_with_every_key(new_key: KeyFactory) -> None:
    """The primary alone encrypts; fallbacks only decrypt; order is primary, then newest first."""
    primary, newer, older = new_key(), new_key(), new_key()
    ring = FernetKeyRing.from_keys(primary, [newer, older])
    assert ring.fingerprints() == [key_fingerprint(k) for k in (primary, newer, older)]
    token = ring.encrypt("hello")
    assert Fernet(primary).decrypt(token) == b"hello"
    assert ring.decrypt(Fernet(older).encrypt(b"old")) == "old"
    with pytest.raises(NoKeyOpens):
        ring.decrypt(Fernet(new_key()).encrypt(b"x"))


def test_fallback_list_drops_the_primary_and_repeats(new_key: KeyFactory) -> None:
    """A fallback equal to the primary or listed twice is tried once."""
    primary, old = new_key(), new_key()
    ring = FernetKeyRing.from_keys(primary, [old, primary, old])
    assert len(ring.keys) == 2


@settings(max_examples=50, deadline=None)
@given(text=st.text())
def test_encrypt_decrypt_round_trip(text: str) -> None:
    """Any text survives encrypt then decrypt."""
    ring = FernetKeyRing.from_keys(Fernet.generate_key().decode())
    assert ring.decrypt(ring.encrypt(text)) == text


def test_env_key_wins_over_vault(
    monkeypatch: pytest.MonkeyPatch, vault: VaultFile, new_key: KeyFactory
) -> None:
    """FERNET_KEY resolves environment first, then the vault; each name on its own."""
    env_key, vault_key, old = new_key(), new_key(), new_key()
    vault.path.write_text(f'{{"FERNET_KEY": "{vault_key}", "FERNET_FALLBACK_KEYS": "{old}"}}')
    resolver = SecretResolver.from_config(vault.path)
    ring = load_fernet_ring(resolver)
    assert ring.primary.key == vault_key
    assert ring.primary.source == f"FERNET_KEY in vault file {vault.path}"
    monkeypatch.setenv("FERNET_KEY", env_key)
    ring = load_fernet_ring(resolver)
    assert ring.primary.key == env_key
    assert ring.primary.source == "environment variable FERNET_KEY"
    assert [k.key for k in ring.fallbacks] == [old]


def test_missing_fernet_key_names_where_it_looked(vault: VaultFile) -> None:
    """No FERNET_KEY anywhere: one error naming the variable and the vault file."""
    with pytest.raises(SecretNotFound) as caught:
        load_fernet_ring(SecretResolver.from_config(vault.path))
    message = str(caught.value)
    assert "FERNET_KEY" in message
    assert str(vault.path) in message


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda k: k[:20], "decodes to 15 bytes, not 32"),
        (lambda k: "!" * 44, "not url-safe base64"),
        (lambda k: f"{k},{k}", "holds more than one key"),
    ],
)
def test_malformed_key_is_named_without_its_value(
    monkeypatch: pytest.MonkeyPatch, new_key: KeyFactory, make: object, expected: str
) -> None:
    """A malformed FERNET_KEY: the error names the variable and the fix, never the value."""
    bad = make(new_key())  # type: ignore[operator]
    monkeypatch.setenv("FERNET_KEY", bad)
    with pytest.raises(FernetKeyError) as caught:
        load_fernet_ring()
    message = str(caught.value)
    assert "environment variable FERNET_KEY" in message
    assert expected in message
    assert "fernet generate" in message or "FERNET_FALLBACK_KEYS" in message
    if bad.strip():
        assert bad not in message


def test_a_blank_fernet_key_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blank means unset (README): an unfilled template falls through to the next source."""
    monkeypatch.setenv("FERNET_KEY", "  ")
    with pytest.raises(SecretNotFound, match="FERNET_KEY"):
        load_fernet_ring()


def test_malformed_fallback_names_its_entry(
    monkeypatch: pytest.MonkeyPatch, new_key: KeyFactory
) -> None:
    """A bad key inside FERNET_FALLBACK_KEYS is named by its position."""
    monkeypatch.setenv("FERNET_KEY", new_key())
    monkeypatch.setenv("FERNET_FALLBACK_KEYS", f"{new_key()}, nonsense")
    with pytest.raises(FernetKeyError, match=r"FERNET_FALLBACK_KEYS \(entry 2\)"):
        load_fernet_ring()


def test_keys_never_appear_in_repr(new_key: KeyFactory) -> None:
    """Neither a key nor a ring shows key material in repr or str."""
    key = new_key()
    ring = FernetKeyRing.from_keys(key, [new_key()])
    assert key not in repr(ring)
    assert key not in str(parse_key(key, "x"))
    assert key not in repr(ring.primary)


def test_security_encrypt_decrypt_follow_the_vault(
    vault: VaultFile, log: object, new_key: KeyFactory, tmp_path: Path
) -> None:
    """``erp.security.encrypt``/``decrypt`` use FERNET_KEY from the vault and see a rotation."""
    import erp.secrets
    from erp import security
    from erp.fernet.rotation import rotate_fernet_key
    from erp.store.audit import AuditLog

    assert isinstance(log, AuditLog)
    rotate_fernet_key(vault=vault, log=log)
    erp.secrets.reset()
    token = security.encrypt("card 4242")
    assert security.decrypt(token) == "card 4242"
    rotate_fernet_key(vault=vault, log=log)
    erp.secrets.reset()
    assert security.decrypt(token) == "card 4242"  # the old key still reads
    fresh = security.encrypt("card 4242")
    primary = load_fernet_ring(SecretResolver.from_config(vault.path)).primary
    assert primary.fernet.decrypt(fresh) == b"card 4242"
    assert abs(primary.fernet.extract_timestamp(fresh) - time.time()) < 3600


@pytest.mark.parametrize(
    "position",
    [0, 1, 9, 30, -33, -1],
    ids=["version", "timestamp", "iv", "ciphertext", "last-ciphertext-byte", "hmac"],
)
def test_tampered_token_is_never_opened_nor_rotated(new_key: KeyFactory, position: int) -> None:
    """A flipped bit anywhere fails the HMAC: no decrypt, and rotate re-encrypts nothing."""
    old, new = new_key(), new_key()
    ring = FernetKeyRing.from_keys(new, [old])
    raw = bytearray(base64.urlsafe_b64decode(Fernet(old).encrypt(b"pay 100 to alice")))
    raw[position] ^= 0x01
    tampered = base64.urlsafe_b64encode(bytes(raw))
    with pytest.raises(NoKeyOpens):
        ring.decrypt(tampered)
    for fast in (True, False):
        rotator = Rotator(ring)
        rotator.fast = fast
        with pytest.raises(NoKeyOpens):
            rotator(tampered)


def test_tokens_interoperate_with_cryptography(new_key: KeyFactory) -> None:
    """Tokens the ring makes open with cryptography's Fernet, and the other way round."""
    key = new_key()
    ring = FernetKeyRing.from_keys(key)
    assert Fernet(key).decrypt(ring.encrypt("from erp")) == b"from erp"
    assert ring.decrypt(Fernet(key).encrypt(b"from cryptography")) == "from cryptography"
