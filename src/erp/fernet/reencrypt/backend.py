"""Driver-level access for the hot path, shared by SQLite and PostgreSQL.

Rows move through the drivers (``sqlite3``, ``psycopg``) with as little Python around them
as possible; the crypto is where the time goes. A subclass per engine supplies
connections, planning locks, claims and the write path.
"""

# SQL here is built from identifiers that were checked against the live schema and are
# quoted by quote()/quote_table(); every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from typing import Any

from erp.clock import to_iso
from erp.fernet.errors import NoKeyOpens, TimestampInFuture
from erp.fernet.reencrypt.jobs import (
    BATCHES,
    JOBS,
    UNREADABLE,
    ChunkResult,
    Job,
    JobTotals,
    Range,
    dump_pk,
    load_pk,
    plan_ranges,
    quote,
    quote_table,
)
from erp.fernet.reencrypt.targets import DatabaseRef, Target

__all__ = ["Backend", "Fix", "Rows", "Session", "Updates"]

Fix = Callable[[Any], Any]
"""Re-rotates a value found changed at write time: new value, ``None`` (already primary)."""
Rows = list[tuple[Any, Any]]
"""(pk, value) as read."""
Updates = list[tuple[Any, Any, Any]]
"""(pk, value read, value to write) of the rows a chunk rewrites."""

_TABLES = (
    f"CREATE TABLE IF NOT EXISTS {JOBS} ("
    " job_id TEXT PRIMARY KEY, table_name TEXT NOT NULL, column_name TEXT NOT NULL,"
    " target TEXT NOT NULL, pass_no INTEGER NOT NULL, state TEXT NOT NULL,"
    " batch_size INTEGER NOT NULL, batches INTEGER NOT NULL, planned_rows BIGINT NOT NULL,"
    " created_at TEXT NOT NULL, finished_at TEXT)",
    f"CREATE TABLE IF NOT EXISTS {BATCHES} ("
    " job_id TEXT NOT NULL, seq INTEGER NOT NULL, lo TEXT, hi TEXT,"
    " planned_rows INTEGER NOT NULL, state TEXT NOT NULL,"
    " rows_seen INTEGER, rotated INTEGER, current INTEGER, nulls INTEGER, retried INTEGER,"
    " unreadable INTEGER, worker TEXT, finished_at TEXT, PRIMARY KEY (job_id, seq))",
    f"CREATE TABLE IF NOT EXISTS {UNREADABLE} ("
    " job_id TEXT NOT NULL, pk TEXT NOT NULL, PRIMARY KEY (job_id, pk))",
)


