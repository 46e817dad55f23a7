"""The hash-chained rotation log: every edit, deletion, reordering or cut is found and named."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import pwd
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from erp._io import DEFAULT_MAX_READ_BYTES
from erp.clock import FrozenClock
from erp.errors import (
    AuditChainBroken,
    FileReadError,
    LogWriteError,
    SettingError,
    VaultMissing,
)
from erp.jwt.keyring import RotationPolicy
from erp.jwt.rotation import prune_keys, rotate_key
from erp.store.audit import (
    GENESIS,
    MAX_LOG_BYTES,
    AuditLog,
    VerifyReport,
    default_actor,
    default_log_path,
    make_entry,
)
from erp.store.journal import record_change, repair_log
from erp.store.vault import META_KEY, VaultFile
from erp.testing import CliResult

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


def test_torn_line_longer_than_the_tail_window_is_removed_whole(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """A torn last line over 64 KiB is measured whole: the next rotation removes it, chain ok."""
    _rotations(vault, log, clock, 2)
    before = log.path.read_bytes()
    log.path.write_bytes(before + b'{"seq": 3, "x": "' + b"a" * 70_000)
    assert log.last_entry() == (json.loads(before.splitlines()[-1]), 70_017)
    _rotations(vault, log, clock, 1)
    assert log.path.read_bytes().startswith(before)
    assert len(_lines(log)) == 3
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
    assert report.repairable == 2


def test_entry_committed_but_not_logged_is_named_then_completed_by_the_next_rotation(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """A vault ahead of its log by one entry is one problem; the next rotation appends it."""
    _rotations(vault, log, clock, 2)
    lines = _lines(log)
    _set_lines(log, lines[:-1])
    report = log.verify(_head(vault))
    assert report.incomplete == 2
    assert report.repairable == 1
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


# -- pins found by mutation testing: paths, messages, boundaries, descriptors ----------------


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_default_log_path_is_the_setting_else_logs_jwt_rotation_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """AuditLog() uses $ERP_ROTATION_LOG, else logs/jwt_rotation.log; repr shows the path."""
    monkeypatch.setenv("ERP_ROTATION_LOG", str(tmp_path / "ops.log"))
    assert AuditLog().path == tmp_path / "ops.log"
    monkeypatch.delenv("ERP_ROTATION_LOG")
    assert default_log_path() == Path("logs/jwt_rotation.log")
    assert AuditLog().path == Path("logs/jwt_rotation.log")
    assert repr(AuditLog(tmp_path / "x.log")) == f"AuditLog({str(tmp_path / 'x.log')!r})"


def test_erp_actor_up_to_128_printable_characters_is_used_else_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ERP_ACTOR of 128 printable characters is the actor; 129, or a control character, is not."""
    monkeypatch.setenv("ERP_ACTOR", "a" * 128)
    assert default_actor() == "a" * 128
    for bad, shown in (("a" * 129, "129-character value"), ("op\x07s", None)):
        monkeypatch.setenv("ERP_ACTOR", bad)
        with pytest.raises(SettingError) as caught:
            default_actor()
        assert caught.value.variable == "ERP_ACTOR"
        text = str(caught.value)
        assert text.startswith("environment variable ERP_ACTOR is ")
        assert text.endswith(
            ", which is not a printable name of at most 128 characters; "
            "set it to the operator's name"
        )
        if shown is not None:
            assert shown in text


def test_default_actor_without_erp_actor_is_the_login_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset ERP_ACTOR: LOGNAME, USER, LNAME, USERNAME in that order (empty skipped), else the
    account name of the process's uid."""
    monkeypatch.delenv("ERP_ACTOR", raising=False)
    names = ("LOGNAME", "USER", "LNAME", "USERNAME")
    for name in names:
        monkeypatch.delenv(name, raising=False)
    assert default_actor() == pwd.getpwuid(os.getuid()).pw_name
    for name in reversed(names):
        monkeypatch.setenv(name, f"from-{name.lower()}")
        assert default_actor() == f"from-{name.lower()}"
    monkeypatch.setenv("LOGNAME", "")
    assert default_actor() == "from-user"


