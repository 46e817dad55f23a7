"""``erp-secrets jwt`` and ``erp-secrets audit``: a thin shell over the library, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from erp.cli import main
from erp.clock import FrozenClock
from erp.jwt.keyring import RotationPolicy
from erp.jwt.rotation import load_ring, rotate_key
from erp.store.audit import AuditLog
from erp.store.vault import META_KEY, VaultFile


@dataclass
class Ran:
    """What one CLI invocation did."""

    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    """Run ``erp-secrets ARGS`` in-process; return exit code, stdout and stderr."""

    def run(*args: str) -> Ran:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


def _doc(vault: VaultFile) -> dict[str, Any]:
    return json.loads(vault.path.read_text())  # type: ignore[no-any-return]


def _bytes(*paths: Path) -> list[bytes | None]:
    return [p.read_bytes() if p.exists() else None for p in paths]


def _aged_vault(vault: VaultFile, log: AuditLog, *ages: timedelta) -> None:
    """Rotations that happened ``ages`` ago (oldest first), on the real time line."""
    now = datetime.now(UTC)
    for age in ages:
        rotate_key(vault=vault, log=log, policy=RotationPolicy(), clock=FrozenClock(now - age))


def test_help_lists_every_command_group(cli: Any) -> None:
    """erp-secrets --help lists the jwt and audit groups with a one-line summary."""
    ran = cli("--help")
    assert ran.code == 0
    assert "jwt" in ran.out
    assert "Rotate, stage, promote and prune JWT signing keys." in ran.out
    assert "audit" in ran.out


def test_jwt_rotate_creates_and_then_flips_the_active_key(
    cli: Any, vault: VaultFile, log: AuditLog
) -> None:
    """jwt rotate writes the configured vault and log and reports the new id."""
    first = cli("jwt", "rotate")
    assert first.code == 0, first.err
    first_id = _doc(vault)["JWT_SECRET_ID"]
    assert f"JWT_SECRET_ID is now {first_id}" in first.out
    second = cli("jwt", "rotate")
    assert second.code == 0
    assert _doc(vault)["JWT_SECRET_ID"] != first_id
    assert f"previous key {first_id}" in second.out
    assert [e["seq"] for e in log.entries()] == [1, 2]


def test_jwt_rotate_honours_vault_and_log_flags(cli: Any, tmp_path: Path, vault: VaultFile) -> None:
    """--vault and --log send the rotation elsewhere than the configured paths."""
    other, other_log = tmp_path / "x" / "v.json", tmp_path / "x" / "r.log"
    assert cli("jwt", "rotate", "--vault", str(other), "--log", str(other_log)).code == 0
    assert other.exists()
    assert other_log.exists()
    assert not vault.path.exists()


def test_jwt_stage_then_promote_after_the_staging_period(
    cli: Any, vault: VaultFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stage adds a verify-only key; promote makes it active once min stage time has passed."""
    assert cli("jwt", "rotate").code == 0
    first = _doc(vault)["JWT_SECRET_ID"]
    staged = cli("jwt", "stage")
    assert staged.code == 0, staged.err
    assert "staged next key" in staged.out
    assert _doc(vault)["JWT_SECRET_ID"] == first
    monkeypatch.setenv("ERP_JWT_MIN_STAGE_SECONDS", "0")
    promoted = cli("jwt", "promote")
    assert promoted.code == 0, promoted.err
    doc = _doc(vault)
    assert doc["JWT_SECRET_ID"] != first
    assert doc["JWT_KEYS"][first]["state"] == "retiring"


def test_jwt_promote_too_early_is_refused_and_changes_nothing(
    cli: Any, vault: VaultFile, log: AuditLog
) -> None:
    """promote inside the staging period exits 1 saying when it becomes allowed."""
    assert cli("jwt", "rotate").code == 0
    assert cli("jwt", "stage").code == 0
    before = _bytes(vault.path, log.path)
    ran = cli("jwt", "promote")
    assert ran.code == 1
    assert ran.err.startswith("error: key ")
    assert "promote it after" in ran.err
    assert _bytes(vault.path, log.path) == before


def test_jwt_stage_twice_is_refused(cli: Any, vault: VaultFile) -> None:
    """A second stage before promote exits 1 and names the staged key."""
    assert cli("jwt", "rotate").code == 0
    assert cli("jwt", "stage").code == 0
    before = _bytes(vault.path)
    ran = cli("jwt", "stage")
    assert ran.code == 1
    assert "is already staged" in ran.err
    assert _bytes(vault.path) == before


def test_jwt_stage_without_a_vault_says_to_rotate_first(cli: Any, vault: VaultFile) -> None:
    """Missing vault file: stage exits 1 telling the user to run jwt rotate; no vault appears."""
    ran = cli("jwt", "stage")
    assert ran.code == 1
    assert "run 'erp-secrets jwt rotate' first" in ran.err
    assert not vault.path.exists()


