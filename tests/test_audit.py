"""The hash-chained rotation log: every edit, deletion, reordering or cut is found and named."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from erp.clock import FrozenClock
from erp.errors import AuditChainBroken, LogWriteError
from erp.jwt.keyring import RotationPolicy
from erp.jwt.rotation import prune_keys, rotate_key
from erp.store.audit import GENESIS, AuditLog, default_actor, make_entry
from erp.store.journal import record_change, repair_log
from erp.store.vault import META_KEY, VaultFile

ReadOnly = Callable[[Path], contextlib.AbstractContextManager[None]]  # conftest fixture

POLICY = RotationPolicy()


def _rotations(vault: VaultFile, log: AuditLog, clock: FrozenClock, count: int) -> None:
    for _ in range(count):
        rotate_key(vault=vault, log=log, policy=POLICY, clock=clock, actor="tester")
        clock.advance(60)


def _head(vault: VaultFile) -> dict[str, Any]:
    head = vault.read()[META_KEY]["audit"]
    assert isinstance(head, dict)
    return head


def _lines(log: AuditLog) -> list[bytes]:
    return log.path.read_bytes().splitlines(keepends=True)


def _set_lines(log: AuditLog, lines: list[bytes]) -> None:
    log.path.write_bytes(b"".join(lines))


def _snapshot(*paths: Path) -> list[bytes | None]:
    return [p.read_bytes() if p.exists() else None for p in paths]


_ENVELOPE = ("seq", "time", "actor", "host", "prev", "hash")


def _event_of(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in _ENVELOPE}


def test_entries_are_chained_from_genesis(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """Each entry carries seq, time, actor, host, the previous hash and its own hash."""
    _rotations(vault, log, clock, 3)
    entries = log.entries()
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev"] == GENESIS
    assert [e["prev"] for e in entries[1:]] == [e["hash"] for e in entries[:-1]]
    assert {e["actor"] for e in entries} == {"tester"}
    assert all(e["host"] and e["time"].endswith("Z") for e in entries)
    assert log.verify(_head(vault)).ok


@pytest.mark.parametrize("name", ["seq", "time", "actor", "host", "event", "new", "prev"])
def test_a_change_to_any_field_is_found(
    vault: VaultFile, log: AuditLog, clock: FrozenClock, name: str
) -> None:
    """Changing any field of an entry, envelope or event, makes verify name that line."""
    _rotations(vault, log, clock, 2)
    lines = _lines(log)
    entry = json.loads(lines[0])
    entry[name] = "changed"
    lines[0] = json.dumps(entry).encode() + b"\n"
    _set_lines(log, lines)
    problems = log.verify(_head(vault)).problems
    assert any(p.startswith("line 1 ") and "content was edited" in p for p in problems)


def test_actor_comes_from_erp_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    """ERP_ACTOR names who rotated; without it the login name is used."""
    monkeypatch.setenv("ERP_ACTOR", "deploy-bot")
    assert default_actor() == "deploy-bot"
    monkeypatch.delenv("ERP_ACTOR")
    assert default_actor()


def test_verify_of_an_intact_log_is_ok_and_counts_entries(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """An untouched log verifies with and without the vault's head."""
    _rotations(vault, log, clock, 4)
    for report in (log.verify(), log.verify(_head(vault))):
        assert report.ok
        assert report.entries == 4
        assert report.last_seq == 4


def test_missing_log_without_vault_head_is_empty_and_ok(log: AuditLog) -> None:
    """A log that does not exist yet verifies as an empty, intact chain."""
    report = log.verify()
    assert report.ok
    assert report.entries == 0


def test_edited_line_is_named(vault: VaultFile, log: AuditLog, clock: FrozenClock) -> None:
    """A line whose content changed but whose hash did not is reported as edited."""
    _rotations(vault, log, clock, 3)
    lines = _lines(log)
    entry = json.loads(lines[1])
    entry["actor"] = "mallory"
    lines[1] = json.dumps(entry).encode() + b"\n"
    _set_lines(log, lines)
    assert log.verify(_head(vault)).problems == ["line 2 (entry 2): content was edited"]


