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
from erp.fernet.reencrypt.engines import backend_for
from erp.fernet.reencrypt.jobs import ChunkResult
from erp.fernet.reencrypt.targets import DatabaseRef, resolve_targets
from erp.store.audit import AuditLog
from erp.store.vault import VaultFile

from .conftest import KeyFactory, TableFactory


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
    ref = DatabaseRef.parse(table.db)
    backend = backend_for(ref)
    target = resolve_targets(ref, table.columns)[0]
    job = backend.plan(target, "sha256:0000000000000000", 20, datetime.now(UTC))
    session = backend.session(job, "test", None)
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
