"""The runbook's JWT rotation promises.

1. Tokens signed with the previous key remain valid until they expire.
2. The rotation log contains the new secret id.
3. ``./scripts/rotate_jwt_secret.py`` updates the secrets file safely.

Every test that runs the script has ``rotate`` in its name, so the runbook's
``pytest tests/test_jwt_rotation.py -k rotate`` selects exactly those. They point the script
at a temp folder (``ERP_VAULT_FILE``/``ERP_ROTATION_LOG`` or ``--vault``/``--log``), never at
the project's own files.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from erp.clock import FrozenClock
from erp.errors import TokenExpired
from erp.jwt.keyring import KeyState, RotationPolicy, fingerprint, generate_secret
from erp.jwt.rotation import load_ring, prune_keys, rotate_key
from erp.security import TokenService
from erp.store.audit import AuditLog
from erp.store.vault import META_KEY, VaultFile

ReadOnly = Callable[[Path], contextlib.AbstractContextManager[None]]  # conftest fixture
SmallDisk = Callable[[Path], contextlib.AbstractContextManager[Path]]  # conftest fixture

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "rotate_jwt_secret.py"
POLICY = RotationPolicy(max_token_ttl=timedelta(hours=1), leeway=timedelta(seconds=30))


def run_script(
    *args: str, cwd: Path, env: dict[str, str] | None = None, python: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the runbook's ``./scripts/rotate_jwt_secret.py`` (through its shebang by default)."""
    command = [*python, str(SCRIPT)] if python else [str(SCRIPT)]
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        env=dict(os.environ) if env is None else env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _doc(vault: VaultFile) -> dict[str, Any]:
    return json.loads(vault.path.read_text())  # type: ignore[no-any-return]


def _kid(token: str) -> str:
    head = token.split(".")[0]
    kid = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]
    assert isinstance(kid, str)
    return kid


def _entries(log: AuditLog) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.path.read_text().splitlines()]


def _state(*paths: Path) -> dict[str, bytes | None]:
    """Bytes of each file and of everything else in their folders (lock files aside)."""
    out: dict[str, bytes | None] = {}
    for path in paths:
        out[str(path)] = path.read_bytes() if path.is_file() else None
        if path.parent.is_dir():
            for other in path.parent.iterdir():
                if other.is_file() and not other.name.endswith(".lock"):
                    out[str(other)] = other.read_bytes()
    return out


def _assert_one_clear_error(result: subprocess.CompletedProcess[str], *names: str) -> str:
    """Non-zero exit, nothing on stdout, one ``error:`` line on stderr naming ``names``."""
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    for name in names:
        assert name in lines[0]
    return lines[0]


# -- promise 1: tokens signed with the previous key stay valid until they expire -----------


