"""Operations docs/deploy.md describes, run for real: a vault mounted the way Kubernetes
mounts a Secret (a symlink into ..data/, swapped atomically on update) and picked up without
a restart; backup and restore of the vault and log, and what `audit verify` says after."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from erp.cli import main
from erp.jwt.rotation import rotate_key
from erp.secrets import SecretResolver, load_jwt_ring
from erp.security import TokenService
from erp.store.audit import AuditLog
from erp.store.vault import VaultFile


def publish(mount: Path, source: Path, version: str) -> None:
    """Update ``mount`` as the kubelet does: a new timestamped folder, then swap ..data."""
    folder = mount / f"..{version}"
    folder.mkdir()
    shutil.copy2(source, folder / "jwt_secrets.json")
    (folder / "jwt_secrets.json").chmod(0o440)
    staging = mount / "..data_tmp"
    staging.symlink_to(folder.name)
    os.replace(staging, mount / "..data")
    link = mount / "jwt_secrets.json"
    if not link.is_symlink():
        link.symlink_to("..data/jwt_secrets.json")


def service_for(path: Path) -> TokenService:
    """A long-lived token service over the vault file at ``path`` (environment ignored)."""
    resolver = SecretResolver.from_config(path, environ={})
    return TokenService(lambda: load_jwt_ring(resolver), on_reload=resolver.refresh)


def test_secret_mount_is_read_through_its_links_and_updates_without_restart(
    tmp_path: Path,
) -> None:
    """A pod verifies tokens of a key published after it started; old tokens stay valid."""
    source = VaultFile(tmp_path / "authoring" / "jwt_secrets.json")
    log = AuditLog(tmp_path / "authoring" / "rotation.log")
    rotate_key(vault=source, log=log)
    mount = tmp_path / "etc-erp"
    mount.mkdir()
    publish(mount, source.path, "2026_11_30_1")
    pod = service_for(mount / "jwt_secrets.json")
    before = pod.issue({"sub": "before"})

    rotate_key(vault=source, log=log)
    publish(mount, source.path, "2026_11_30_2")
    shutil.rmtree(mount / "..2026_11_30_1")  # the kubelet removes the old folder
    issuer = service_for(source.path)  # another replica, already on the new key
    after = issuer.issue({"sub": "after"})

    assert pod.verify(after)["sub"] == "after"
    assert pod.verify(before)["sub"] == "before"
    assert pod.ring().active.id == issuer.ring().active.id


def audit(*args: str) -> int:
    """`erp-secrets audit ARGS` in-process; its exit code."""
    try:
        code = main(["audit", *args])
    except SystemExit as exc:
        code = exc.code
    return int(code or 0)


@pytest.fixture
def live(tmp_path: Path) -> tuple[VaultFile, AuditLog, Path]:
    """A vault and log with two rotations, and an empty backup folder."""
    vault = VaultFile(tmp_path / "jwt_secrets.json")
    log = AuditLog(tmp_path / "logs" / "jwt_rotation.log")
    for _ in range(2):
        rotate_key(vault=vault, log=log)
    backup = tmp_path / "backup"
    backup.mkdir()
    return vault, log, backup


def test_restored_pair_verifies_and_rotation_continues(
    live: tuple[VaultFile, AuditLog, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Log and vault restored from the same backup: `audit verify` says intact; rotation goes on."""
    vault, log, backup = live
    shutil.copy2(log.path, backup / "log")
    shutil.copy2(vault.path, backup / "vault")
    rotate_key(vault=vault, log=log)
    shutil.copy2(backup / "vault", vault.path)
    shutil.copy2(backup / "log", log.path)
    assert audit("verify") == 0
    assert "2 entries, chain intact and matches the vault" in capsys.readouterr().out
    rotate_key(vault=vault, log=log)
    assert audit("verify") == 0


def test_log_backed_up_before_the_vault_is_repairable(
    live: tuple[VaultFile, AuditLog, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A rotation between the two copies: verify names the one entry, `audit repair` adds it."""
    vault, log, backup = live
    shutil.copy2(log.path, backup / "log")
    rotate_key(vault=vault, log=log)
    shutil.copy2(vault.path, backup / "vault")
    shutil.copy2(backup / "vault", vault.path)
    shutil.copy2(backup / "log", log.path)
    assert audit("verify") == 1
    assert "entry 3: recorded in the vault but not yet in the log" in capsys.readouterr().out
    assert audit("repair") == 0
    assert audit("verify") == 0


def test_vault_backed_up_before_the_log_is_reported_as_replaced(
    live: tuple[VaultFile, AuditLog, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Vault copied first: verify says the log was replaced, so back up the log first."""
    vault, log, backup = live
    shutil.copy2(vault.path, backup / "vault")
    rotate_key(vault=vault, log=log)
    shutil.copy2(log.path, backup / "log")
    shutil.copy2(backup / "vault", vault.path)
    shutil.copy2(backup / "log", log.path)
    assert audit("verify") == 1
    assert "does not match the log's" in capsys.readouterr().out
