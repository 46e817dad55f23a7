"""The local check: JWT key age, retired and staged keys, vault file mode, Fernet keys."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet

from erp.alerts.check import CheckConfig, run_check
from erp.alerts.findings import Condition, Report, Severity
from erp.alerts.local import (
    LocalCheckOptions,
    check_fernet_document,
    check_jwt_ring,
    check_vault_mode,
)
from erp.audit import AuditLog
from erp.clock import FrozenClock, to_iso
from erp.keyring import KeyRing, RotationPolicy, fingerprint, generate_secret, rotate, stage
from erp.rotation.jwt import rotate_key, stage_key
from erp.vault import VaultFile

POLICY = RotationPolicy(rotation_interval=timedelta(days=30), max_token_ttl=timedelta(hours=1))
OPTIONS = LocalCheckOptions(due_within=timedelta(days=7), policy=POLICY)


def ring_rotated(clock: FrozenClock, times: int = 1) -> KeyRing:
    ring = KeyRing()
    for _ in range(times):
        ring = rotate(ring, clock(), POLICY).ring
    return ring


def conditions(report: Report) -> list[tuple[str, str]]:
    return sorted((f.condition.value, f.severity.value) for f in report.findings)


def test_fresh_key_has_no_findings_and_reports_its_due_date(
    clock: FrozenClock, tmp_path: Path
) -> None:
    """A key rotated today is 30 days from due: nothing to report, due date on the subject."""
    ring = ring_rotated(clock)
    report = check_jwt_ring(ring, tmp_path / "v.json", clock(), OPTIONS)
    assert report.findings == ()
    assert report.subjects[0].due_at == clock() + timedelta(days=30)


def test_key_due_within_the_window_is_a_warning(clock: FrozenClock, tmp_path: Path) -> None:
    """24 days after rotation, with a 7-day look-ahead, the key is due soon."""
    ring = ring_rotated(clock)
    clock.advance(timedelta(days=24))
    report = check_jwt_ring(ring, tmp_path / "v.json", clock(), OPTIONS)
    assert conditions(report) == [("rotation_due", "warning")]
    assert "due for rotation in 6 days" in report.findings[0].summary


def test_key_older_than_the_interval_is_overdue_and_critical(
    clock: FrozenClock, tmp_path: Path
) -> None:
    """31 days after rotation the key is overdue."""
    ring = ring_rotated(clock)
    clock.advance(timedelta(days=31))
    report = check_jwt_ring(ring, tmp_path / "v.json", clock(), OPTIONS)
    assert conditions(report) == [("rotation_overdue", "critical")]
    assert report.findings[0].due_at == clock() - timedelta(days=1)


def test_due_within_zero_reports_only_overdue(clock: FrozenClock, tmp_path: Path) -> None:
    """--due-within-days 0: a key due tomorrow is not reported yet."""
    ring = ring_rotated(clock)
    clock.advance(timedelta(days=29))
    options = replace(OPTIONS, due_within=timedelta(0))
    assert check_jwt_ring(ring, tmp_path / "v.json", clock(), options).findings == ()


def test_key_without_activation_time_is_reported_as_unknown_age(
    clock: FrozenClock, tmp_path: Path
) -> None:
    """A hand-made ring (no JWT_KEYS) cannot be aged: say so rather than guess."""
    ring = KeyRing.from_maps({"k1": generate_secret()}, "k1")
    report = check_jwt_ring(ring, tmp_path / "v.json", clock(), OPTIONS)
    assert conditions(report) == [("key_age_unknown", "warning")]


def test_retired_key_past_prune_time_is_reported(clock: FrozenClock, tmp_path: Path) -> None:
    """A retiring key whose tokens all expired (TTL + leeway) should have been pruned."""
    ring = ring_rotated(clock, times=2)
    retired = [k.id for k in ring.keys if k.state.value == "retiring"]
    clock.advance(timedelta(hours=2))
    report = check_jwt_ring(ring, tmp_path / "v.json", clock(), OPTIONS)
    assert conditions(report) == [("retiring_key_prunable", "warning")]
    assert report.findings[0].details["keys"] == retired


def test_retired_key_within_token_lifetime_is_not_reported(
    clock: FrozenClock, tmp_path: Path
) -> None:
    """Right after rotation the old key still verifies live tokens: that is correct."""
    ring = ring_rotated(clock, times=2)
    assert check_jwt_ring(ring, tmp_path / "v.json", clock(), OPTIONS).findings == ()


def test_staged_key_left_unpromoted_is_reported(clock: FrozenClock, tmp_path: Path) -> None:
    """Under the immediate policy a staged key is promoted within minutes; two days is stale."""
    ring = stage(ring_rotated(clock), clock(), POLICY).ring
    clock.advance(timedelta(days=2))
    report = check_jwt_ring(ring, tmp_path / "v.json", clock(), OPTIONS)
    assert conditions(report) == [("staged_key_not_promoted", "warning")]


def test_staged_key_under_staged_policy_waits_for_the_next_rotation(
    clock: FrozenClock, tmp_path: Path
) -> None:
    """Under the staged policy the next key sits staged until the next rotation: no finding."""
    staged_policy = POLICY.replace(mode="staged")
    ring = stage(ring_rotated(clock), clock(), staged_policy).ring
    clock.advance(timedelta(days=10))
    options = replace(OPTIONS, policy=staged_policy)
    assert check_jwt_ring(ring, tmp_path / "v.json", clock(), options).findings == ()


def test_vault_file_readable_by_others_is_critical(clock: FrozenClock, tmp_path: Path) -> None:
    """Mode 0644 exposes the keys to every user: critical, with the chmod to run."""
    path = tmp_path / "v.json"
    report = check_vault_mode(path, 0o100644, clock())
    assert conditions(report) == [("vault_permissions", "critical")]
    assert f"chmod 600 {path}" in report.findings[0].summary


def test_vault_file_writable_by_group_is_an_error(clock: FrozenClock, tmp_path: Path) -> None:
    """Mode 0620: not readable by others, but still not private."""
    report = check_vault_mode(tmp_path / "v.json", 0o100620, clock())
    assert conditions(report) == [("vault_permissions", "error")]


def test_vault_file_readable_by_its_group_only_is_a_warning(
    clock: FrozenClock, tmp_path: Path
) -> None:
    """Modes 0640 and 0440 (a Kubernetes fsGroup Secret, a service group): a warning that
    says why, not critical; group-writable or world-readable stays critical."""
    path = tmp_path / "v.json"
    for mode in (0o100640, 0o100440):
        report = check_vault_mode(path, mode, clock())
        assert conditions(report) == [("vault_permissions", "warning")]
        assert "its group can read" in report.findings[0].summary
        assert "Kubernetes Secret mounted with fsGroup" in report.findings[0].summary
    mounted = check_vault_mode(path, 0o100440, clock(), secret_mount=True)
    assert conditions(mounted) == [("vault_permissions", "warning")]
    assert "is a Kubernetes Secret mount" in mounted.findings[0].summary
    for mode in (0o100660, 0o100444, 0o100460):
        assert conditions(check_vault_mode(path, mode, clock())) == [
            ("vault_permissions", "critical")
        ]


def test_vault_file_mode_0600_is_fine(clock: FrozenClock, tmp_path: Path) -> None:
    """The mode the vault writes is clean."""
    assert check_vault_mode(tmp_path / "v.json", 0o100600, clock()).findings == ()


def test_run_check_reads_the_vault_file_written_by_rotation(
    clock: FrozenClock, vault: VaultFile, log: AuditLog
) -> None:
    """End to end over the real vault: rotate, stage, let time pass, check."""
    policy = POLICY
    rotate_key(vault=vault, log=log, policy=policy, clock=clock)
    stage_key(vault=vault, log=log, policy=policy, clock=clock)
    clock.advance(timedelta(days=31))
    config = CheckConfig(vault_paths=(vault.path,), local=OPTIONS)
    report = run_check(config, clock=clock)
    assert conditions(report) == [
        ("rotation_overdue", "critical"),
        ("staged_key_not_promoted", "warning"),
    ]


def test_missing_vault_file_is_not_a_finding(clock: FrozenClock, tmp_path: Path) -> None:
    """No vault file: nothing local to check, and nothing to complain about."""
    config = CheckConfig(vault_paths=(tmp_path / "absent.json",), local=OPTIONS)
    report = run_check(config, clock=clock)
    assert (report.subjects, report.findings) == ((), ())


def test_corrupt_vault_file_is_a_check_failed_finding(clock: FrozenClock, tmp_path: Path) -> None:
    """A file the check cannot read is reported (error), not a crash of the whole check."""
    path = tmp_path / "v.json"
    path.write_text("{ not json")
    os.chmod(path, 0o600)
    report = run_check(CheckConfig(vault_paths=(path,), local=OPTIONS), clock=clock)
    assert conditions(report) == [("check_failed", "error")]
    assert str(path) in report.findings[0].summary


def test_weak_key_in_vault_is_reported_without_the_key(clock: FrozenClock, tmp_path: Path) -> None:
    """A refused ring is a check_failed finding whose text holds no secret material."""
    path = tmp_path / "v.json"
    weak = "short-" + os.urandom(4).hex()
    path.write_text(json.dumps({"JWT_SECRETS": {"k1": weak}, "JWT_SECRET_ID": "k1"}))
    os.chmod(path, 0o600)
    report = run_check(CheckConfig(vault_paths=(path,), local=OPTIONS), clock=clock)
    assert [f.condition for f in report.findings] == [Condition.CHECK_FAILED]
    assert weak not in json.dumps(report.to_dict())


def generate_key() -> str:
    return Fernet.generate_key().decode()


def fernet_doc(clock: FrozenClock, fallbacks: int = 0) -> dict[str, object]:
    primary = generate_key()
    olds = [generate_key() for _ in range(fallbacks)]
    doc: dict[str, object] = {
        "FERNET_KEY": primary,
        "FERNET_KEY_META": {
            fingerprint(primary): {"state": "primary", "activated_at": to_iso(clock())}
        },
    }
    if olds:
        doc["FERNET_FALLBACK_KEYS"] = ",".join(olds)
    return doc


def test_fernet_primary_older_than_its_interval_is_overdue(
    clock: FrozenClock, tmp_path: Path
) -> None:
    """The Fernet primary key ages like a JWT key, against its own interval (90 days)."""
    doc = fernet_doc(clock)
    clock.advance(timedelta(days=91))
    report = check_fernet_document(doc, tmp_path / "v.json", clock(), OPTIONS)
    assert conditions(report) == [("rotation_overdue", "critical")]


def test_old_fernet_keys_kept_for_weeks_are_reported(clock: FrozenClock, tmp_path: Path) -> None:
    """Fallback keys still configured 8 days after rotation: re-encrypt, verify, retire."""
    doc = fernet_doc(clock, fallbacks=2)
    clock.advance(timedelta(days=8))
    report = check_fernet_document(doc, tmp_path / "v.json", clock(), OPTIONS)
    assert conditions(report) == [("old_keys_not_retired", "warning")]
    assert len(report.findings[0].details["old_keys"]) == 2
    assert report.worst == Severity.WARNING


def test_intact_rotation_log_is_fine_and_an_edited_one_is_an_error(
    clock: FrozenClock, vault: VaultFile, log: AuditLog
) -> None:
    """An intact rotation log passes; an edited line is an error naming 'audit verify'."""
    rotate_key(vault=vault, log=log, policy=POLICY, clock=clock)
    rotate_key(vault=vault, log=log, policy=POLICY, clock=clock)
    config = CheckConfig(vault_paths=(vault.path,), local=OPTIONS, log_path=log.path)
    assert run_check(config, clock=clock).findings == ()
    lines = log.path.read_text().splitlines()
    lines[0] = lines[0].replace('"rotate"', '"r0tate"')
    log.path.write_text("\n".join(lines) + "\n")
    report = run_check(config, clock=clock)
    assert conditions(report) == [("rotation_log_broken", "error")]
    assert "erp-secrets audit verify" in report.findings[0].summary


def test_log_missing_its_last_entry_is_a_warning_the_next_rotation_repairs(
    clock: FrozenClock, vault: VaultFile, log: AuditLog
) -> None:
    """A rotation interrupted after its commit point: the vault has the entry, the log not."""
    rotate_key(vault=vault, log=log, policy=POLICY, clock=clock)
    rotate_key(vault=vault, log=log, policy=POLICY, clock=clock)
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join(lines[:-1]) + "\n")
    config = CheckConfig(vault_paths=(vault.path,), local=OPTIONS, log_path=log.path)
    assert conditions(run_check(config, clock=clock)) == [("rotation_log_broken", "warning")]


def test_vault_path_that_is_a_folder_or_fifo_is_named_without_a_chmod_hint(
    clock: FrozenClock, tmp_path: Path
) -> None:
    """A folder or FIFO at the vault path is one check_failed finding saying what it is."""
    folder = tmp_path / "folder"
    folder.mkdir()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, kind in ((folder, "a folder"), (fifo, "a FIFO")):
        report = run_check(CheckConfig(vault_paths=(path,), local=OPTIONS), clock=clock)
        assert conditions(report) == [("check_failed", "error")]
        summary = report.findings[0].summary
        assert kind in summary
        assert "chmod" not in summary