class Session(ABC):
    """One connection of one worker: take a range, read it in chunks, write them back."""

    def __init__(self, backend: Backend, job: Job, worker: str) -> None:
        self.backend = backend
        self.job = job
        self.target = job.target
        self.worker = worker
        self.conn = backend.connect()
        self.range_result = ChunkResult()

    @abstractmethod
    def next_range(self) -> Range | None:
        """The next range to work on (claimed, on PostgreSQL), or ``None`` when none is left."""

    def read(self, rng: Range, after: Any, limit: int) -> Rows:
        sql = self.backend.select_sql(self.target, rng, after is not None, limit)
        params = [p for p in (rng.lo, rng.hi, after) if p is not None]
        cur = self.conn.cursor()
        cur.execute(sql, params)
        rows: Rows = cur.fetchall()
        return rows

    def share(self, wanted_rows: int) -> int:
        """How many of ``wanted_rows`` to take now (fewer near the end of a shared pass)."""
        return wanted_rows

    def take(self, wanted_rows: int, limit: int) -> list[tuple[Range, Rows]]:
        """Ranges and their first ``limit`` rows until they hold ``wanted_rows`` (at least
        one range; none when the pass has nothing left for this session)."""
        parts: list[tuple[Range, Rows]] = []
        held = 0
        wanted_rows = self.share(wanted_rows)
        while held < wanted_rows and (rng := self.next_range()) is not None:
            rows = self.read(rng, None, limit)
            parts.append((rng, rows))
            held += max(len(rows), 1)
        return parts

    def begin(self) -> None:  # noqa: B027 - PostgreSQL's transaction opened with its claim
        """Open the write transaction of a batch (several ranges may go into it)."""

    def try_begin(self) -> bool:
        """:meth:`begin` if no other writer holds the database now; ``False`` if one does."""
        self.begin()
        return True

    @abstractmethod
    def write(
        self,
        rng: Range,
        updates: Updates,
        result: ChunkResult,
        fix: Fix,
        *,
        last: bool,
        now: datetime,
    ) -> None:
        """Compare-and-swap ``updates`` (pk, old, new) in the open transaction; on ``last``
        also mark ``rng`` done there. Nothing is committed until :meth:`commit`."""

    def write_ranges(
        self, done: list[tuple[Range, Updates, ChunkResult]], fix: Fix, now: datetime
    ) -> None:
        """:meth:`write` each range of ``done`` as its last chunk (an engine may batch them)."""
        for rng, updates, result in done:
            self.write(rng, updates, result, fix, last=True, now=now)

    def commit(self) -> None:
        """Commit the batch: its rows and the ranges marked done become durable together."""
        self.conn.commit()

    def contended(self) -> bool:
        """Whether another writer waited for this session's locks during the batch."""
        return False

    def abort(self) -> None:
        """Roll back whatever this session holds (a claim, a half-written range)."""
        self.range_result = ChunkResult()
        with contextlib.suppress(Exception):  # a dead connection has nothing to roll back
            self.conn.rollback()

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing after an error must not mask it
            self.conn.close()

    def _fix_misses(
        self,
        cur: Any,
        updates: list[tuple[Any, Any, Any]],
        current: dict[Any, Any],
        result: ChunkResult,
        fix: Fix,
    ) -> None:
        """Rows changed between read and write: rotate what is there now (rows are locked).

        ``current`` holds every row of ``updates`` still in the table, with its value now.
        """
        fixes = []
        for pk, _old, new in updates:
            if pk not in current:  # deleted meanwhile: not rotated by us after all
                result.retried += 1
                result.rotated -= 1
                continue
            if current[pk] == new:
                continue  # our write went through
            value = current[pk]
            result.retried += 1
            result.rotated -= 1
            if value is None:
                result.nulls += 1
                continue
            try:
                out = fix(value)
            except (NoKeyOpens, TimestampInFuture, TypeError):
                result.unreadable.append(pk)
                continue
            if out is None:
                result.current += 1
                continue
            fixes.append((out, pk))
            result.rotated += 1
        if fixes:
            cur.executemany(self.backend.set_sql(self.target), fixes)

    def _finish_sql(
        self, cur: Any, rng: Range, result: ChunkResult, last: bool, now: datetime
    ) -> None:
        b = self.backend
        if result.unreadable:
            cur.executemany(
                b.insert_unreadable_sql,
                [(self.job.job_id, dump_pk(pk)) for pk in result.unreadable],
            )
        self.range_result.add(result)
        if last:
            r = self.range_result
            cur.execute(
                b.sub(
                    f"UPDATE {BATCHES} SET state = 'done', rows_seen = ?, rotated = ?, "
                    "current = ?, nulls = ?, retried = ?, unreadable = ?, worker = ?, "
                    "finished_at = ? WHERE job_id = ? AND seq = ?"
                ),
                (
                    r.rows,
                    r.rotated,
                    r.current,
                    r.nulls,
                    r.retried,
                    len(r.unreadable),
                    self.worker,
                    to_iso(now),
                    self.job.job_id,
                    rng.seq,
                ),
            )
            self.range_result = ChunkResult()


