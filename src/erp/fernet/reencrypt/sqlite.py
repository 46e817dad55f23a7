"""SQLite: the embedded default. Workers split the ranges statically (``seq % N``); each
batch of ranges is rewritten in one short ``BEGIN IMMEDIATE`` transaction, with the crypto
done before it, so the writer lock never serialises the work of several processes.

The database's own durability settings (``journal_mode``, ``synchronous``) are used as they
are: re-encryption never switches a user's file to WAL or turns ``fsync`` off. Commits are
made cheap instead by carrying more rows each (see :mod:`erp.fernet.reencrypt.sizing`) and
by overlapping each commit's ``fsync`` with the next batch's crypto.
"""

# SQL here is built from identifiers that were checked against the live schema and are
# quoted by quote()/quote_table(); every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from typing import Any

from erp.fernet.reencrypt.backend import Backend, Fix, Session
from erp.fernet.reencrypt.jobs import ChunkResult, Job, Range, quote, quote_table
from erp.fernet.reencrypt.targets import Target

__all__ = ["SqliteBackend"]

_BUSY_TIMEOUT_SECONDS = 120.0
_IN_CHUNK = 500
_CONTENDED_WAIT_SECONDS = 0.2


class SqliteSession(Session):
    def __init__(
        self, backend: SqliteBackend, job: Job, worker: str, partition: tuple[int, int] | None
    ) -> None:
        super().__init__(backend, job, worker)
        self._ranges = backend.pending_ranges(self.conn, job, partition)
        self._ranges.reverse()
        t, c, k = quote_table(job.target.table), quote(job.target.column), quote(job.target.pk)
        self._cas = f"UPDATE {t} SET {c} = ? WHERE {k} = ? AND {c} = ?"
        self._current = f"SELECT {k}, {c} FROM {t} WHERE {k} IN "
        self.lock_wait_seconds = 0.0
        self._solo = partition is None or partition[1] == 1

    def next_range(self) -> Range | None:
        return self._ranges.pop() if self._ranges else None

    def begin(self) -> None:
        started = time.perf_counter()
        self.conn.execute("BEGIN IMMEDIATE")
        self.lock_wait_seconds = time.perf_counter() - started

    def write(
        self,
        rng: Range,
        updates: list[tuple[Any, Any, Any]],
        result: ChunkResult,
        fix: Fix,
        *,
        last: bool,
        now: datetime,
    ) -> None:
        cur = self.conn.cursor()
        try:
            if updates:
                cur.executemany(self._cas, [(new, pk, old) for pk, old, new in updates])
                if cur.rowcount != len(updates):
                    self._fix_misses(cur, updates, self._now_values(cur, updates), result, fix)
            self._finish_sql(cur, rng, result, last, now)
        except BaseException:
            if self.conn.in_transaction:
                self.conn.rollback()
            raise

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def contended(self) -> bool:
        # SQLite cannot say who waits for our lock; a long wait for it ourselves means
        # another writer is active, and it waits for us in turn. With several workers that
        # writer is usually a sibling, which waits only for our write and commit, not our
        # crypto: there, only compare-and-swap misses (counted by the worker) say so.
        return self._solo and self.lock_wait_seconds > _CONTENDED_WAIT_SECONDS

    def _now_values(self, cur: Any, updates: list[tuple[Any, Any, Any]]) -> dict[Any, Any]:
        pks = [u[0] for u in updates]
        found: dict[Any, Any] = {}
        for i in range(0, len(pks), _IN_CHUNK):
            part = pks[i : i + _IN_CHUNK]
            cur.execute(self._current + "(" + ",".join("?" * len(part)) + ")", part)
            found.update(cur.fetchall())
        return found

    def abort(self) -> None:
        if self.conn.in_transaction:
            super().abort()
        self.range_result = ChunkResult()


class SqliteBackend(Backend):
    kind = "sqlite"
    placeholder = "?"

    def connect(self) -> sqlite3.Connection:
        # autocommit mode: transactions are explicit (BEGIN IMMEDIATE), reads take no lock
        # longer than the statement
        uri = f"file:{self.db.path}?mode=rw"
        conn = sqlite3.connect(
            uri,
            uri=True,
            isolation_level=None,
            timeout=_BUSY_TIMEOUT_SECONDS,
            check_same_thread=False,
        )
        return conn

    def session(self, job: Job, worker: str, partition: tuple[int, int] | None) -> Session:
        return SqliteSession(self, job, worker, partition)

    def _begin_plan(self, conn: Any) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def cast(self, target: Target) -> str:
        return "?"
