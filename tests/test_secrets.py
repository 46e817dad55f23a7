"""get_secret and the JWT key ring: environment first, then vault file(s); clear errors."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import pytest

import erp.secrets
from erp.errors import KeyRingError, SecretNotFound, VaultCorrupt, WeakSecret
from erp.jwt.keyring import KeyState, generate_secret
from erp.secrets import (
    EnvSource,
    SecretResolver,
    SecretSource,
    VaultSource,
    get_secret,
    load_jwt_ring,
)
from erp.store.vault import VaultFile
from erp.testing import SecretSourceContract, Update


def _store(vault: VaultFile, doc: dict[str, Any]) -> None:
    with vault.locked():
        vault.write(doc)


class TestEnvSource(SecretSourceContract):
    """The environment (a mapping) as a secret source."""

    @pytest.fixture
    def source_and_update(self, tmp_path: Path) -> tuple[SecretSource, Update]:
        environ: dict[str, str] = {}
        return EnvSource(environ), environ.__setitem__


class TestVaultSource(SecretSourceContract):
    """A vault file as a secret source."""

    @pytest.fixture
    def source_and_update(self, tmp_path: Path) -> tuple[SecretSource, Update]:
        vault = VaultFile(tmp_path / "vault.json")

        def update(name: str, value: str) -> None:
            with vault.transaction() as doc:
                doc[name] = value

        # an hour between stats: only refresh() can make a change visible
        return VaultSource(vault.path, check_interval_seconds=3600), update


def test_environment_wins_over_the_vault_file(
    vault: VaultFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """get_secret returns the environment's value when both hold the name."""
    _store(vault, {"DB_PASSWORD": generate_secret()})
    from_env = generate_secret()
    monkeypatch.setenv("DB_PASSWORD", from_env)
    assert get_secret("DB_PASSWORD") == from_env


def test_vault_file_is_used_when_the_environment_lacks_the_name(vault: VaultFile) -> None:
    """get_secret falls back to the vault file named by ERP_VAULT_FILE."""
    value = generate_secret()
    _store(vault, {"DB_PASSWORD": value})
    assert get_secret("DB_PASSWORD") == value


def test_vault_path_argument_overrides_the_configured_file(tmp_path: Path) -> None:
    """get_secret(name, vault_path=...) reads that file instead of ERP_VAULT_FILE."""
    other = VaultFile(tmp_path / "other.json")
    value = generate_secret()
    _store(other, {"DB_PASSWORD": value})
    assert get_secret("DB_PASSWORD", vault_path=other.path) == value