class Backend(ABC):
    """What differs between engines; one instance per database per process."""

    kind: str
    placeholder: str
    claims_in_transaction: bool = False
    """Whether a claimed range stays claimed only until the transaction ends (row locks)."""

    def __init__(self, db: DatabaseRef) -> None:
        self.db = db
        self._select_cache: dict[tuple[str, bool, bool, bool, int], str] = {}

    def sub(self, sql: str) -> str:
        """Rewrite ``?`` placeholders for this driver."""
        if self.placeholder == "?":
            return sql
        return sql.replace("%", "%%").replace("?", self.placeholder)

    @abstractmethod
    def connect(self) -> Any: ...

    def transient(self, exc: BaseException) -> bool:
        """Whether ``exc`` only means "try this range again" (a deadlock, say)."""
        return False

    @abstractmethod
    def session(
        self,
        job: Job,
        worker: str,
        partition: tuple[int, int] | None,
        claims: str | None = None,
    ) -> Session:
        """A worker's connection. ``partition`` (index, count) keeps only ``seq % count ==
        index``; ``claims`` names a :class:`~erp.fernet.reencrypt.claims.RangeClaims` file
        shared by the run's workers (engines that claim ranges in the database ignore it)."""

    def _table_exists(self, cur: Any, name: str) -> bool:
        if self.kind == "postgresql":
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
        else:
            cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        row = cur.fetchone()
        return bool(row and row[0])

    @abstractmethod
    def _begin_plan(self, conn: Any) -> None:
        """Start the planning transaction, serialised against other planners."""

    @abstractmethod
    def cast(self, target: Target) -> str:
        """SQL that turns a bound parameter into the primary key's type (``?`` or ``?::t``)."""

    @property
    def insert_unreadable_sql(self) -> str:
        return self.sub(
            f"INSERT INTO {UNREADABLE} (job_id, pk) VALUES (?, ?) ON CONFLICT DO NOTHING"
        )

    def set_sql(self, target: Target) -> str:
        t, c, k = quote_table(target.table), quote(target.column), quote(target.pk)
        return self.sub(f"UPDATE {t} SET {c} = ? WHERE {k} = ?")

    def select_sql(self, target: Target, rng: Range, after: bool, limit: int) -> str:
        key = (target.name, rng.lo is not None, rng.hi is not None, after, limit)
        cached = self._select_cache.get(key)
        if cached is not None:
            return cached
        t, c, k = quote_table(target.table), quote(target.column), quote(target.pk)
        p = self.cast(target)
        conds = [
            cond
            for cond, present in (
                (f"{k} >= {p}", rng.lo is not None),
                (f"{k} < {p}", rng.hi is not None),
                (f"{k} > {p}", after),
            )
            if present
        ]
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        sql = self.sub(f"SELECT {k}, {c} FROM {t}{where} ORDER BY {k} LIMIT {int(limit)}")
        self._select_cache[key] = sql
        return sql

    # -- planning ----------------------------------------------------------------------

    def plan(self, target: Target, fingerprint: str, batch_size: int, now: datetime) -> Job:
        """Resume the running pass towards ``fingerprint`` or plan a new one (one transaction)."""
        conn = self.connect()
        try:
            self._begin_plan(conn)
            cur = conn.cursor()
            for name, ddl in zip((JOBS, BATCHES, UNREADABLE), _TABLES, strict=True):
                # created once; a user that may write them but not create tables in the
                # schema (PostgreSQL asks CREATE for IF NOT EXISTS too) runs once they exist
                if not self._table_exists(cur, name):
                    cur.execute(ddl)
            job = self._resume(cur, target, fingerprint) or self._new_job(
                cur, target, fingerprint, batch_size, now
            )
            conn.commit()
            return job
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    def _resume(self, cur: Any, target: Target, fingerprint: str) -> Job | None:
        cur.execute(
            self.sub(
                f"SELECT job_id, pass_no, batch_size, batches, planned_rows FROM {JOBS} "
                "WHERE table_name = ? AND column_name = ? AND target = ? AND state = 'running'"
            ),
            (target.table, target.column, fingerprint),
        )
        row = cur.fetchone()
        if row is None:
            return None
        job_id, pass_no, batch_size, batches, planned = row
        cur.execute(
            self.sub(
                f"SELECT COUNT(*), COALESCE(SUM(planned_rows), 0) FROM {BATCHES} "
                "WHERE job_id = ? AND state = 'pending'"
            ),
            (job_id,),
        )
        pending, pending_rows = cur.fetchone()
        return Job(
            job_id,
            target,
            fingerprint,
            pass_no,
            batch_size,
            True,
            batches,
            pending,
            int(pending_rows),
            int(planned),
        )

    def _new_job(
        self, cur: Any, target: Target, fingerprint: str, batch_size: int, now: datetime
    ) -> Job:
        cur.execute(
            self.sub(
                f"SELECT COALESCE(MAX(pass_no), 0) FROM {JOBS} "
                "WHERE table_name = ? AND column_name = ?"
            ),
            (target.table, target.column),
        )
        pass_no = int(cur.fetchone()[0]) + 1
        # Older passes over this column (finished, or aimed at a key no longer primary)
        # are history now: keep their job rows, drop their batch lists.
        old = self.sub(f"SELECT job_id FROM {JOBS} WHERE table_name = ? AND column_name = ?")
        for table in (BATCHES, UNREADABLE):
            cur.execute(
                f"DELETE FROM {table} WHERE job_id IN ({old})", (target.table, target.column)
            )
        cur.execute(
            self.sub(
                f"UPDATE {JOBS} SET state = 'abandoned' "
                "WHERE table_name = ? AND column_name = ? AND state = 'running'"
            ),
            (target.table, target.column),
        )
        t, k = quote_table(target.table), quote(target.pk)
        cur.execute(f"SELECT COUNT(*) FROM {t}")
        total = int(cur.fetchone()[0])
        cur.execute(
            f"SELECT pk FROM (SELECT {k} AS pk, ROW_NUMBER() OVER (ORDER BY {k}) AS rn "
            f"FROM {t}) s WHERE (rn - 1) % {int(batch_size)} = 0 ORDER BY pk"
        )
        boundaries = [row[0] for row in cur.fetchall()]
        ranges = plan_ranges(boundaries, total, batch_size)
        job_id = f"{target.table}.{target.column}#{pass_no}"
        cur.executemany(
            self.sub(
                f"INSERT INTO {BATCHES} (job_id, seq, lo, hi, planned_rows, state) "
                "VALUES (?, ?, ?, ?, ?, 'pending')"
            ),
            [
                (
                    job_id,
                    r.seq,
                    None if r.lo is None else dump_pk(r.lo),
                    None if r.hi is None else dump_pk(r.hi),
                    r.planned_rows,
                )
                for r in ranges
            ],
        )
        cur.execute(
            self.sub(
                f"INSERT INTO {JOBS} (job_id, table_name, column_name, target, pass_no, state, "
                "batch_size, batches, planned_rows, created_at) "
                "VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)"
            ),
            (
                job_id,
                target.table,
                target.column,
                fingerprint,
                pass_no,
                batch_size,
                len(ranges),
                total,
                to_iso(now),
            ),
        )
        return Job(
            job_id,
            target,
            fingerprint,
            pass_no,
            batch_size,
            False,
            len(ranges),
            len(ranges),
            total,
            total,
        )

    def pending_ranges(self, conn: Any, job: Job, partition: tuple[int, int] | None) -> list[Range]:
        """Every pending range of ``job`` (optionally only ``seq % count == index``)."""
        sql = (
            f"SELECT seq, lo, hi, planned_rows FROM {BATCHES} "
            "WHERE job_id = ? AND state = 'pending'"
        )
        params: list[Any] = [job.job_id]
        if partition is not None:
            sql += " AND seq % ? = ?"
            params += [partition[1], partition[0]]
        cur = conn.cursor()
        cur.execute(self.sub(sql + " ORDER BY seq"), params)
        return [Range(s, load_pk(lo), load_pk(hi), n) for s, lo, hi, n in cur.fetchall()]

    # -- finishing ---------------------------------------------------------------------

    def settle(self, job: Job) -> int:
        """Wait for ranges other workers hold, then count those still pending (unclaimed)."""
        conn = self.connect()
        try:
            cur = conn.cursor()
            lock = " FOR UPDATE" if self.kind == "postgresql" else ""
            cur.execute(
                self.sub(f"SELECT seq FROM {BATCHES} WHERE job_id = ? AND state = 'pending'{lock}"),
                (job.job_id,),
            )
            pending = len(cur.fetchall())
            conn.rollback()
            return pending
        finally:
            conn.close()

    def finish(self, job: Job, now: datetime, *, max_listed: int = 1000) -> JobTotals:
        """Mark the pass done if no range is pending; the pass's totals from the table."""
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(
                self.sub(
                    f"UPDATE {JOBS} SET state = 'done', finished_at = ? WHERE job_id = ? AND "
                    f"state = 'running' AND NOT EXISTS (SELECT 1 FROM {BATCHES} "
                    "WHERE job_id = ? AND state = 'pending')"
                ),
                (to_iso(now), job.job_id, job.job_id),
            )
            conn.commit()
            cur.execute(
                self.sub(
                    "SELECT state, COUNT(*), COALESCE(SUM(rows_seen), 0), "
                    "COALESCE(SUM(rotated), 0), COALESCE(SUM(current), 0), "
                    "COALESCE(SUM(nulls), 0), COALESCE(SUM(retried), 0) "
                    f"FROM {BATCHES} WHERE job_id = ? GROUP BY state"
                ),
                (job.job_id,),
            )
            totals = JobTotals()
            for state, count, rows, rotated, current, nulls, retried in cur.fetchall():
                if state == "done":
                    totals.done_batches = int(count)
                    totals.rows, totals.rotated, totals.current = (
                        int(rows),
                        int(rotated),
                        int(current),
                    )
                    totals.nulls, totals.retried = int(nulls), int(retried)
                else:
                    totals.pending_batches = int(count)
            cur.execute(
                self.sub(f"SELECT COUNT(*) FROM {UNREADABLE} WHERE job_id = ?"), (job.job_id,)
            )
            totals.unreadable_total = int(cur.fetchone()[0])
            cur.execute(
                self.sub(f"SELECT pk FROM {UNREADABLE} WHERE job_id = ? LIMIT {int(max_listed)}"),
                (job.job_id,),
            )
            totals.unreadable = sorted(
                (load_pk(row[0]) for row in cur.fetchall()), key=lambda v: (str(type(v)), v)
            )
            cur.execute(self.sub(f"SELECT state FROM {JOBS} WHERE job_id = ?"), (job.job_id,))
            totals.finished = cur.fetchone()[0] == "done"
            conn.commit()
            return totals
        finally:
            conn.close()
