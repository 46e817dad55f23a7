"""SQLite: the embedded default. The workers of a run take ranges one at a time from a
shared counter (:mod:`erp.fernet.reencrypt.claims`), so they finish together; each batch of
ranges is rewritten in one short ``BEGIN IMMEDIATE`` transaction, with the crypto done
before it, so the writer lock never serialises the work of several processes.

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
from erp.fernet.reencrypt.claims import RangeClaims
from erp.fernet.reencrypt.jobs import ChunkResult, Job, Range, quote, quote_table
from erp.fernet.reencrypt.targets import Target

__all__ = ["SqliteBackend"]

_BUSY_TIMEOUT_SECONDS = 120.0
_IN_CHUNK = 500
_CONTENDED_WAIT_SECONDS = 0.2


class SqliteSession(Session):
    def __init__(
        self,
        backend: SqliteBackend,
        job: Job,
        worker: str,
        partition: tuple[int, int] | None,
        claims: str | None,
    ) -> None:
        super().__init__(backend, job, worker)
        self._ranges = backend.pending_ranges(self.conn, job, None if claims else partition)
        self._ranges.reverse()
        self._pending = {r.seq: r for r in self._ranges}
        self._claims = RangeClaims(claims) if claims else None
        t, c, k = quote_table(job.target.table), quote(job.target.column), quote(job.target.pk)
        self._cas = f"UPDATE {t} SET {c} = ? WHERE {k} = ? AND {c} = ?"
        self._current = f"SELECT {k}, {c} FROM {t} WHERE {k} IN "
        self.lock_wait_seconds = 0.0
        self._solo = claims is None and (partition is None or partition[1] == 1)

    def next_range(self) -> Range | None:
        if self._claims is None:
            return self._ranges.pop() if self._ranges else None
        while self._pending:
            seq = self._claims.take()
            if seq >= self.job.batches:  # every range of the pass has been handed out
                self._pending.clear()
                break
            rng = self._pending.pop(seq, None)
            if rng is not None:  # else done before this run (or planned away): skip it
                return rng
        return None

    def share(self, wanted_rows: int) -> int:
        # Near the end, take at most half of the ranges nobody has taken yet, so the last
        # ones are spread over the workers instead of one worker's batch ending the run.
        if self._claims is None:
            return wanted_rows
        left = max(self.job.batches - self._claims.peek(), 0)
        return min(wanted_rows, max((left + 1) // 2, 1) * self.job.batch_size)

    def close(self) -> None:
        if self._claims is not None:
            self._claims.close()
        super().close()

    def begin(self) -> None:
        started = time.perf_counter()
        self.conn.execute("BEGIN IMMEDIATE")
        self.lock_wait_seconds = time.perf_counter() - started

    def try_begin(self) -> bool:
        self.conn.execute("PRAGMA busy_timeout = 0")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            return False
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_SECONDS * 1000)}")
        self.lock_wait_seconds = 0.0
        return True

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

    def session(
        self,
        job: Job,
        worker: str,
        partition: tuple[int, int] | None,
        claims: str | None = None,
    ) -> Session:
        return SqliteSession(self, job, worker, partition, claims)

    def _begin_plan(self, conn: Any) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def cast(self, target: Target) -> str:
        return "?"
