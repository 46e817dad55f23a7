"""``erp-secrets check``: table and JSON output, exit codes monitoring acts on, --notify."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from erp.audit import AuditLog
from erp.cli import main
from erp.clock import FrozenClock
from erp.keyring import RotationPolicy
from erp.rotation.jwt import rotate_key
from erp.testing.alerts import Receiver, Reply
from erp.vault import VaultFile


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``erp-secrets check --no-aws ARGS`` in-process, as the console script does
    (``sys.exit(main())``): the exit code is main's return value or its SystemExit."""
    capsys.readouterr()
    try:
        code = main(["check", "--no-aws", *args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return int(code or 0), out, err


def rotated_days_ago(vault: VaultFile, log: AuditLog, days: float) -> None:
    clock = FrozenClock(datetime.now(UTC) - timedelta(days=days))
    rotate_key(vault=vault, log=log, policy=RotationPolicy(), clock=clock)


def test_nothing_configured_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    """No vault file and no AWS secret: nothing to check, a warning (3), and it says so."""
    code, out, _ = run(capsys)
    assert code == 3
    assert "nothing to check" in out


def test_fresh_key_exits_0(
    vault: VaultFile, log: AuditLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key rotated today: ok, with its next due date."""
    rotated_days_ago(vault, log, 0)
    code, out, _ = run(capsys)
    assert code == 0
    assert "ok  JWT key ring" in out


def test_key_due_soon_exits_3_and_json_says_warning(
    vault: VaultFile, log: AuditLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """25 days into a 30-day interval with the default 7-day look-ahead: warning (3)."""
    rotated_days_ago(vault, log, 25)
    code, out, _ = run(capsys, "--json")
    data = json.loads(out)
    assert (code, data["exit_code"], data["status"]) == (3, 3, "warning")
    assert [f["condition"] for f in data["findings"]] == ["rotation_due"]


def test_due_within_days_zero_silences_the_look_ahead(
    vault: VaultFile, log: AuditLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """--due-within-days 0 reports only what is already overdue."""
    rotated_days_ago(vault, log, 25)
    assert run(capsys, "--due-within-days", "0")[0] == 0


def test_overdue_key_exits_4(
    vault: VaultFile, log: AuditLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """Past the rotation interval: critical (4), shown in the table."""
    rotated_days_ago(vault, log, 40)
    code, out, _ = run(capsys)
    assert code == 4
    assert "rotation_overdue" in out


def test_vault_readable_by_others_exits_4(
    vault: VaultFile, log: AuditLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """chmod 644 on the vault: critical."""
    rotated_days_ago(vault, log, 0)
    os.chmod(vault.path, 0o644)
    code, out, _ = run(capsys, "--json")
    assert code == 4
    assert [f["condition"] for f in json.loads(out)["findings"]] == ["vault_permissions"]


def test_kubernetes_secret_mount_is_a_warning_that_says_so(
    vault: VaultFile, log: AuditLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A vault mounted as the kubelet mounts a Secret (a link into ..data/, mode 0440): exit
    3 with a warning naming the mount, not critical."""
    rotated_days_ago(vault, log, 0)
    mount = tmp_path / "etc-erp"
    (mount / "..2026_12_01").mkdir(parents=True)
    shutil.copy2(vault.path, mount / "..2026_12_01" / "jwt_secrets.json")
    (mount / "..2026_12_01" / "jwt_secrets.json").chmod(0o440)
    (mount / "..data").symlink_to("..2026_12_01")
    (mount / "jwt_secrets.json").symlink_to("..data/jwt_secrets.json")
    code, out, _ = run(capsys, "--json", "--vault", str(mount / "jwt_secrets.json"))
    assert code == 3, out
    findings = json.loads(out)["findings"]
    assert [(f["condition"], f["severity"]) for f in findings] == [("vault_permissions", "warning")]
    assert "Kubernetes Secret mount" in findings[0]["summary"]


def test_table_is_plain_text_without_rich(
    vault: VaultFile,
    log: AuditLog,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With rich, a bordered table; on a core install (no [rich] extra), plain lines."""
    rotated_days_ago(vault, log, 40)
    with_rich = run(capsys)[1]
    assert set("━│") <= set(with_rich), with_rich  # rich installed: the bordered table
    monkeypatch.setitem(sys.modules, "rich", None)
    code, out, err = run(capsys)
    assert code == 4, err
    lines = out.splitlines()
    assert lines[0].startswith("Rotation check at ")
    assert any(x.startswith("critical") and "rotation_overdue" in x for x in lines), out
    assert not set("┏━┃│") & set(out)  # no table borders: rich was not used


def test_negative_due_within_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Bad input: exit 2 with click's message."""
    assert run(capsys, "--due-within-days", "-1")[0] == 2


def test_notify_without_destination_exits_1_naming_the_secrets(
    vault: VaultFile, log: AuditLog, capsys: pytest.CaptureFixture[str]
) -> None:
    """--notify with nothing configured is a setup error that says what to set."""
    rotated_days_ago(vault, log, 40)
    code, _, err = run(capsys, "--notify")
    assert code == 1
    assert "ERP_PAGERDUTY_ROUTING_KEY" in err
    assert "ERP_SLACK_WEBHOOK_URL" in err


@pytest.fixture
def destinations(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, routing_key: str
) -> tuple[str, str]:
    """PagerDuty and Slack configured through the environment, pointing at the receiver."""
    webhook = receiver.url("/services/" + secrets.token_urlsafe(24))
    monkeypatch.setenv("ERP_PAGERDUTY_ROUTING_KEY", routing_key)
    monkeypatch.setenv("ERP_SLACK_WEBHOOK_URL", webhook)
    monkeypatch.setenv("ERP_PAGERDUTY_EVENTS_URL", receiver.url("/v2/enqueue"))
    monkeypatch.setenv("ERP_ALERT_MAX_ATTEMPTS", "1")  # the CLI's real sleep is never reached
    return routing_key, webhook


def test_notify_pages_once_and_resolves_after_rotation(
    vault: VaultFile,
    log: AuditLog,
    receiver: Receiver,
    destinations: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Overdue pages once, stays quiet, resolves after rotation; no secret is printed."""
    state = str(tmp_path / "alert_state.json")
    rotated_days_ago(vault, log, 40)
    first = run(capsys, "--notify", "--state", state, "--json")
    second = run(capsys, "--notify", "--state", state)
    rotate_key(vault=vault, log=log, policy=RotationPolicy())
    third = run(capsys, "--notify", "--state", state)
    assert [c for c, _, _ in (first, second, third)] == [4, 4, 0]
    pd = receiver.bodies("/v2/enqueue")
    assert [b["event_action"] for b in pd] == ["trigger", "resolve"]
    assert pd[0]["dedup_key"] == pd[1]["dedup_key"]
    assert len([r for r in receiver.requests if r.path.startswith("/services/")]) == 2
    notes = json.loads(first[1])["notifications"]
    assert [(n["destination"], n["ok"]) for n in notes] == [("pagerduty", True), ("slack", True)]
    printed = "".join(out + err for _, out, err in (first, second, third))
    for secret in destinations:
        assert secret not in printed


def test_undelivered_alert_exits_5_and_is_sent_next_run(
    vault: VaultFile,
    log: AuditLog,
    receiver: Receiver,
    destinations: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """PagerDuty answering 500: exit 5, a clear line, no secret; the next run delivers."""
    state = str(tmp_path / "alert_state.json")
    rotated_days_ago(vault, log, 40)
    receiver.script.append(Reply(500, "upstream down"))
    code, out, err = run(capsys, "--notify", "--state", state)
    assert code == 5
    assert "FAILED pagerduty trigger" in out
    assert "HTTP 500" in out
    for secret in destinations:
        assert secret not in out + err
    assert run(capsys, "--notify", "--state", state)[0] == 4
    triggers = [b for b in receiver.bodies("/v2/enqueue") if b["event_action"] == "trigger"]
    assert len(triggers) == 2  # the failed one and its successful retry


def test_exit_code_reaches_the_shell(vault: VaultFile, log: AuditLog) -> None:
    """Run as a real process, as cron or a monitoring agent would."""
    rotated_days_ago(vault, log, 40)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("erp-secrets")), "check", "--no-aws", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ},
        check=False,
    )
    assert done.returncode == 4, done.stderr
    assert json.loads(done.stdout)["status"] == "critical"