def test_token_signed_with_previous_key_verifies_until_expiry(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """A token from the key a rotation retired verifies until exp + leeway, and not from then."""
    service = TokenService(
        lambda: load_ring(vault),
        policy=POLICY,
        clock=clock,
        monotonic=lambda: 0.0,
        check_interval_seconds=0,
    )
    rotate_key(vault=vault, log=log, policy=POLICY, clock=clock)
    token = service.issue({"sub": "u1"}, ttl=timedelta(minutes=30))
    old_id = load_ring(vault).active.id
    clock.advance(60)
    rotate_key(vault=vault, log=log, policy=POLICY, clock=clock)
    assert load_ring(vault).active.id != old_id
    clock.advance(timedelta(minutes=29) + POLICY.leeway - timedelta(seconds=1))
    assert service.verify(token)["sub"] == "u1"
    clock.advance(1)  # exactly exp + leeway: RFC 7519 4.1.4 "on or after" the expiry
    with pytest.raises(TokenExpired):
        service.verify(token)


def test_previous_key_is_kept_until_its_tokens_expire_then_pruned(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """Cleanup removes the old key only once deactivation + max TTL + leeway is reached."""
    rotate_key(vault=vault, log=log, policy=POLICY, clock=clock)
    old_id = load_ring(vault).active.id
    rotate_key(vault=vault, log=log, policy=POLICY, clock=clock)
    clock.advance(POLICY.max_token_ttl + POLICY.leeway - timedelta(seconds=1))
    assert prune_keys(vault=vault, log=log, policy=POLICY, clock=clock).event is None
    assert old_id in load_ring(vault)
    clock.advance(1)
    removed = prune_keys(vault=vault, log=log, policy=POLICY, clock=clock).event
    assert removed is not None
    assert [k["id"] for k in removed["removed"]] == [old_id]
    assert old_id not in load_ring(vault)
    assert old_id not in _doc(vault)["JWT_SECRETS"]


# -- promise 2: the rotation log contains the new secret id --------------------------------


def test_rotation_log_entry_names_new_and_previous_key_by_id_and_fingerprint(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """Each rotation appends an entry with the new id, the previous id and fingerprints only."""
    rotate_key(vault=vault, log=log, policy=POLICY, clock=clock, actor="ops")
    first = load_ring(vault).active
    rotate_key(vault=vault, log=log, policy=POLICY, clock=clock, actor="ops")
    second = load_ring(vault).active
    entry = _entries(log)[-1]
    assert entry["event"] == "jwt.rotate"
    assert entry["new"] == {"id": second.id, "fingerprint": fingerprint(second.secret)}
    assert entry["previous"] == {"id": first.id, "fingerprint": fingerprint(first.secret)}
    assert entry["actor"] == "ops"
    assert entry["host"]
    assert entry["seq"] == 2


# -- promise 3 and the script itself (every name holds "rotate") ---------------------------


def test_rotate_script_creates_vault_and_log_when_absent(
    tmp_path: Path, vault: VaultFile, log: AuditLog
) -> None:
    """The first run creates a 0600 vault with one active key and a one-line log."""
    result = run_script(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = _doc(vault)
    (key_id,) = doc["JWT_SECRETS"]
    assert doc["JWT_SECRET_ID"] == key_id
    assert doc["JWT_KEYS"][key_id]["state"] == "active"
    assert stat.S_IMODE(vault.path.stat().st_mode) == 0o600
    assert [e["new"]["id"] for e in _entries(log)] == [key_id]
    assert f"JWT_SECRET_ID is now {key_id}" in result.stdout


def test_rotate_script_appends_a_key_and_flips_jwt_secret_id(
    tmp_path: Path, vault: VaultFile
) -> None:
    """A second run adds a new key, points JWT_SECRET_ID at it and keeps the old one retiring."""
    assert run_script(cwd=tmp_path).returncode == 0
    before = _doc(vault)
    old_id = before["JWT_SECRET_ID"]
    result = run_script(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    after = _doc(vault)
    new_id = after["JWT_SECRET_ID"]
    assert new_id != old_id
    assert list(after["JWT_SECRETS"]) == [old_id, new_id]
    assert after["JWT_SECRETS"][old_id] == before["JWT_SECRETS"][old_id]
    assert after["JWT_KEYS"][old_id]["state"] == "retiring"
    assert after["JWT_KEYS"][new_id]["state"] == "active"
    assert len(after["JWT_SECRETS"][new_id].encode()) >= 32
    assert f"previous key {old_id}" in result.stdout


def test_rotate_script_log_contains_the_new_secret_id(
    tmp_path: Path, vault: VaultFile, log: AuditLog
) -> None:
    """After each run the log's last entry names the vault's new JWT_SECRET_ID; the chain holds."""
    for _ in range(3):
        assert run_script(cwd=tmp_path).returncode == 0
        entry = _entries(log)[-1]
        doc = _doc(vault)
        assert entry["event"] == "jwt.rotate"
        assert entry["new"]["id"] == doc["JWT_SECRET_ID"]
        assert entry["new"]["fingerprint"] == fingerprint(doc["JWT_SECRETS"][doc["JWT_SECRET_ID"]])
    assert [e["seq"] for e in _entries(log)] == [1, 2, 3]
    assert log.verify(_doc(vault)[META_KEY]["audit"]).ok


def test_rotate_script_keeps_tokens_of_the_previous_key_valid(
    tmp_path: Path, vault: VaultFile
) -> None:
    """A token issued before the script runs still verifies after it, in a running service."""
    assert run_script(cwd=tmp_path).returncode == 0
    service = TokenService(lambda: load_ring(vault), policy=POLICY, check_interval_seconds=0)
    token = service.issue({"sub": "u1"}, ttl=timedelta(minutes=10))
    assert run_script(cwd=tmp_path).returncode == 0
    assert service.verify(token)["sub"] == "u1"
    fresh = TokenService(lambda: load_ring(vault), policy=POLICY)
    assert fresh.verify(token)["sub"] == "u1"
    newer = fresh.issue({"sub": "u2"})
    assert _kid(newer) == _doc(vault)["JWT_SECRET_ID"]


def test_rotate_script_replaces_the_file_atomically_and_leaves_nothing_behind(
    tmp_path: Path, vault: VaultFile
) -> None:
    """The vault is renamed into place (new inode, 0600); no temp file stays in the folder."""
    assert run_script(cwd=tmp_path).returncode == 0
    inode = vault.path.stat().st_ino
    vault.path.chmod(0o644)
    assert run_script(cwd=tmp_path).returncode == 0
    assert vault.path.stat().st_ino != inode
    assert stat.S_IMODE(vault.path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert _doc(vault)[META_KEY]["generation"] == 2


def test_rotate_script_uses_the_working_directory_by_default(tmp_path: Path) -> None:
    """Without configuration it rotates ./jwt_secrets.json and logs to ./logs/jwt_rotation.log."""
    env = {k: v for k, v in os.environ.items() if k not in ("ERP_VAULT_FILE", "ERP_ROTATION_LOG")}
    work = tmp_path / "checkout"
    work.mkdir()
    result = run_script(cwd=work, env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads((work / "jwt_secrets.json").read_text())
    entries = (work / "logs" / "jwt_rotation.log").read_text().splitlines()
    assert json.loads(entries[-1])["new"]["id"] == doc["JWT_SECRET_ID"]


def test_rotate_script_rotates_a_hand_written_runbook_vault(
    tmp_path: Path, vault: VaultFile, log: AuditLog
) -> None:
    """A vault holding only JWT_SECRETS and JWT_SECRET_ID (the runbook's shape) is rotated."""
    old_secret = generate_secret()
    vault.path.write_text(json.dumps({"JWT_SECRETS": {"k1": old_secret}, "JWT_SECRET_ID": "k1"}))
    result = run_script(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = _doc(vault)
    assert doc["JWT_SECRETS"]["k1"] == old_secret
    assert doc["JWT_SECRET_ID"] != "k1"
    assert doc["JWT_KEYS"]["k1"]["state"] == "retiring"
    assert "deactivated_at" in doc["JWT_KEYS"]["k1"]  # its retirement clock starts now
    assert _entries(log)[-1]["previous"]["id"] == "k1"


def test_rotate_script_refuses_an_unknown_policy_variable(tmp_path: Path, vault: VaultFile) -> None:
    """ERP_JWT_POLICY set to nonsense is named in one error line; nothing is written."""
    env = {**os.environ, "ERP_JWT_POLICY": "weekly"}
    _assert_one_clear_error(run_script(cwd=tmp_path, env=env), "ERP_JWT_POLICY is 'weekly'")
    assert not vault.path.exists()


def test_rotate_script_flags_override_the_environment(tmp_path: Path, vault: VaultFile) -> None:
    """--vault and --log win over ERP_VAULT_FILE and ERP_ROTATION_LOG."""
    other_vault, other_log = tmp_path / "elsewhere" / "v.json", tmp_path / "elsewhere" / "r.log"
    result = run_script("--vault", str(other_vault), "--log", str(other_log), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert other_vault.exists()
    assert other_log.exists()
    assert not vault.path.exists()


def test_rotate_script_staged_policy_stages_the_next_key(tmp_path: Path, vault: VaultFile) -> None:
    """--policy staged: the second run stages a verify-only key and keeps the signer."""
    assert run_script("--policy", "staged", cwd=tmp_path).returncode == 0
    active = _doc(vault)["JWT_SECRET_ID"]
    result = run_script("--policy", "staged", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = _doc(vault)
    assert doc["JWT_SECRET_ID"] == active
    states = {k: v["state"] for k, v in doc["JWT_KEYS"].items()}
    assert sorted(states.values()) == ["active", "staged"]
    assert "staged next key" in result.stdout


def test_rotate_script_refuses_a_second_staged_rotation_too_early(
    tmp_path: Path, vault: VaultFile
) -> None:
    """Under the staged policy, rotating again before the staging period is refused, unchanged."""
    env = {**os.environ, "ERP_JWT_POLICY": "staged"}
    assert run_script(cwd=tmp_path, env=env).returncode == 0
    assert run_script(cwd=tmp_path, env=env).returncode == 0
    before = _state(vault.path)
    result = run_script(cwd=tmp_path, env=env)
    _assert_one_clear_error(result, "staged less than", "promote it after")
    assert _state(vault.path) == before


def test_rotate_script_help_describes_its_options(tmp_path: Path) -> None:
    """--help exits 0 and lists --vault, --log and --policy."""
    result = run_script("--help", cwd=tmp_path)
    assert result.returncode == 0
    for option in ("--vault", "--log", "--policy"):
        assert option in result.stdout


def test_rotate_script_without_the_package_says_how_to_install(tmp_path: Path) -> None:
    """Run by a python that cannot import erp, the script names the fix and exits 2."""
    result = run_script(cwd=tmp_path, python=[sys.executable, "-S"])
    assert result.returncode == 2
    assert "pip install -e ." in result.stderr
    assert "Traceback" not in result.stderr


# -- bad input: one clear error, non-zero exit, nothing changed on disk --------------------


def test_rotate_script_refuses_a_corrupt_vault_and_leaves_it_unchanged(
    tmp_path: Path, vault: VaultFile, log: AuditLog
) -> None:
    """A vault that is not JSON is named with the problem and left byte-for-byte as it was."""
    assert run_script(cwd=tmp_path).returncode == 0
    vault.path.write_bytes(vault.path.read_bytes()[:-20])
    before = _state(vault.path, log.path)
    line = _assert_one_clear_error(run_script(cwd=tmp_path), str(vault.path), "not valid JSON")
    assert "restore it from backup or fix it by hand" in line
    assert _state(vault.path, log.path) == before


def test_rotate_script_refuses_a_vault_that_is_a_folder(tmp_path: Path, vault: VaultFile) -> None:
    """A folder where the vault file should be is named as the problem."""
    vault.path.mkdir()
    _assert_one_clear_error(run_script(cwd=tmp_path), str(vault.path), "folder")


def test_rotate_script_refuses_jwt_secret_id_naming_no_key(
    tmp_path: Path, vault: VaultFile, log: AuditLog
) -> None:
    """JWT_SECRET_ID naming no key is refused with the ids present and the fix; no change."""
    assert run_script(cwd=tmp_path).returncode == 0
    doc = _doc(vault)
    doc["JWT_SECRET_ID"] = "k-typo"
    vault.path.write_text(json.dumps(doc))
    before = _state(vault.path, log.path)
    line = _assert_one_clear_error(
        run_script(cwd=tmp_path), "JWT_SECRET_ID names key 'k-typo'", str(vault.path)
    )
    assert "set JWT_SECRET_ID to one of those ids" in line
    assert _state(vault.path, log.path) == before


@pytest.mark.parametrize("value", [["a", "b"], "k1:abc", 42])
def test_rotate_script_refuses_jwt_secrets_that_is_not_a_map(
    tmp_path: Path, vault: VaultFile, value: object
) -> None:
    """JWT_SECRETS that is not a JSON object of id -> secret is refused; no change."""
    vault.path.write_text(json.dumps({"JWT_SECRETS": value, "JWT_SECRET_ID": "k1"}))
    before = _state(vault.path)
    _assert_one_clear_error(
        run_script(cwd=tmp_path), str(vault.path), "JWT_SECRETS must be a JSON object"
    )
    assert _state(vault.path) == before


def test_rotate_script_refuses_a_key_shorter_than_256_bits(
    tmp_path: Path, vault: VaultFile
) -> None:
    """A short key in the vault is refused naming the entry, the bit count and the fix."""
    weak = secrets.token_urlsafe(16)
    vault.path.write_text(
        json.dumps(
            {"JWT_SECRETS": {"k-weak": weak, "k-ok": generate_secret()}, "JWT_SECRET_ID": "k-ok"}
        )
    )
    before = _state(vault.path)
    line = _assert_one_clear_error(run_script(cwd=tmp_path), "'k-weak'", str(vault.path))
    assert "at least 256 bits" in line
    assert "Remove it from JWT_SECRETS" in line
    assert weak not in line
    assert _state(vault.path) == before


def test_rotate_script_refuses_a_log_whose_chain_is_broken(
    tmp_path: Path, vault: VaultFile, log: AuditLog
) -> None:
    """An edited log line stops the rotation, naming the log and the fix; nothing changes."""
    for _ in range(2):
        assert run_script(cwd=tmp_path).returncode == 0
    lines = log.path.read_text().splitlines(keepends=True)
    lines[0] = lines[0].replace('"seq":1', '"seq":1,"note":"edited"')
    log.path.write_text("".join(lines))
    before = _state(vault.path, log.path)
    line = _assert_one_clear_error(run_script(cwd=tmp_path), str(log.path), "content was edited")
    assert "restore the log from backup" in line
    assert _state(vault.path, log.path) == before


def test_rotate_script_refuses_a_read_only_folder(tmp_path: Path, read_only: ReadOnly) -> None:
    """A read-only folder gives one error naming the vault; the files keep their bytes."""
    folder = tmp_path / "ro"
    folder.mkdir()
    vault, log = folder / "jwt_secrets.json", folder / "logs" / "jwt_rotation.log"
    flags = ("--vault", str(vault), "--log", str(log))
    assert run_script(*flags, cwd=tmp_path).returncode == 0
    before = _state(vault, log)
    with read_only(folder):
        line = _assert_one_clear_error(run_script(*flags, cwd=tmp_path), str(vault))
    assert "read-only" in line
    assert "fix permissions" in line
    assert _state(vault, log) == before


def test_rotate_script_refuses_a_read_only_log_folder_before_changing_the_vault(
    tmp_path: Path,
    vault: VaultFile,
    log: AuditLog,
    read_only: ReadOnly,
) -> None:
    """A log folder that cannot be written stops the rotation before the vault is touched."""
    assert run_script(cwd=tmp_path).returncode == 0
    before = _state(vault.path, log.path)
    with read_only(log.path.parent):
        line = _assert_one_clear_error(run_script(cwd=tmp_path), str(log.path), "read-only")
    assert "Nothing was changed" in line
    assert _state(vault.path, log.path) == before


def test_rotate_script_refuses_on_a_full_disk(tmp_path: Path, small_disk: SmallDisk) -> None:
    """A full file system (a real 64 KiB tmpfs) gives 'the disk is full'; nothing changes."""
    with small_disk(tmp_path / "small") as folder:
        vault, log = folder / "jwt_secrets.json", folder / "logs" / "jwt_rotation.log"
        flags = ("--vault", str(vault), "--log", str(log))
        assert run_script(*flags, cwd=tmp_path).returncode == 0
        with contextlib.suppress(OSError), open(folder / "filler", "wb") as fh:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
        before = _state(vault, log)
        line = _assert_one_clear_error(run_script(*flags, cwd=tmp_path), str(vault))
        assert "the disk is full" in line
        assert _state(vault, log) == before
        assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []


def test_rotate_script_keys_and_log_match_after_many_runs(
    tmp_path: Path, vault: VaultFile, log: AuditLog
) -> None:
    """After several runs the vault holds one key per log entry and every id is logged."""
    for _ in range(4):
        assert run_script(cwd=tmp_path).returncode == 0
    doc = _doc(vault)
    logged = [e["new"]["id"] for e in _entries(log)]
    assert logged == list(doc["JWT_SECRETS"])
    states = [doc["JWT_KEYS"][k]["state"] for k in logged]
    assert states == [KeyState.RETIRING.value] * 3 + [KeyState.ACTIVE.value]
