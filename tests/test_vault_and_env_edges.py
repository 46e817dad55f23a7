"""Vault files and environment variables as careless hands leave them.

A vault linked from a release folder to a shared copy, a key id written twice, a BOM from a
Windows editor, a date typed as 9999, a blank variable from an unfilled template, a secret
of eleven CJK characters pasted where an id belongs, and a rotation landing between the
reads of one ring: each is either read as meant or refused with one sentence that names
the file and the fix, and no secret is shown.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from erp.errors import KeyRingError, VaultCorrupt
from erp.jwt.keyring import KeyRing, generate_secret, shown_id
from erp.secrets import EnvSource, SecretResolver, VaultSource, load_jwt_ring
from erp.store.vault import VaultFile


def _ring_doc(**extra: Any) -> dict[str, Any]:
    return {"JWT_SECRETS": {"k1": generate_secret()}, "JWT_SECRET_ID": "k1", **extra}


def test_a_linked_vault_is_rotated_in_its_target_and_stays_linked(tmp_path: Path) -> None:
    """A deploy that links jwt_secrets.json to a shared copy finds the rotation there."""
    shared = tmp_path / "shared" / "vault.json"
    shared.parent.mkdir()
    shared.write_text(json.dumps(_ring_doc()))
    release = tmp_path / "release"
    release.mkdir()
    link = release / "jwt_secrets.json"
    link.symlink_to(Path("..") / "shared" / "vault.json")

    vault = VaultFile(link)
    with vault.transaction() as doc:
        doc["JWT_SECRET_ID"] = "k2"
        doc["JWT_SECRETS"]["k2"] = generate_secret()

    assert link.is_symlink()
    assert json.loads(shared.read_text())["JWT_SECRET_ID"] == "k2"
    # a writer naming the target directly takes the same lock
    assert vault.lock_path == VaultFile(shared).lock_path
    assert not any(p.name.endswith(".tmp") for p in shared.parent.iterdir())


def test_a_key_id_written_twice_is_refused_and_the_file_kept(tmp_path: Path) -> None:
    first, second = generate_secret(), generate_secret()
    path = tmp_path / "jwt_secrets.json"
    text = f'{{"JWT_SECRETS": {{"k1": "{first}", "k1": "{second}"}}, "JWT_SECRET_ID": "k1"}}'
    path.write_text(text)
    with pytest.raises(VaultCorrupt, match="appears twice") as caught:
        VaultFile(path).read()
    assert first not in str(caught.value)
    assert second not in str(caught.value)
    assert path.read_text() == text


def test_a_repeated_name_in_the_jwt_secrets_variable_is_refused() -> None:
    first, second = generate_secret(), generate_secret()
    env = {"JWT_SECRETS": f'{{"k1": "{first}", "k1": "{second}"}}'}
    env["JWT_SECRET_ID"] = "k1"
    with pytest.raises(KeyRingError, match="appears twice"):
        load_jwt_ring(SecretResolver([EnvSource(env)]))


def test_a_vault_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "jwt_secrets.json"
    doc = _ring_doc()
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(doc).encode())
    assert VaultFile(path).read()["JWT_SECRETS"] == doc["JWT_SECRETS"]


@pytest.mark.parametrize("when", ["9999-12-31T23:59:00Z", "0001-01-01T00:00:00Z"])
def test_a_key_date_near_the_calendar_limits_is_one_sentence(tmp_path: Path, when: str) -> None:
    """It would overflow the policy's arithmetic later, in a command far from the typo."""
    path = tmp_path / "jwt_secrets.json"
    doc = _ring_doc(JWT_KEYS={"k1": {"created_at": when}})
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyRingError, match=r"JWT_KEYS\['k1'\] in .*jwt_secrets.json .*1970"):
        load_jwt_ring(SecretResolver([VaultSource(path)]))


def test_a_bad_jwt_keys_entry_names_its_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "jwt_secrets.json"
    doc = _ring_doc(JWT_KEYS={"k2": {"state": "retired"}})
    doc["JWT_SECRETS"]["k2"] = generate_secret()
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyRingError) as caught:
        load_jwt_ring(SecretResolver([VaultSource(path)]))
    message = str(caught.value)
    assert str(path) in message
    assert "'retiring'" in message