def test_entry_hash_is_sha256_of_the_sorted_compact_ascii_json_without_the_hash(
    clock: FrozenClock,
) -> None:
    """The hash covers the entry as sorted, compact, ASCII-escaped JSON (a known answer)."""
    entry = make_entry(
        {"event": "jwt.rotate", "note": "café"},
        prev_hash=GENESIS,
        seq=1,
        now=clock(),
        actor="ops",
        host="h",
    )
    canonical = (
        '{"actor":"ops","event":"jwt.rotate","host":"h","note":"caf\\u00e9",'
        f'"prev":"{GENESIS}","seq":1,"time":"2026-11-25T12:00:00.000000Z"}}'
    )
    assert entry["hash"] == hashlib.sha256(canonical.encode()).hexdigest()


def test_appended_line_is_the_canonical_json_of_the_entry(
    log: AuditLog, clock: FrozenClock
) -> None:
    """Each log line is the entry as sorted, compact, ASCII-only JSON and one newline."""
    entry = make_entry(
        {"event": "x", "who": "José"}, prev_hash=GENESIS, seq=1, now=clock(), actor="ops", host="h"
    )
    log.append(entry)
    line = log.path.read_bytes()
    assert line == json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    assert b"Jos\\u00e9" in line


def test_log_in_a_missing_nested_folder_is_created(tmp_path: Path, clock: FrozenClock) -> None:
    """Appending creates every missing folder above the log."""
    log = AuditLog(tmp_path / "a" / "b" / "c" / "rotation.log")
    log.append(make_entry({"event": "x"}, prev_hash=GENESIS, seq=1, now=clock(), actor="o"))
    assert log.verify().entries == 1


def test_append_failure_says_the_vault_change_is_committed(
    tmp_path: Path, clock: FrozenClock
) -> None:
    """append() refusing (a folder, a file in the path) names the log, the cause, and that the
    vault already holds the change."""
    entry = make_entry({"event": "x"}, prev_hash=GENESIS, seq=1, now=clock(), actor="o")
    folder_log = AuditLog(tmp_path / "folder.log")
    folder_log.path.mkdir()
    (tmp_path / "file").write_text("")
    under_file = AuditLog(tmp_path / "file" / "rotation.log")
    for log, problem in (
        (folder_log, "it is a folder, not a file"),
        (under_file, os.strerror(errno.EEXIST)),
    ):
        with pytest.raises(LogWriteError) as caught:
            log.append(entry)
        assert caught.value.committed is True
        assert caught.value.path == log.path
        assert caught.value.problem == problem
        assert str(caught.value).startswith(f"could not write rotation log {log.path}: {problem}.")
        assert "The change is committed in the vault file" in str(caught.value)


def test_last_entry_of_a_missing_empty_or_whole_log(log: AuditLog, clock: FrozenClock) -> None:
    """No log or an empty one: (None, 0); a whole log: its last entry and 0 torn bytes."""
    assert log.last_entry() == (None, 0)
    log.path.parent.mkdir(parents=True)
    log.path.write_bytes(b"")
    assert log.last_entry() == (None, 0)
    assert log.next_position() == (1, GENESIS)
    entry = make_entry({"event": "x"}, prev_hash=GENESIS, seq=1, now=clock(), actor="o")
    log.append(entry)
    assert log.last_entry() == (entry, 0)
    assert log.next_position() == (2, entry["hash"])


def test_last_entry_counts_the_torn_bytes_after_the_last_line(
    log: AuditLog, clock: FrozenClock
) -> None:
    """A torn tail is counted exactly, also when it is the only line of the log."""
    log.path.parent.mkdir(parents=True)
    log.path.write_bytes(b'{"seq": 1')
    assert log.last_entry() == (None, 9)
    entry = make_entry({"event": "x"}, prev_hash=GENESIS, seq=1, now=clock(), actor="o")
    log.path.write_bytes(b"")
    log.append(entry)
    with log.path.open("ab") as fh:
        fh.write(b'{"seq": 2, "ti')
    assert log.last_entry() == (entry, 14)