def test_edited_and_rehashed_line_breaks_the_next_link(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """Recomputing an edited line's hash is caught by the next line's prev link."""
    _rotations(vault, log, clock, 3)
    lines = _lines(log)
    entry = json.loads(lines[1])
    entry["actor"] = "mallory"
    forged = make_entry(
        _event_of(entry),
        prev_hash=entry["prev"],
        seq=2,
        now=clock(),
        actor="mallory",
        host=entry["host"],
    )
    lines[1] = json.dumps(forged).encode() + b"\n"
    _set_lines(log, lines)
    problems = log.verify(_head(vault)).problems
    assert problems == [
        "line 3 (entry 3): does not chain to the line before (a line was replaced or reordered)"
    ]


def test_deleted_line_is_named(vault: VaultFile, log: AuditLog, clock: FrozenClock) -> None:
    """Removing a line in the middle names the missing entries."""
    _rotations(vault, log, clock, 4)
    lines = _lines(log)
    del lines[1]
    _set_lines(log, lines)
    assert log.verify(_head(vault)).problems == [
        "line 2 (entry 3): entries 2..2 before it were deleted"
    ]


def test_deleted_first_line_is_named(vault: VaultFile, log: AuditLog, clock: FrozenClock) -> None:
    """Removing the first line is found although nothing precedes it."""
    _rotations(vault, log, clock, 2)
    _set_lines(log, _lines(log)[1:])
    assert log.verify(_head(vault)).problems == [
        "line 1 (entry 2): entries 1..1 before it were deleted"
    ]


def test_reordered_lines_are_named(vault: VaultFile, log: AuditLog, clock: FrozenClock) -> None:
    """Swapping two lines is reported at both places."""
    _rotations(vault, log, clock, 4)
    lines = _lines(log)
    lines[1], lines[2] = lines[2], lines[1]
    _set_lines(log, lines)
    problems = log.verify(_head(vault)).problems
    assert problems[0] == "line 2 (entry 3): entries 2..2 before it were deleted"
    assert problems[1] == "line 3 (entry 2): out of order (reordered or duplicated)"


def test_duplicated_line_is_named(vault: VaultFile, log: AuditLog, clock: FrozenClock) -> None:
    """A repeated line is reported as out of order."""
    _rotations(vault, log, clock, 3)
    lines = _lines(log)
    lines.insert(2, lines[1])
    _set_lines(log, lines)
    assert "line 3 (entry 2): out of order (reordered or duplicated)" in log.verify().problems


def test_line_that_is_not_json_is_named(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """A garbled line is reported by number and the rest of the chain is still checked."""
    _rotations(vault, log, clock, 3)
    lines = _lines(log)
    lines[0] = b"garbage\n"
    _set_lines(log, lines)
    assert log.verify(_head(vault)).problems == ["line 1: not valid JSON (edited or corrupted)"]


def test_lines_cut_from_the_end_are_found_through_the_vault_head(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """Truncation leaves a valid chain; the vault's head shows what was cut."""
    _rotations(vault, log, clock, 5)
    _set_lines(log, _lines(log)[:2])
    assert log.verify().ok
    assert log.verify(_head(vault)).problems == [
        "the log ends at entry 2 but the vault records entry 5: lines were cut from the end"
    ]


def test_replaced_log_is_found_through_the_vault_head(
    vault: VaultFile, log: AuditLog, clock: FrozenClock, tmp_path: Path
) -> None:
    """A whole log swapped for another valid one does not match the vault's head."""
    _rotations(vault, log, clock, 2)
    other = AuditLog(tmp_path / "other.log")
    _rotations(VaultFile(tmp_path / "other.json"), other, clock, 2)
    log.path.write_bytes(other.path.read_bytes())
    problems = log.verify(_head(vault)).problems
    assert len(problems) == 1
    assert "the log was replaced or edited" in problems[0]


def test_torn_last_line_alone_is_one_repairable_problem(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """A partial last line the vault does not know is one problem, repaired by the next write."""
    _rotations(vault, log, clock, 2)
    log.path.write_bytes(log.path.read_bytes() + b'{"seq": 3, "ti')
    report = log.verify(_head(vault))
    assert report.problems == [
        "line 3: incomplete entry (a write was interrupted); the next rotation removes it"
    ]
    assert report.repairable == 1
    _rotations(vault, log, clock, 1)
    assert log.verify(_head(vault)).ok


def test_torn_line_of_the_entry_the_vault_holds_is_exactly_one_problem(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """A torn last line that starts the vault's head entry is reported once, as incomplete."""
    _rotations(vault, log, clock, 3)
    lines = _lines(log)
    lines[-1] = lines[-1][:40]
    _set_lines(log, lines)
    report = log.verify(_head(vault))
    assert report.incomplete == 3
    assert len(report.problems) == 1
    assert report.problems[0].startswith("entry 3: recorded in the vault but not yet in the log")
    assert "line 3 is its torn start" in report.problems[0]


def test_torn_garbage_before_an_incomplete_entry_is_two_problems(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """A torn tail that is not the start of the head entry is named besides it."""
    _rotations(vault, log, clock, 3)
    lines = _lines(log)
    lines[-1] = b'{"unrelated'
    _set_lines(log, lines)
    report = log.verify(_head(vault))
    assert report.incomplete == 3
    assert len(report.problems) == 2


def test_entry_committed_but_not_logged_is_named_then_completed_by_the_next_rotation(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """A vault ahead of its log by one entry is one problem; the next rotation appends it."""
    _rotations(vault, log, clock, 2)
    lines = _lines(log)
    _set_lines(log, lines[:-1])
    report = log.verify(_head(vault))
    assert report.incomplete == 2
    assert report.problems == [
        "entry 2: recorded in the vault but not yet in the log (a rotation was interrupted "
        "after it took effect); the next rotation or 'erp-secrets audit repair' appends it"
    ]
    _rotations(vault, log, clock, 1)
    assert log.path.read_bytes().startswith(b"".join(lines))
    report = log.verify(_head(vault))
    assert report.ok
    assert report.entries == 3


def test_repair_appends_the_missing_entry_and_nothing_else(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """repair_log completes an interrupted append without changing the vault."""
    _rotations(vault, log, clock, 2)
    full = log.path.read_bytes()
    _set_lines(log, _lines(log)[:-1])
    vault_before = vault.path.read_bytes()
    repair_log(vault, log)
    assert log.path.read_bytes() == full
    assert vault.path.read_bytes() == vault_before


def test_rotation_refuses_a_log_edited_in_the_middle_and_changes_nothing(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """A broken chain stops the next rotation, naming the log; vault and log keep their bytes."""
    _rotations(vault, log, clock, 3)
    lines = _lines(log)
    entry = json.loads(lines[0])
    entry["actor"] = "mallory"
    lines[0] = json.dumps(entry).encode() + b"\n"
    _set_lines(log, lines)
    before = _snapshot(vault.path, log.path)
    with pytest.raises(AuditChainBroken) as caught:
        _rotations(vault, log, clock, 1)
    text = str(caught.value)
    assert str(log.path) in text
    assert "line 1 (entry 1): content was edited" in text
    assert "restore the log from backup" in text
    assert _snapshot(vault.path, log.path) == before


def test_rotation_refuses_a_log_cut_short_and_changes_nothing(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """Lines cut from the end stop the next rotation; nothing is written."""
    _rotations(vault, log, clock, 3)
    _set_lines(log, _lines(log)[:1])
    before = _snapshot(vault.path, log.path)
    with pytest.raises(AuditChainBroken, match="cut from the end"):
        _rotations(vault, log, clock, 1)
    assert _snapshot(vault.path, log.path) == before


def test_rotation_refuses_when_the_log_was_deleted_and_changes_nothing(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """A deleted log, while the vault records entries, is refused rather than restarted."""
    _rotations(vault, log, clock, 2)
    log.path.unlink()
    before = vault.path.read_bytes()
    with pytest.raises(AuditChainBroken):
        _rotations(vault, log, clock, 1)
    assert vault.path.read_bytes() == before
    assert not log.path.exists()


def test_read_only_log_folder_stops_rotation_before_the_vault_changes(
    vault: VaultFile,
    log: AuditLog,
    clock: FrozenClock,
    read_only: ReadOnly,
) -> None:
    """A log that cannot be appended to is found before the vault is written."""
    _rotations(vault, log, clock, 1)
    before = _snapshot(vault.path, log.path)
    with read_only(log.path.parent), pytest.raises(LogWriteError) as caught:
        _rotations(vault, log, clock, 1)
    text = str(caught.value)
    assert str(log.path) in text
    assert "read-only" in text
    assert "Nothing was changed" in text
    assert _snapshot(vault.path, log.path) == before


def test_no_change_writes_no_entry(vault: VaultFile, log: AuditLog, clock: FrozenClock) -> None:
    """A change function returning None writes neither the vault nor the log."""
    _rotations(vault, log, clock, 1)
    before = _snapshot(vault.path, log.path)
    result = record_change(lambda doc, now: None, vault=vault, log=log, clock=clock)
    assert result.entry is None
    assert _snapshot(vault.path, log.path) == before


def test_log_entries_hold_ids_and_fingerprints_never_secrets(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """No secret in the vault appears anywhere in the log."""
    _rotations(vault, log, clock, 3)
    text = log.path.read_text()
    secrets_map = vault.read()["JWT_SECRETS"]
    for key_id, secret in secrets_map.items():
        assert key_id in text
        assert secret not in text
        assert secret[:12] not in text


def test_read_only_folder_for_a_new_log_stops_the_first_rotation(
    tmp_path: Path,
    clock: FrozenClock,
    read_only: ReadOnly,
) -> None:
    """A log that does not exist yet in a read-only folder is refused before the vault appears."""
    vault = VaultFile(tmp_path / "vault" / "jwt_secrets.json")
    locked = tmp_path / "locked"
    locked.mkdir()
    log = AuditLog(locked / "logs" / "jwt_rotation.log")
    with read_only(locked), pytest.raises(LogWriteError, match="read-only"):
        rotate_key(vault=vault, log=log, policy=POLICY, clock=clock)
    assert not vault.path.exists()
    assert not log.path.exists()


_APPEND_FAILS = """
import resource, signal, sys
from erp.store.audit import AuditLog
from erp.errors import ErpError
from erp.jwt.keyring import RotationPolicy
from erp.jwt.rotation import prune_keys, rotate_key
from erp.store.vault import VaultFile
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    rotate_key(vault=VaultFile(sys.argv[1]), log=AuditLog(sys.argv[2]), policy=RotationPolicy())
except ErpError as exc:
    print(exc)
    sys.exit(1)
"""


def test_log_append_failing_after_the_vault_commit_says_so_and_is_completed_later(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """A log append failing after the vault commit (real EFBIG) is reported, then completed."""
    for _ in range(8):  # rotate and prune: the log grows, the vault stays small
        _rotations(vault, log, clock, 1)
        clock.advance(POLICY.max_token_ttl + POLICY.leeway)
        prune_keys(vault=vault, log=log, policy=POLICY, clock=clock)
    size_limit = vault.path.stat().st_size + 2048
    assert log.path.stat().st_size > size_limit
    seq = _head(vault)["seq"]
    log_before = log.path.read_bytes()
    done = subprocess.run(
        [sys.executable, "-c", _APPEND_FAILS, str(vault.path), str(log.path), str(size_limit)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert f"could not write rotation log {log.path}" in done.stdout
    assert "The change is committed in the vault file" in done.stdout
    assert log.path.read_bytes() == log_before
    report = log.verify(_head(vault))
    assert report.incomplete == seq + 1
    assert len(report.problems) == 1
    _rotations(vault, log, clock, 1)
    assert log.verify(_head(vault)).ok
    assert [e["seq"] for e in log.entries()] == list(range(1, seq + 3))
