"""Re-encryption leaves the database's durability alone and notices writers it blocks."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from erp.fernet import FernetKeyRing
from erp.fernet.reencrypt import reencrypt
from erp.fernet.reencrypt.backend import Session
from erp.fernet.reencrypt.engines import backend_for
from erp.fernet.reencrypt.jobs import ChunkResult
from erp.fernet.reencrypt.targets import DatabaseRef, resolve_targets
from erp.store.audit import AuditLog
from erp.store.vault import VaultFile

from .conftest import EncryptedTable, KeyFactory, TableFactory


@pytest.mark.parametrize("mode", ["delete", "wal"])
def test_sqlite_journal_mode_is_never_switched(
    sqlite_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog, mode: str
) -> None:
    """A rollback-journal file stays one (no WAL behind the user's back); WAL stays WAL."""
    old, new = new_key(), new_key()
    table = sqlite_table(300, old)
    with sqlite3.connect(table.dsn) as conn:
        conn.execute(f"PRAGMA journal_mode={mode}")
    conn.close()
    report = reencrypt(
        table.db, table.columns, FernetKeyRing.from_keys(new, [old]), vault=vault, log=log
    )
    assert report.ok
    with sqlite3.connect(table.dsn) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == mode
    conn.close()


def test_postgres_session_sees_an_application_write_it_blocks(
    pg_table: TableFactory, new_key: KeyFactory
) -> None:
    """An application UPDATE waiting for a row the batch holds counts as contention."""
    table = pg_table(40, new_key())
    session = _session(table)
    released = threading.Event()
    try:
        rng = session.next_range()
        assert rng is not None
        rows = session.read(rng, None, 40)
        pk, value = rows[0]
        now = datetime.now(UTC)
        session.write(rng, [(pk, value, value)], ChunkResult(), _same, last=False, now=now)
        assert not session.contended()

        def application() -> None:
            with psycopg.connect(table.dsn) as conn:
                conn.execute("UPDATE secrets SET secret = secret WHERE id = %s", (pk,))
                conn.commit()
            released.set()

        thread = threading.Thread(target=application)
        thread.start()
        deadline = time.monotonic() + 30
        while not session.contended():  # the UPDATE reaches the lock a moment later
            assert time.monotonic() < deadline, "the application never blocked"
        session.commit()
        thread.join(timeout=30)
        assert released.is_set()
    finally:
        session.abort()
        session.close()


def _same(value: Any) -> Any:
    return value


def _session(table: EncryptedTable) -> Session:
    """A worker's session on a freshly planned pass over ``table`` (ranges of 20 rows)."""
    ref = DatabaseRef.parse(table.db)
    backend = backend_for(ref)
    target = resolve_targets(ref, table.columns)[0]
    job = backend.plan(target, "sha256:0000000000000000", 20, datetime.now(UTC))
    return backend.session(job, "test", None)


def test_sqlite_session_does_not_wait_when_asked_to_try(
    sqlite_table: TableFactory, new_key: KeyFactory
) -> None:
    """try_begin answers at once while another writer holds the file; begin still waits."""
    table = sqlite_table(40, new_key())
    session = _session(table)
    other = sqlite3.connect(table.dsn, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")  # a sibling worker in the middle of its commit
        started = time.monotonic()
        assert session.try_begin() is False
        assert time.monotonic() - started < 1.0  # no busy wait (the timeout is 120 s)
        waited = threading.Timer(0.2, lambda: other.execute("COMMIT"))
        waited.start()
        session.begin()  # the busy timeout is back: this waits for the other writer
        waited.join()
        session.commit()
        assert session.try_begin() is True
        session.commit()
    finally:
        session.abort()
        session.close()
        other.close()


def test_two_sqlite_workers_behind_a_held_lock_lose_nothing(
    sqlite_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """A writer holding the file when a worker would write: it rotates ahead, then writes."""
    old, new = new_key(), new_key()
    table = sqlite_table(600, old)
    holder = sqlite3.connect(table.dsn, isolation_level=None, check_same_thread=False)
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))

    def hold_once(target: Any, rows: list[tuple[Any, Any]]) -> None:
        if not release.is_alive() and not release.finished.is_set():
            holder.execute("BEGIN IMMEDIATE")  # the first batch finds the file locked
            release.start()

    try:
        report = reencrypt(
            table.db,
            table.columns,
            FernetKeyRing.from_keys(new, [old]),
            batch_size=50,
            workers=1,
            vault=vault,
            log=log,
            before_write=hold_once,
        )
    finally:
        if release.is_alive():
            release.join()
        holder.close()
    assert report.ok
    assert release.finished.is_set()
    assert report.columns[0].totals.rotated == 600
    assert table.under_only(new) == []
    assert table.checksum(FernetKeyRing.from_keys(new)) == table.expected_checksum()
