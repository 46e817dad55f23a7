"""``fernet rotate`` on the vault: new primary, old key kept for reading, every step logged."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from erp.cli import cli
from erp.clock import FrozenClock
from erp.errors import ConfigError
from erp.fernet import key_fingerprint
from erp.fernet.rotation import fernet_status, rotate_fernet_key, vault_keys
from erp.store.audit import AuditLog
from erp.store.vault import META_KEY, VaultFile

from .conftest import KeyFactory


def test_first_rotate_creates_the_primary(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """On an empty vault, rotate creates FERNET_KEY and logs it by fingerprint."""
    result = rotate_fernet_key(vault=vault, log=log, clock=clock)
    doc = vault.read()
    keys = vault_keys(doc, "vault")
    assert keys.primary is not None
    assert keys.fallbacks == ()
    assert result.event is not None
    assert result.event["new"] == {"fingerprint": keys.primary.fingerprint}
    assert result.event["previous"] is None
    assert doc["FERNET_KEY_META"][keys.primary.fingerprint]["state"] == "primary"


def test_first_rotate_says_there_is_nothing_to_reencrypt(vault: VaultFile, log: AuditLog) -> None:
    """The first key encrypts nothing yet: no 'then run reencrypt'; the second rotate says it."""
    base = ["fernet", "rotate", "--vault", str(vault.path), "--log", str(log.path)]
    first = CliRunner().invoke(cli, base)
    assert first.exit_code == 0, first.output
    assert "nothing to re-encrypt" in first.output
    assert "reencrypt --db" not in first.output
    second = CliRunner().invoke(cli, base)
    assert second.exit_code == 0, second.output
    assert "then run 'erp-secrets fernet reencrypt --db URL ...'" in second.output
    assert "nothing to re-encrypt" not in second.output


def test_rotate_keeps_old_key_for_reading_newest_first(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """Each rotation puts the previous primary at the front of FERNET_FALLBACK_KEYS."""
    first = rotate_fernet_key(vault=vault, log=log, clock=clock).event
    clock.advance(60)
    second = rotate_fernet_key(vault=vault, log=log, clock=clock).event
    clock.advance(60)
    third = rotate_fernet_key(vault=vault, log=log, clock=clock).event
    assert first is not None
    assert second is not None
    assert third is not None
    keys = vault_keys(vault.read(), "vault")
    assert keys.primary is not None
    assert keys.primary.fingerprint == third["new"]["fingerprint"]
    assert [k.fingerprint for k in keys.fallbacks] == [
        second["new"]["fingerprint"],
        first["new"]["fingerprint"],
    ]
    assert third["fallbacks"] == [k.fingerprint for k in keys.fallbacks]


def test_rotation_log_holds_no_key_material(vault: VaultFile, log: AuditLog) -> None:
    """The log and the vault's audit head name fingerprints only; the chain verifies."""
    rotate_fernet_key(vault=vault, log=log)
    rotate_fernet_key(vault=vault, log=log)
    doc = vault.read()
    keys = vault_keys(doc, "vault")
    text = log.path.read_text()
    for key in [keys.primary, *keys.fallbacks]:
        assert key is not None
        assert key.key not in text
    assert [e["event"] for e in log.entries()] == ["fernet.rotate", "fernet.rotate"]
    assert log.verify(doc[META_KEY]["audit"]).ok


def test_rotate_adopts_the_environment_key(
    vault: VaultFile, log: AuditLog, monkeypatch: pytest.MonkeyPatch, new_key: KeyFactory
) -> None:
    """A FERNET_KEY that services use from the environment stays readable after a rotation."""
    env_key = new_key()
    monkeypatch.setenv("FERNET_KEY", env_key)
    result = rotate_fernet_key(vault=vault, log=log)
    keys = vault_keys(vault.read(), "vault")
    assert [k.key for k in keys.fallbacks] == [env_key]
    assert result.event is not None
    assert result.event["adopted_from_environment"] == key_fingerprint(env_key)


def test_rotate_to_a_given_key_and_refuse_a_reused_one(
    vault: VaultFile, log: AuditLog, new_key: KeyFactory
) -> None:
    """``--key-stdin`` stores the given key; giving a key already in the ring is refused."""
    chosen = new_key()
    runner = CliRunner()
    out = runner.invoke(
        cli,
        ["fernet", "rotate", "--vault", str(vault.path), "--log", str(log.path), "--key-stdin"],
        input=chosen + "\n",
    )
    assert out.exit_code == 0, out.output
    assert chosen not in out.output
    assert vault.read()["FERNET_KEY"] == chosen
    before = vault.path.read_bytes()
    with pytest.raises(ConfigError, match="already in the ring"):
        rotate_fernet_key(vault=vault, log=log, new_key=chosen)
    assert vault.path.read_bytes() == before


def test_rotate_rejects_a_malformed_new_key(vault: VaultFile, log: AuditLog) -> None:
    """A malformed key given to rotate changes nothing and logs nothing."""
    runner = CliRunner()
    out = runner.invoke(
        cli,
        ["fernet", "rotate", "--vault", str(vault.path), "--log", str(log.path), "--key-stdin"],
        input="short\n",
    )
    assert out.exit_code != 0
    assert not vault.path.exists()
    assert not log.path.exists()


def test_status_lists_fingerprints_and_sources(
    vault: VaultFile, log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fernet status`` shows roles, fingerprints and sources, never a key."""
    rotate_fernet_key(vault=vault, log=log)
    rotate_fernet_key(vault=vault, log=log)
    status = fernet_status(vault)
    assert [k.role for k in status.keys] == ["primary", "fallback"]
    doc = vault.read()
    out = CliRunner().invoke(cli, ["fernet", "status", "--vault", str(vault.path), "--json"])
    assert out.exit_code == 0
    assert doc["FERNET_KEY"] not in out.output
    assert json.loads(out.output)["keys"][0]["source"].startswith("FERNET_KEY in vault file")