def test_jwt_status_json_lists_every_key_with_state_and_prune_time(
    cli: Any, vault: VaultFile, log: AuditLog
) -> None:
    """status --json shows id, state, fingerprint, times and when each retiring key may go."""
    _aged_vault(vault, log, timedelta(hours=3), timedelta(hours=1))
    ran = cli("jwt", "status", "--json")
    assert ran.code == 0
    report = json.loads(ran.out)
    assert report["vault"] == str(vault.path)
    assert report["policy"] == "immediate"
    old, new = report["keys"]
    assert old["state"] == "retiring"
    assert old["prunable_at"] is not None
    assert new["state"] == "active"
    assert new["prunable_at"] is None
    assert set(new) == {
        "id",
        "state",
        "alg",
        "fingerprint",
        "created_at",
        "activated_at",
        "deactivated_at",
        "prunable_at",
    }


def test_jwt_status_table_shows_whole_ids_and_states(
    cli: Any, vault: VaultFile, log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The human table names each key by its full id, with state and prune time."""
    monkeypatch.setenv("COLUMNS", "200")
    _aged_vault(vault, log, timedelta(hours=3), timedelta(hours=1))
    ran = cli("jwt", "status")
    assert ran.code == 0
    for key in load_ring(vault).keys:
        assert key.id in ran.out
    assert "retiring" in ran.out
    assert "active" in ran.out
    assert "ago" in ran.out


def test_jwt_status_piped_at_80_columns_keeps_each_key_on_one_line(
    cli: Any, vault: VaultFile, log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Piped into another program, a key's id and fingerprint are never split across lines."""
    monkeypatch.setenv("COLUMNS", "80")
    _aged_vault(vault, log, timedelta(hours=3), timedelta(hours=1))
    ran = cli("jwt", "status")
    assert ran.code == 0
    for key in load_ring(vault).keys:
        (line,) = [line for line in ran.out.splitlines() if key.id in line]
        assert key.fingerprint in line
        assert key.state.value in line
        assert "HS256" in line


def test_jwt_status_json_names_each_keys_algorithm(
    cli: Any, vault: VaultFile, log: AuditLog
) -> None:
    """status --json carries the algorithm bound to each key (HS256 for a secret)."""
    _aged_vault(vault, log, timedelta(hours=3), timedelta(hours=1))
    report = json.loads(cli("jwt", "status", "--json").out)
    assert [key["alg"] for key in report["keys"]] == ["HS256", "HS256"]


def test_jwt_status_of_an_empty_vault_says_how_to_start(cli: Any, vault: VaultFile) -> None:
    """status without keys points at jwt rotate."""
    ran = cli("jwt", "status")
    assert ran.code == 0
    assert "no keys (run 'erp-secrets jwt rotate')" in ran.out


def test_jwt_prune_dry_run_shows_the_plan_and_changes_nothing(
    cli: Any, vault: VaultFile, log: AuditLog
) -> None:
    """prune --dry-run lists which keys would go or stay and writes nothing."""
    _aged_vault(vault, log, timedelta(hours=5), timedelta(hours=3), timedelta(minutes=10))
    before = _bytes(vault.path, log.path)
    ran = cli("jwt", "prune", "--dry-run")
    assert ran.code == 0
    lines = ran.out.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["remove", "keep"]
    assert "may go in" in lines[1]
    assert lines[-1] == "dry run: nothing changed"
    assert _bytes(vault.path, log.path) == before


def test_jwt_prune_removes_expired_keys_logs_them_and_prints_the_new_ids(
    cli: Any, vault: VaultFile, log: AuditLog
) -> None:
    """prune removes only keys past their prune time, logs jwt.prune and prints JWT_SECRET_ID."""
    _aged_vault(vault, log, timedelta(hours=5), timedelta(hours=3), timedelta(minutes=10))
    ids = [k.id for k in load_ring(vault).keys]
    ran = cli("jwt", "prune")
    assert ran.code == 0, ran.err
    assert list(_doc(vault)["JWT_SECRETS"]) == ids[1:]
    entry = log.entries()[-1]
    assert entry["event"] == "jwt.prune"
    assert [k["id"] for k in entry["removed"]] == [ids[0]]
    assert f"JWT_SECRETS now holds 2 key(s): {ids[1]}, {ids[2]}" in ran.out
    assert f"JWT_SECRET_ID={ids[2]}" in ran.out
    for secret in _doc(vault)["JWT_SECRETS"].values():
        assert secret not in ran.out


def test_jwt_prune_reveal_secrets_prints_the_new_map(
    cli: Any, vault: VaultFile, log: AuditLog
) -> None:
    """--reveal-secrets prints JWT_SECRETS as JSON for env-var deployments (only when asked)."""
    _aged_vault(vault, log, timedelta(hours=5), timedelta(hours=3), timedelta(minutes=10))
    ran = cli("jwt", "prune", "--reveal-secrets")
    assert ran.code == 0
    line = next(x for x in ran.out.splitlines() if x.startswith("JWT_SECRETS="))
    assert json.loads(line.removeprefix("JWT_SECRETS=")) == _doc(vault)["JWT_SECRETS"]


def test_jwt_prune_with_nothing_due_changes_nothing(
    cli: Any, vault: VaultFile, log: AuditLog
) -> None:
    """prune before any key is due says so and writes nothing."""
    _aged_vault(vault, log, timedelta(minutes=20), timedelta(minutes=10))
    before = _bytes(vault.path, log.path)
    ran = cli("jwt", "prune")
    assert ran.code == 0
    assert "nothing to prune" in ran.out
    assert _bytes(vault.path, log.path) == before


def test_jwt_commands_report_a_corrupt_vault_in_one_line(
    cli: Any, vault: VaultFile, log: AuditLog
) -> None:
    """rotate, stage, promote, prune and status on a corrupt vault exit 1 naming the file."""
    vault.path.parent.mkdir(parents=True, exist_ok=True)
    vault.path.write_text('{"JWT_SECRETS": ')
    before = _bytes(vault.path, log.path)
    for command in ("rotate", "stage", "promote", "prune", "status"):
        ran = cli("jwt", command)
        assert ran.code == 1, command
        assert ran.out == ""
        assert ran.err.count("\n") == 1
        assert ran.err.startswith(f"error: vault file {vault.path} is unusable: not valid JSON")
    assert _bytes(vault.path, log.path) == before


def test_audit_verify_reports_an_intact_chain(cli: Any, vault: VaultFile, log: AuditLog) -> None:
    """audit verify exits 0 and says the chain is intact and matches the vault."""
    _aged_vault(vault, log, timedelta(hours=1), timedelta(0))
    ran = cli("audit", "verify")
    assert ran.code == 0
    assert ran.out.strip() == f"{log.path}: 2 entries, chain intact and matches the vault"


def test_audit_verify_names_each_broken_line_and_exits_1(
    cli: Any, vault: VaultFile, log: AuditLog
) -> None:
    """An edited log makes audit verify exit 1 listing the line; the files are not touched."""
    _aged_vault(vault, log, timedelta(hours=2), timedelta(hours=1), timedelta(0))
    lines = log.path.read_text().splitlines(keepends=True)
    del lines[1]
    log.path.write_text("".join(lines))
    before = _bytes(vault.path, log.path)
    ran = cli("audit", "verify")
    assert ran.code == 1
    assert "1 problem(s) in 2 entries" in ran.out
    assert "line 2 (entry 3): entries 2..2 before it were deleted" in ran.out
    as_json = json.loads(cli("audit", "verify", "--json").out)
    assert as_json["ok"] is False
    assert as_json["problems"] == ["line 2 (entry 3): entries 2..2 before it were deleted"]
    assert _bytes(vault.path, log.path) == before


def test_audit_verify_names_the_one_incomplete_entry_and_repair_completes_it(
    cli: Any, vault: VaultFile, log: AuditLog
) -> None:
    """A vault ahead of its log: verify names that entry only; audit repair appends it."""
    _aged_vault(vault, log, timedelta(hours=1), timedelta(0))
    full = log.path.read_bytes()
    log.path.write_bytes(full[: full.rindex(b"\n", 0, len(full) - 1) + 1])
    report = json.loads(cli("audit", "verify", "--json").out)
    assert report["incomplete"] == 2
    assert len(report["problems"]) == 1
    repaired = cli("audit", "repair")
    assert repaired.code == 0
    assert "2 entries, intact" in repaired.out
    assert log.path.read_bytes() == full
    assert cli("audit", "verify").code == 0


def test_audit_repair_refuses_a_broken_chain(cli: Any, vault: VaultFile, log: AuditLog) -> None:
    """repair only completes an interrupted append; an edited log is refused in one line."""
    _aged_vault(vault, log, timedelta(hours=1), timedelta(0))
    log.path.write_text(log.path.read_text().replace('"seq":1', '"seq":1,"x":1', 1))
    before = _bytes(vault.path, log.path)
    ran = cli("audit", "repair")
    assert ran.code == 1
    assert ran.err.startswith(f"error: rotation log {log.path} fails verification")
    assert _bytes(vault.path, log.path) == before


def test_console_script_rotates_and_verifies(tmp_path: Path, vault: VaultFile) -> None:
    """The installed erp-secrets entry point runs jwt rotate and audit verify end to end."""
    env = dict(os.environ)
    for args in (["jwt", "rotate"], ["jwt", "rotate"], ["audit", "verify"]):
        done = subprocess.run(
            ["erp-secrets", *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    assert "2 entries, chain intact" in done.stdout
    assert len(_doc(vault)["JWT_SECRETS"]) == 2
    assert _doc(vault)[META_KEY]["audit"]["seq"] == 2


def test_console_script_errors_are_one_line_without_traceback(
    tmp_path: Path, vault: VaultFile
) -> None:
    """A failing command prints 'error: ...' once on stderr and exits 1, no traceback."""
    vault.path.write_text("[]")
    done = subprocess.run(
        ["erp-secrets", "jwt", "rotate"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"error: vault file {vault.path} is unusable: the top level must be a JSON object, "
        "not list. It was not modified; restore it from backup or fix it by hand, then retry."
    ]