def test_last_entry_of_a_log_bigger_than_the_tail_window(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """Only the end of a long log is read for the next position, and it is the right end."""
    _rotations(vault, log, clock, 2)
    lines = _lines(log)
    padding = json.dumps({"pad": "x" * 70_000}).encode() + b"\n"
    _set_lines(log, [padding, *lines])
    last, torn = log.last_entry()
    assert (last, torn) == (json.loads(lines[-1]), 0)


@pytest.mark.parametrize(
    ("last_line", "problem"),
    [
        (b"not json\n", "the last line is not valid JSON"),
        (b"[1]\n", "the last line is not a log entry"),
        (b'{"seq": 1}\n', "the last line is not a log entry"),
        (b'{"hash": "00"}\n', "the last line is not a log entry"),
    ],
)
def test_last_line_that_is_not_an_entry_stops_the_next_write(
    log: AuditLog, last_line: bytes, problem: str
) -> None:
    """A last line that is not JSON, or lacks seq or hash, is AuditChainBroken naming the log."""
    log.path.parent.mkdir(parents=True)
    log.path.write_bytes(last_line)
    with pytest.raises(AuditChainBroken) as caught:
        log.next_position()
    assert caught.value.path == log.path
    assert caught.value.problems == [problem]


def test_log_that_is_a_link_or_a_folder_is_refused_by_every_reader(
    log: AuditLog, tmp_path: Path
) -> None:
    """The tail reader, the full reader and the writability check refuse a symlink and a folder
    in the log's place, naming the log, and leave no descriptor open."""
    target = tmp_path / "elsewhere.log"
    target.write_bytes(b"")
    log.path.parent.mkdir(parents=True)
    log.path.symlink_to(target)
    before = _open_descriptors()
    link = "it is a symbolic link, which is refused"
    with pytest.raises(FileReadError) as caught:
        log.last_entry()
    assert str(caught.value).startswith(f"cannot read rotation log {log.path}: {link}.")
    with pytest.raises(FileReadError) as caught:
        log.verify()
    assert str(caught.value).startswith(f"cannot read rotation log {log.path}: {link}.")
    with pytest.raises(LogWriteError) as refused:
        log.check_writable()
    assert refused.value.problem == link
    assert refused.value.committed is False
    log.path.unlink()
    log.path.mkdir()
    with pytest.raises(FileReadError) as caught:
        log.last_entry()
    assert str(caught.value).startswith(
        f"cannot read rotation log {log.path}: it is not a regular file."
    )
    with pytest.raises(FileReadError, match=r"cannot read rotation log .*folder"):
        log.verify()
    assert _open_descriptors() == before


def test_log_over_the_generic_read_cap_is_read_and_one_over_its_own_cap_refused(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """A log past 16 MiB (the cap for other files) is still checked; MAX_LOG_BYTES + 1 is not."""
    _rotations(vault, log, clock, 2)
    with log.path.open("ab") as fh:
        fh.truncate(DEFAULT_MAX_READ_BYTES + 1)  # sparse: zeros, no newline
    report = log.verify()
    assert report.entries == 2
    assert report.problems == [
        "line 3: incomplete entry (a write was interrupted); the next rotation removes it"
    ]
    with log.path.open("ab") as fh:
        fh.truncate(MAX_LOG_BYTES + 1)
    with pytest.raises(FileReadError, match=f"over the {MAX_LOG_BYTES}-byte limit"):
        log.verify()


def test_entries_skips_unreadable_lines_and_keeps_reading(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """entries() lists every entry around a garbled or non-object line."""
    _rotations(vault, log, clock, 3)
    lines = _lines(log)
    _set_lines(log, [lines[0], b"garbage\n", b"[1]\n", *lines[1:]])
    assert [e["seq"] for e in log.entries()] == [1, 2, 3]


def test_line_that_is_json_but_not_an_object_is_named_and_the_chain_goes_on(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """A JSON line that is not an object is one problem; the entries around it still chain."""
    _rotations(vault, log, clock, 3)
    lines = _lines(log)
    _set_lines(log, [lines[0], b"[1]\n", *lines[1:]])
    report = log.verify(_head(vault))
    assert report.path == log.path
    assert report.problems == ["line 2: not a log entry"]
    assert (report.entries, report.last_seq) == (3, 3)


def test_edited_sequence_number_is_named_once_and_the_next_line_still_checks(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """A seq edited to text is 'content was edited' plus the seq it should be; nothing more."""
    _rotations(vault, log, clock, 3)
    lines = _lines(log)
    for index in (0, 2):
        edited = list(lines)
        entry = json.loads(edited[index])
        entry["seq"] = "x"
        edited[index] = json.dumps(entry).encode() + b"\n"
        _set_lines(log, edited)
        report = log.verify(_head(vault))
        assert report.problems == [
            f"line {index + 1} (entry x): content was edited",
            f"line {index + 1}: sequence number x where {index + 1} was expected",
        ]
        assert report.last_seq == (3 if index == 0 else 2)


def test_garbled_line_then_edited_seq_counts_lines_from_the_garbled_one(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """After a garbled line, an entry with a text seq still advances the expected number by one."""
    _rotations(vault, log, clock, 3)
    lines = _lines(log)
    entry = json.loads(lines[1])
    entry["seq"] = "x"
    _set_lines(log, [b"garbage\n", json.dumps(entry).encode() + b"\n", lines[2]])
    assert log.verify(_head(vault)).problems == [
        "line 1: not valid JSON (edited or corrupted)",
        "line 2 (entry x): content was edited",
    ]


def test_vault_head_that_skips_ahead_is_not_a_repairable_interruption(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """A head whose entry chains to the log but whose seq skips ahead is 'cut from the end'."""
    _rotations(vault, log, clock, 2)
    last = json.loads(_lines(log)[-1])
    head = {"seq": 5, "hash": "f" * 64, "entry": {"seq": 5, "prev": last["hash"]}}
    report = log.verify(head)
    assert report.repairable == 0
    assert report.incomplete is None
    assert report.problems == [
        "the log ends at entry 2 but the vault records entry 5: lines were cut from the end"
    ]
    with pytest.raises(AuditChainBroken):
        log.reconcile(head)


def test_reconcile_without_a_head_drops_only_the_torn_tail(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """With no head in the vault, reconcile cuts a torn tail and keeps every entry before it."""
    _rotations(vault, log, clock, 2)
    whole = log.path.read_bytes()
    log.path.write_bytes(whole + b'{"seq": 3, "ti')
    log.reconcile(None)
    assert log.path.read_bytes() == whole


def test_reconcile_completes_the_head_entry_over_its_torn_start(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """A log ending in the torn start of the vault's head entry ends in that whole entry after."""
    _rotations(vault, log, clock, 3)
    whole = log.path.read_bytes()
    lines = _lines(log)
    _set_lines(log, [*lines[:-1], lines[-1][:40]])
    log.reconcile(_head(vault))
    assert log.path.read_bytes() == whole


def test_first_entry_missing_from_a_log_that_never_got_it_is_appended(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """The vault holds entry 1 but the log was never written: repair writes exactly that entry."""
    _rotations(vault, log, clock, 1)
    whole = log.path.read_bytes()
    log.path.unlink()
    repair_log(vault, log)
    assert log.path.read_bytes() == whole


@pytest.mark.parametrize("entry", [None, {}, {"prev": "0" * 63}, {"prev": GENESIS}])
def test_reconcile_refuses_a_head_without_hash_that_does_not_chain(
    vault: VaultFile, log: AuditLog, clock: FrozenClock, entry: dict[str, Any] | None
) -> None:
    """A hand-edited head (no hash, an entry that does not chain) is refused, nothing appended."""
    _rotations(vault, log, clock, 2)
    before = log.path.read_bytes()
    head_hash = None
    with pytest.raises(AuditChainBroken) as caught:
        log.reconcile({"seq": 5, "hash": head_hash, "entry": entry})
    assert caught.value.path == log.path
    assert caught.value.problems == [
        "the log ends at entry 2, but the vault's last recorded entry is 5 (hash None…): "
        "entries were removed"
    ]
    assert log.path.read_bytes() == before


def test_verify_report_is_a_value_naming_the_log(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """Two checks of the same log compare equal; the report names the log and reprs its fields."""
    _rotations(vault, log, clock, 2)
    report = log.verify(_head(vault))
    assert report == log.verify(_head(vault))
    assert report != VerifyReport(log.path, entries=2, last_seq=1)
    assert (report == (str(log.path), 2)) is False
    assert report.path == log.path
    assert os.fspath(log) == str(log.path)
    assert repr(report) == (
        f"VerifyReport(path={str(log.path)!r}, entries=2, problems=[], incomplete=None, "
        "last_seq=2, repairable=0)"
    )
    assert report.ok


def test_check_file_passes_a_missing_or_regular_log_and_names_anything_else(
    log: AuditLog, tmp_path: Path
) -> None:
    """check_file: no log, a log under a file or a regular log pass; a folder, a FIFO, a link
    or a name too long is a LogWriteError naming the kind, before anything is written."""
    log.check_file()
    (tmp_path / "file").write_text("")
    AuditLog(tmp_path / "file" / "rotation.log").check_file()
    log.path.parent.mkdir(parents=True)
    log.path.write_bytes(b"")
    log.check_file()
    log.path.unlink()
    target = tmp_path / "target.log"
    target.write_bytes(b"")
    cases: list[tuple[Callable[[], object], str]] = [
        (log.path.mkdir, "it is a folder, not a file"),
        (lambda: os.mkfifo(log.path), "it is a FIFO or socket with nobody on the other end"),
        (lambda: log.path.symlink_to(target), "it is a symbolic link, which is refused"),
    ]
    for make, problem in cases:
        make()
        with pytest.raises(LogWriteError) as caught:
            log.check_file()
        assert (caught.value.path, caught.value.problem) == (log.path, problem)
        assert caught.value.committed is False
        if log.path.is_dir() and not log.path.is_symlink():
            log.path.rmdir()
        else:
            log.path.unlink()
    too_long = AuditLog(tmp_path / ("x" * 300))
    with pytest.raises(LogWriteError) as caught:
        too_long.check_file()
    assert caught.value.problem == "the path is too long"
    assert target.read_bytes() == b""


_AS_UID_WITHOUT_ACCOUNT = """
import os, pwd, sys  # imported before the uid changes: the stdlib may be root-only
from erp.store.audit import default_actor
default_actor()  # once as root, so whatever it imports lazily is loaded before the switch
os.setgroups([])
os.setgid(int(sys.argv[1]))
os.setuid(int(sys.argv[1]))
print(default_actor())
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another uid needs root")
def test_default_actor_of_a_uid_without_an_account_is_uid_and_number() -> None:
    """Run as a uid with no passwd entry (an arbitrary container uid): the actor is uid:<n>."""
    uid = next(n for n in range(54321, 64000) if not _has_account(n))
    assert default_actor()  # the same function in this process, for the test's bookkeeping
    env = {k: v for k, v in os.environ.items() if k not in {"LOGNAME", "USER", "LNAME", "USERNAME"}}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # this process's erp
    done = subprocess.run(
        [sys.executable, "-c", _AS_UID_WITHOUT_ACCOUNT, str(uid)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, f"uid:{uid}\n"), done.stderr


def _has_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def test_reconcile_refuses_a_head_without_hash_over_an_empty_log(log: AuditLog) -> None:
    """An empty log and a hand-edited head that does not start the chain: refused, named."""
    with pytest.raises(AuditChainBroken) as caught:
        log.reconcile({"seq": 3, "hash": None, "entry": {"prev": "f" * 64}})
    assert caught.value.problems == [
        "the log is empty, but the vault's last recorded entry is 3 (hash None…): "
        "entries were removed"
    ]
    assert not log.path.exists()


def test_make_entry_without_actor_uses_the_default_actor(
    clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry made without actor= records default_actor() ($ERP_ACTOR here)."""
    monkeypatch.setenv("ERP_ACTOR", "deploy-bot")
    entry = make_entry({"event": "x"}, prev_hash=GENESIS, seq=1, now=clock(), host="h")
    assert entry["actor"] == "deploy-bot"


def test_verify_report_keeps_the_fields_it_is_given(tmp_path: Path) -> None:
    """VerifyReport(...) holds exactly the values passed; ok only without problems."""
    report = VerifyReport(
        tmp_path / "l.log", entries=4, problems=["x"], incomplete=5, last_seq=4, repairable=1
    )
    assert (report.entries, report.problems, report.incomplete) == (4, ["x"], 5)
    assert (report.last_seq, report.repairable, report.ok) == (4, 1, False)
    assert VerifyReport(tmp_path / "l.log").problems == []


def test_log_named_relative_to_the_working_directory_is_written_there_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FrozenClock
) -> None:
    """A bare log name is appended to in the working directory; no folder is made for it."""
    monkeypatch.chdir(tmp_path)
    log = AuditLog("rotation.log")
    log.check_writable()
    log.append(make_entry({"event": "x"}, prev_hash=GENESIS, seq=1, now=clock(), actor="o"))
    assert [p.name for p in tmp_path.iterdir()] == ["rotation.log"]
    assert log.verify().entries == 1


def test_check_writable_of_a_writable_log_changes_nothing_and_keeps_no_descriptor(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """check_writable on a regular, writable log returns, leaving bytes and descriptors as found."""
    _rotations(vault, log, clock, 1)
    before = (log.path.read_bytes(), _open_descriptors())
    log.check_writable()
    assert (log.path.read_bytes(), _open_descriptors()) == before


def test_reconcile_that_cannot_append_says_nothing_was_changed(
    vault: VaultFile, log: AuditLog, clock: FrozenClock, read_only: ReadOnly
) -> None:
    """Completing the vault's entry into a read-only folder fails as not committed (the repair
    itself changed nothing)."""
    _rotations(vault, log, clock, 1)
    log.path.unlink()
    with read_only(log.path.parent), pytest.raises(LogWriteError) as caught:
        log.reconcile(_head(vault))
    assert caught.value.committed is False
    assert "Nothing was changed" in str(caught.value)


_CHECK_AS_UID = """
import os, pathlib, sys  # imported before the uid changes: the stdlib may be root-only
from erp.errors import LogWriteError
from erp.store.audit import AuditLog
log = AuditLog(sys.argv[2])
log.check_writable()  # once as root, so whatever it imports lazily is loaded before the switch
os.setgroups([])
os.setgid(int(sys.argv[1]))
os.setuid(int(sys.argv[1]))
try:
    log.check_writable()
except LogWriteError as exc:
    print(exc.problem)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another uid needs root")
def test_log_folder_another_user_owns_is_permission_denied_not_read_only(tmp_path: Path) -> None:
    """Without write access to the folder (a writable file system), the reason is 'permission
    denied creating it in <folder>', not 'read-only'."""
    uid = next(n for n in range(54321, 64000) if not _has_account(n))
    log = AuditLog(tmp_path / "logs" / "rotation.log")
    log.check_writable()  # as root: fine; the same function, for the test's bookkeeping
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run(
        [sys.executable, "-c", _CHECK_AS_UID, str(uid), str(log.path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("permission denied creating it in /"), done.stdout


def test_new_log_on_a_read_only_file_system_is_named_as_such(
    log: AuditLog, read_only: ReadOnly
) -> None:
    """check_writable for a log not yet created under a read-only mount gives that reason."""
    log.path.parent.mkdir(parents=True)
    with read_only(log.path.parent), pytest.raises(LogWriteError) as caught:
        log.check_writable()
    assert caught.value.problem == "the file system is read-only"
    assert not log.path.exists()


def test_a_vault_path_typed_wrong_cannot_fork_the_log(
    vault: VaultFile, log: AuditLog, clock: FrozenClock, tmp_path: Path
) -> None:
    """A new vault chained onto another vault's log would leave that vault unrotatable."""
    _rotations(vault, log, clock, 2)
    before = _snapshot(log.path)
    typo = VaultFile(tmp_path / "jwt_secret.json")
    with pytest.raises(VaultMissing, match="does not exist, but the rotation log"):
        rotate_key(vault=typo, log=log, policy=POLICY, clock=clock, actor="tester")
    assert not typo.path.exists()
    assert _snapshot(log.path) == before
    _rotations(vault, log, clock, 1)  # the real vault still rotates
    assert log.verify(_head(vault)).ok


def test_a_missing_log_is_named_as_missing_not_as_cut(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    _rotations(vault, log, clock, 2)
    log.path.unlink()
    problems = log.verify(_head(vault)).problems
    assert problems == [problems[0]]
    assert "does not exist" in problems[0]
    assert "ERP_ROTATION_LOG" in problems[0]


def test_audit_verify_without_its_vault_does_not_pass_a_cut_log(
    erp_cli: Callable[..., CliResult],
    vault: VaultFile,
    log: AuditLog,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    """The vault's head is what catches lines cut from the end: without it, no pass."""
    _rotations(vault, log, clock, 3)
    _set_lines(log, _lines(log)[:2])
    missing = tmp_path / "typo.json"
    result = erp_cli("audit", "verify", "--log", str(log.path), "--vault", str(missing))
    assert result.code == 1
    assert "cannot be checked against it" in result.out
    alone = erp_cli(
        "audit", "verify", "--log", str(log.path), "--vault", str(missing), "--log-only"
    )
    assert alone.code == 0