def test_a_vault_path_that_is_no_readable_file_points_at_the_setting(tmp_path: Path) -> None:
    """Nothing is damaged, so the fix is the setting (or the mode), not a backup."""
    path = tmp_path / "jwt_secrets.json"
    path.mkdir()
    with pytest.raises(VaultCorrupt, match="point ERP_VAULT_FILE at a regular file") as caught:
        VaultFile(path).read()
    assert "backup" not in str(caught.value)


@pytest.mark.parametrize("blank", ["", "   ", "\n"])
def test_a_blank_variable_is_unset_and_the_vault_decides(tmp_path: Path, blank: str) -> None:
    path = tmp_path / "jwt_secrets.json"
    path.write_text(json.dumps(_ring_doc()))
    env = EnvSource({"JWT_SECRET_ID": blank, "JWT_SECRETS": blank})
    assert load_jwt_ring(SecretResolver([env, VaultSource(path)])).active.id == "k1"


def test_a_key_id_from_a_file_loses_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "jwt_secrets.json"
    doc = _ring_doc()
    doc["JWT_SECRETS"]["k2"] = generate_secret()
    path.write_text(json.dumps(doc))
    env = EnvSource({"JWT_SECRET_ID": "k2\n"})  # JWT_SECRET_ID="$(cat id.txt)"
    assert load_jwt_ring(SecretResolver([env, VaultSource(path)])).active.id == "k2"


def test_a_short_multibyte_secret_pasted_as_an_id_is_never_shown() -> None:
    """Eleven CJK characters are 33 bytes: strong enough to sign with, so never echoed."""
    secret = "日本語のパスワード秘密"
    assert len(secret) < 32 <= len(secret.encode())
    assert secret not in shown_id(secret)
    env = {"JWT_SECRETS": json.dumps({"k1": secret}), "JWT_SECRET_ID": secret}
    with pytest.raises(KeyRingError) as caught:
        load_jwt_ring(SecretResolver([EnvSource(env)]))
    assert secret not in str(caught.value)
    with pytest.raises(KeyRingError) as reversed_map:
        KeyRing.from_maps({secret: "k1"}, "k1", check_strength=False)
    assert secret not in str(reversed_map.value)


def test_a_rotation_between_reads_never_tears_the_ring(tmp_path: Path) -> None:
    """The map, the active id and the metadata come from one snapshot of the file."""
    path = tmp_path / "jwt_secrets.json"
    old = _ring_doc()
    path.write_text(json.dumps(old))
    now = [0.0]
    source = VaultSource(path, check_interval_seconds=1.0)
    source.reader._monotonic = lambda: now[0]
    resolver = SecretResolver([EnvSource({}), source])
    assert load_jwt_ring(resolver).active.id == "k1"

    new = {"JWT_SECRETS": {"k2": generate_secret()}, "JWT_SECRET_ID": "k2"}
    lookup = source.lookup

    def rotation_lands_after_the_map_is_read(name: str) -> str | None:
        value = lookup(name)
        if name == "JWT_SECRETS":
            tmp = tmp_path / "next.json"
            tmp.write_text(json.dumps(new))
            os.replace(tmp, path)
            os.utime(path, ns=(1, 1))
            now[0] += 1.5  # and the re-check interval runs out right here
        return value

    source.lookup = rotation_lands_after_the_map_is_read  # type: ignore[method-assign]
    ring = load_jwt_ring(resolver)
    assert ring.active.id in ring.secrets_map()


def test_an_unknown_id_from_the_environment_says_where_it_was_set(tmp_path: Path) -> None:
    """The map is in the file, the id in a variable: the message names both places."""
    path = tmp_path / "jwt_secrets.json"
    path.write_text(json.dumps(_ring_doc()))
    env = EnvSource({"JWT_SECRET_ID": "k9"})
    with pytest.raises(KeyRingError, match="JWT_SECRET_ID is set in environment variables"):
        load_jwt_ring(SecretResolver([env, VaultSource(path)]))
