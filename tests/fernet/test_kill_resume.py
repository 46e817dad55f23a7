"""SIGKILL at random moments, resume each time: every row ends under the newest key alone
and every plaintext is byte-for-byte what it was."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from erp.fernet import FernetKeyRing
from erp.store.audit import AuditLog
from erp.store.vault import META_KEY, VaultFile

from .conftest import EncryptedTable, KeyFactory, TableFactory

CLI = [sys.executable, "-c", "from erp.cli import main; main()"]


def _spawn(
    table: EncryptedTable, keys: list[str], tmp: Path, *extra: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FERNET_KEY": keys[-1],
        "FERNET_FALLBACK_KEYS": ",".join(reversed(keys[:-1])),  # newest first
        "ERP_VAULT_FILE": str(tmp / "vault.json"),
        "ERP_ROTATION_LOG": str(tmp / "rotation.log"),
        # Transactions stay a few ranges long, so the kills land all through the pass.
        "ERP_FERNET_MAX_BATCH_ROWS": "75",
    }
    return subprocess.Popen(
        [
            *CLI,
            "fernet",
            "reencrypt",
            "--db",
            table.db,
            "--column",
            table.spec,
            "--progress",
            "plain",
            "--progress-interval",
            "0",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,  # the kill takes the coordinator and its workers at once
    )


def _kill_after_lines(proc: subprocess.Popen[bytes], lines: int) -> bool:
    """Read ``lines`` progress lines, then SIGKILL; False if the run ended first."""
    assert proc.stderr is not None
    for _ in range(lines):
        if not proc.stderr.readline():
            break
    killed = proc.poll() is None
    if killed:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    return killed


def _kill_and_resume(
    table: EncryptedTable,
    new_key: KeyFactory,
    tmp: Path,
    kills: int,
    seed: int,
    rotate_every: int,
    max_lines: int,
    *extra: str,
) -> None:
    rng = random.Random(seed)
    keys = [table.key]
    killed = 0
    for attempt in range(kills):
        if attempt % rotate_every == 0:
            keys.append(new_key())  # a fresh primary: there is re-encryption to interrupt
        killed += _kill_after_lines(_spawn(table, keys, tmp, *extra), rng.randint(0, max_lines))
    assert killed >= kills * 0.8  # the kills landed in running processes
    final = _spawn(table, keys, tmp, *extra)
    _out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()
    assert table.under_only(keys[-1]) == []
    assert table.checksum(FernetKeyRing.from_keys(keys[-1])) == table.expected_checksum()
    vault, log = VaultFile(tmp / "vault.json"), AuditLog(tmp / "rotation.log")
    head = (vault.read().get(META_KEY) or {}).get("audit")
    report = log.verify(head)
    # A kill inside a log write leaves at most one entry the vault has and the log lacks.
    assert report.ok or report.incomplete is not None, report.problems


@pytest.mark.slow
def test_sigkill_fifty_times_on_sqlite_then_resume(
    sqlite_table: TableFactory, new_key: KeyFactory, tmp_path: Path
) -> None:
    """50 kills at seeded-random points of a one-worker run on SQLite, then a clean resume."""
    table = sqlite_table(2000, new_key())
    _kill_and_resume(table, new_key, tmp_path, 50, 20261125, 10, 14, "--batch-size", "25")


@pytest.mark.slow
def test_sigkill_two_workers_on_postgres_then_resume(
    pg_table: TableFactory, new_key: KeyFactory, tmp_path: Path
) -> None:
    """Kills of a two-worker PostgreSQL run (coordinator and workers): claims are released."""
    table = pg_table(1000, new_key())
    _kill_and_resume(table, new_key, tmp_path, 6, 7, 3, 10, "--batch-size", "25", "--workers", "2")


@pytest.mark.slow
def test_sigkill_two_workers_on_sqlite_then_resume(
    sqlite_table: TableFactory, new_key: KeyFactory, tmp_path: Path
) -> None:
    """Kills of a two-worker SQLite run (coordinator, forked worker, shared counter)."""
    table = sqlite_table(1500, new_key())
    extra = ("--batch-size", "25", "--workers", "2")
    _kill_and_resume(table, new_key, tmp_path, 10, 11, 3, 12, *extra)
