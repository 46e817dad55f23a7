"""Workers of a multi-worker run: the coordinator is the first, the others are processes
started before the set-up checks and reused for every column, gone when the run ends (set-up
errors included); on SQLite they take ranges from a shared counter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from erp.clock import system_clock
from erp.fernet import FernetKeyRing
from erp.fernet.errors import TargetNotFound
from erp.fernet.reencrypt import reencrypt, runner
from erp.fernet.reencrypt.claims import RangeClaims
from erp.fernet.reencrypt.engines import backend_for
from erp.fernet.reencrypt.jobs import BATCHES
from erp.fernet.reencrypt.targets import DatabaseRef, resolve_targets
from erp.store.audit import AuditLog
from erp.store.vault import VaultFile

from .conftest import KeyFactory, TableFactory


def test_a_worker_process_without_a_job_exits_quietly() -> None:
    """Input that ends before any spec (the set-up failed): exit 0, nothing written."""
    done = subprocess.run(
        [sys.executable, "-m", "erp.fernet.reencrypt.process"],
        input=b"",
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, b"")


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "fresh-interpreter"])
def test_two_workers_take_two_columns_one_after_the_other(
    sqlite_table: TableFactory,
    new_key: KeyFactory,
    vault: VaultFile,
    log: AuditLog,
    monkeypatch: pytest.MonkeyPatch,
    fork: bool,
) -> None:
    """The same worker process (forked or started) runs both columns' jobs; all re-encrypted."""
    monkeypatch.setattr(runner, "_can_fork", lambda: fork)
    old, new = new_key(), new_key()
    table = sqlite_table(120, old)
    table.query(f"ALTER TABLE {table.table} ADD COLUMN other TEXT")
    fernet = Fernet(old)
    for pk in range(1, 121):
        table.query(
            f"UPDATE {table.table} SET other = ? WHERE id = ?",  # noqa: S608
            (fernet.encrypt(f"other {pk}".encode()).decode(), pk),
        )
    ring = FernetKeyRing.from_keys(new, [old])
    columns = [*table.columns, (table.table, "other")]
    report = reencrypt(table.db, columns, ring, workers=2, batch_size=10, vault=vault, log=log)
    assert report.ok
    assert [c.this_run.rows for c in report.columns] == [120, 120]
    assert table.under_only(new) == []
    other = table.query(f"SELECT other FROM {table.table}")  # noqa: S608
    assert all(Fernet(new).decrypt(value) for (value,) in other)
    names = {w.rsplit(":", 1)[1] for (w,) in table.query(f"SELECT worker FROM {BATCHES}")}  # noqa: S608
    assert "w1" in names
    assert names <= {"w1", "w2"}


def test_a_setup_error_with_two_workers_is_raised_and_writes_nothing(
    sqlite_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """A missing column with ``workers=2``: the set-up error, no checkpoint tables."""
    old, new = new_key(), new_key()
    table = sqlite_table(20, old)
    ring = FernetKeyRing.from_keys(new, [old])
    with pytest.raises(TargetNotFound):
        reencrypt(table.db, [(table.table, "nope")], ring, workers=2, vault=vault, log=log)
    assert table.tables() == {table.table}


def test_workers_sharing_a_counter_take_every_pending_range_once(
    sqlite_table: TableFactory, new_key: KeyFactory, tmp_path: Path
) -> None:
    """Two SQLite sessions on one counter: disjoint ranges, all pending ones, done ones skipped."""
    old, new = new_key(), new_key()
    table = sqlite_table(100, old)
    db = DatabaseRef.of(table.db)
    backend = backend_for(db)
    (target,) = resolve_targets(db, table.columns)
    job = backend.plan(target, FernetKeyRing.from_keys(new).primary.fingerprint, 10, system_clock())
    table.query(f"UPDATE {BATCHES} SET state = 'done' WHERE seq IN (3, 4)")  # noqa: S608
    claims = RangeClaims.create()
    sessions = [backend.session(job, f"w{i}", None, claims.path) for i in (1, 2)]
    taken: list[list[int]] = [[], []]
    try:
        for step in range(40):  # one, then the other, unevenly, as real workers would
            side = 0 if step % 3 else 1
            rng = sessions[side].next_range()
            if rng is not None:
                taken[side].append(rng.seq)
        assert sessions[0].next_range() is None
        assert sessions[1].next_range() is None
    finally:
        for session in sessions:
            session.close()
        claims.remove()
    assert taken[0]
    assert taken[1]
    assert not set(taken[0]) & set(taken[1])
    assert sorted(taken[0] + taken[1]) == [s for s in range(job.batches) if s not in (3, 4)]
    assert not Path(claims.path).exists()


def test_near_the_end_a_worker_takes_at_most_half_of_what_is_left(
    sqlite_table: TableFactory, new_key: KeyFactory
) -> None:
    """With a shared counter, a batch shrinks to half the untaken ranges; alone, it does not."""
    old, new = new_key(), new_key()
    table = sqlite_table(100, old)
    db = DatabaseRef.of(table.db)
    backend = backend_for(db)
    (target,) = resolve_targets(db, table.columns)
    job = backend.plan(target, FernetKeyRing.from_keys(new).primary.fingerprint, 10, system_clock())
    claims = RangeClaims.create()
    shared = backend.session(job, "w1", None, claims.path)
    alone = backend.session(job, "w2", None)
    try:
        assert job.batches == 10
        assert shared.share(10_000) == 50  # 10 ranges left: half of them, 10 rows each
        assert shared.share(20) == 20
        for _ in range(8):
            shared.next_range()
        assert shared.share(10_000) == 10  # 2 left: one range
        assert alone.share(10_000) == 10_000
    finally:
        shared.close()
        alone.close()
        claims.remove()