def test_several_vault_files_are_searched_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ERP_VAULT_FILE may list files (os.pathsep); the first holding the name wins."""
    first, second = VaultFile(tmp_path / "a.json"), VaultFile(tmp_path / "b.json")
    shared, only_second = generate_secret(), generate_secret()
    _store(first, {"SHARED": shared})
    _store(second, {"SHARED": generate_secret(), "ONLY_B": only_second})
    monkeypatch.setenv("ERP_VAULT_FILE", os.pathsep.join([str(first.path), str(second.path)]))
    erp.secrets.reset()
    assert get_secret("SHARED") == shared
    assert get_secret("ONLY_B") == only_second


def test_missing_secret_names_every_place_looked(vault: VaultFile) -> None:
    """SecretNotFound lists the environment and the vault path, and says how to fix it."""
    with pytest.raises(SecretNotFound) as caught:
        get_secret("DB_PASSWORD")
    text = str(caught.value)
    assert "'DB_PASSWORD' not found" in text
    assert "environment variables" in text
    assert f"vault file {vault.path}" in text
    assert "Set the environment variable DB_PASSWORD" in text
    assert isinstance(caught.value, KeyError)


def test_corrupt_vault_file_is_reported_by_path(vault: VaultFile) -> None:
    """get_secret on a vault that does not parse raises VaultCorrupt naming the file."""
    vault.path.write_text("{not json")
    with pytest.raises(VaultCorrupt, match=str(vault.path)):
        get_secret("DB_PASSWORD")


def test_changed_vault_file_is_seen_without_restart(vault: VaultFile) -> None:
    """A rewrite of the vault file is picked up by the same resolver (stat check)."""
    _store(vault, {"DB_PASSWORD": generate_secret()})
    resolver = SecretResolver([EnvSource({}), VaultSource(vault.path, check_interval_seconds=0)])
    resolver.get("DB_PASSWORD")
    newer = generate_secret() + "-longer"
    _store(vault, {"DB_PASSWORD": newer})
    assert resolver.get("DB_PASSWORD") == newer


def test_warm_lookups_do_not_touch_the_file_until_refresh(vault: VaultFile) -> None:
    """Within the stat interval the cached document is served; refresh() forces a look."""
    _store(vault, {"DB_PASSWORD": generate_secret()})
    source = VaultSource(vault.path, check_interval_seconds=3600)
    first = source.lookup("DB_PASSWORD")
    newer = generate_secret()
    _store(vault, {"DB_PASSWORD": newer})
    assert source.lookup("DB_PASSWORD") == first
    source.refresh()
    assert source.lookup("DB_PASSWORD") == newer


def test_default_resolver_follows_erp_vault_file_after_reset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """reset() makes a changed ERP_VAULT_FILE take effect at once."""
    other = VaultFile(tmp_path / "moved.json")
    value = generate_secret()
    _store(other, {"DB_PASSWORD": value})
    monkeypatch.setenv("ERP_VAULT_FILE", str(other.path))
    erp.secrets.reset()
    assert get_secret("DB_PASSWORD") == value


def test_json_entries_come_back_as_json_text(vault: VaultFile) -> None:
    """A JSON object in the vault (JWT_SECRETS) is returned as JSON text."""
    secrets_map = {"k1": generate_secret()}
    _store(vault, {"JWT_SECRETS": secrets_map, "JWT_SECRET_ID": "k1"})
    assert json.loads(get_secret("JWT_SECRETS")) == secrets_map
    assert get_secret("JWT_SECRET_ID") == "k1"


def test_jwt_ring_loads_from_the_vault_with_states(vault: VaultFile) -> None:
    """load_jwt_ring reads JWT_SECRETS, JWT_SECRET_ID and the JWT_KEYS states from the vault."""
    secrets_map = {"old": generate_secret(), "new": generate_secret()}
    _store(
        vault,
        {
            "JWT_SECRETS": secrets_map,
            "JWT_SECRET_ID": "new",
            "JWT_KEYS": {"old": {"state": "retiring", "deactivated_at": "2026-11-25T10:00:00Z"}},
        },
    )
    ring = load_jwt_ring()
    assert ring.active.id == "new"
    assert ring.secrets_map() == secrets_map
    old = ring.get("old")
    assert old is not None
    assert old.state is KeyState.RETIRING
    assert old.deactivated_at is not None


def test_jwt_ring_loads_from_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """JWT_SECRETS (JSON map) and JWT_SECRET_ID work as environment variables."""
    secrets_map = {"a": generate_secret(), "b": generate_secret()}
    monkeypatch.setenv("JWT_SECRETS", json.dumps(secrets_map))
    monkeypatch.setenv("JWT_SECRET_ID", "b")
    ring = load_jwt_ring()
    assert ring.active.id == "b"
    assert ring.secrets_map() == secrets_map


def test_secret_id_from_environment_selects_a_key_from_the_vault(
    vault: VaultFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JWT_SECRET_ID set in the environment overrides the vault's, as get_secret's order says."""
    secrets_map = {"a": generate_secret(), "b": generate_secret()}
    _store(vault, {"JWT_SECRETS": secrets_map, "JWT_SECRET_ID": "b"})
    monkeypatch.setenv("JWT_SECRET_ID", "a")
    assert load_jwt_ring().active.id == "a"


def test_jwt_secrets_env_that_is_not_json_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """JWT_SECRETS holding no JSON is refused naming the variable and the expected shape."""
    monkeypatch.setenv("JWT_SECRETS", "k1=" + generate_secret())
    monkeypatch.setenv("JWT_SECRET_ID", "k1")
    with pytest.raises(KeyRingError) as caught:
        load_jwt_ring()
    text = str(caught.value)
    assert "environment variable JWT_SECRETS is not valid JSON" in text
    assert "must be an object" in text


@pytest.mark.parametrize("value", ['["a", "b"]', '"just-a-string"', "42"])
def test_jwt_secrets_env_that_is_not_a_map_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """JWT_SECRETS that is JSON but not an object is refused naming the variable."""
    monkeypatch.setenv("JWT_SECRETS", value)
    with pytest.raises(
        KeyRingError, match="environment variable JWT_SECRETS must be a JSON object"
    ):
        load_jwt_ring()


def test_jwt_secret_id_naming_no_key_is_refused_with_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """JWT_SECRET_ID naming no key in JWT_SECRETS is refused with the ids and the fix."""
    monkeypatch.setenv("JWT_SECRETS", json.dumps({"a": generate_secret()}))
    monkeypatch.setenv("JWT_SECRET_ID", "typo")
    with pytest.raises(KeyRingError) as caught:
        load_jwt_ring()
    text = str(caught.value)
    assert "JWT_SECRET_ID names key 'typo'" in text
    assert "environment variable JWT_SECRETS" in text
    assert "set JWT_SECRET_ID to one of those ids" in text


def test_weak_key_in_environment_is_refused_naming_the_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A key under 256 bits in JWT_SECRETS is refused naming the variable and key id."""
    monkeypatch.setenv("JWT_SECRETS", json.dumps({"k1": secrets.token_urlsafe(12)}))
    monkeypatch.setenv("JWT_SECRET_ID", "k1")
    with pytest.raises(WeakSecret) as caught:
        load_jwt_ring()
    assert "environment variable JWT_SECRETS['k1']" in str(caught.value)


def test_no_ring_anywhere_names_where_it_looked(vault: VaultFile) -> None:
    """Without JWT_SECRETS anywhere, SecretNotFound names the environment and the vault path."""
    with pytest.raises(SecretNotFound) as caught:
        load_jwt_ring()
    assert str(vault.path) in str(caught.value)
    assert "JWT_SECRETS" in str(caught.value)
