"""PostgreSQL: workers anywhere claim ranges with ``FOR UPDATE SKIP LOCKED``.

A claim is a transaction: the batch rows stay locked while their rows are read (one
``SELECT`` per range, all sent in one round trip), rewritten (one COPY into a temp table and
one ``UPDATE ... FROM`` for the whole batch, which compares the ciphertext read) and marked
done, then it commits. A worker claims as many ranges per transaction (in one statement) as
:mod:`erp.fernet.reencrypt.sizing` asks for, fewer while an application session waits for
one of its row locks. A worker that dies releases its claim with its
connection, so the range is simply claimed again; there is no coordinator to lose.
"""

# SQL here is built from identifiers that were checked against the live schema and are
# quoted by quote()/quote_table(); every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime
from typing import Any

from erp._extras import require
from erp.fernet.reencrypt.backend import Backend, Fix, Rows, Session, Updates
from erp.fernet.reencrypt.jobs import BATCHES, ChunkResult, Job, Range, load_pk, quote, quote_table
from erp.fernet.reencrypt.targets import Target

__all__ = ["PostgresBackend"]

_PLAN_LOCK = "erp_fernet_reencrypt_plan"
# pg_locks, not pg_stat_activity: the latter is a snapshot taken once per transaction.
_BLOCKED = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted "
    "AND pg_backend_pid() = ANY(pg_blocking_pids(pid)))"
)


class PostgresSession(Session):
    def __init__(self, backend: PostgresBackend, job: Job, worker: str) -> None:
        super().__init__(backend, job, worker)
        target = job.target
        t, c, k = quote_table(target.table), quote(target.column), quote(target.pk)
        # A batch's rows go to the server in one COPY (C code on both sides; no index on the
        # temp table, the join hashes it), then one UPDATE swaps them all. The bounds let
        # the server walk the primary key's index over just the batch's span: without them
        # it would scan the whole table for the join.
        # pg_temp: never a table of the same name in the user's schemas (search_path)
        self._tmp = "pg_temp.erp_fernet_tmp"
        with self.conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {self._tmp}")
            cur.execute(
                f"CREATE TEMP TABLE {self._tmp} (pk {target.pk_type}, "
                f"old {target.value_type}, new {target.value_type}) ON COMMIT DELETE ROWS"
            )
        self.conn.commit()
        self._tmp_used = False  # rows in it from an earlier write of this transaction
        self._copy = f"COPY {self._tmp} (pk, old, new) FROM STDIN"
        cast = backend.cast(target).replace("?", "%s")
        self._cas = {
            (lo, hi): f"UPDATE {t} AS t SET {c} = s.new FROM {self._tmp} AS s "
            f"WHERE t.{k} = s.pk AND t.{c} = s.old"
            + (f" AND t.{k} >= {cast}" if lo else "")
            + (f" AND t.{k} < {cast}" if hi else "")
            for lo in (False, True)
            for hi in (False, True)
        }
        # every batch row still in the table, with its value now (locked): a row missing is
        # one deleted meanwhile, one holding our new value was written
        self._misses = (
            f"SELECT t.{k}, t.{c} FROM {self._tmp} AS s JOIN {t} AS t ON t.{k} = s.pk "
            "FOR UPDATE OF t"
        )
        # SKIP LOCKED skips rows other transactions lock, not our own: a batch that claims
        # again names the ones it already holds.
        self._claim = (
            f"SELECT seq, lo, hi, planned_rows FROM {BATCHES} WHERE job_id = %s AND "
            "state = 'pending' AND NOT seq = ANY(%s) ORDER BY seq LIMIT %s "
            "FOR UPDATE SKIP LOCKED"
        )
        self._held: list[int] = []

    def _claim_ranges(self, count: int) -> list[Range]:
        with self.conn.cursor() as cur:
            cur.execute(self._claim, (self.job.job_id, self._held, count))
            rows = cur.fetchall()
        if not rows and not self._held:
            self.conn.rollback()
        self._held += [seq for seq, _lo, _hi, _planned in rows]
        return [Range(seq, load_pk(lo), load_pk(hi), planned) for seq, lo, hi, planned in rows]

    def next_range(self) -> Range | None:
        claimed = self._claim_ranges(1)
        return claimed[0] if claimed else None

    def take(self, wanted_rows: int, limit: int) -> list[tuple[Range, Rows]]:
        """Claim enough ranges for ``wanted_rows`` in one statement, read them in one trip."""
        ranges = self._claim_ranges(max(1, -(-wanted_rows // max(self.job.batch_size, 1))))
        if not ranges:
            return []
        cursors = []
        with self.conn.pipeline():
            for rng in ranges:
                cur = self.conn.cursor()
                sql = self.backend.select_sql(self.target, rng, False, limit)
                cur.execute(sql, [p for p in (rng.lo, rng.hi) if p is not None])
                cursors.append(cur)
        return [(rng, cur.fetchall()) for rng, cur in zip(ranges, cursors, strict=True)]

    def commit(self) -> None:
        self.conn.commit()
        self._held = []
        self._tmp_used = False

    def abort(self) -> None:
        self._held = []
        self._tmp_used = False
        super().abort()

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
        self._write([(rng, updates, result)], fix, last=last, now=now)

    def write_ranges(
        self, done: list[tuple[Range, Updates, ChunkResult]], fix: Fix, now: datetime
    ) -> None:
        self._write(done, fix, last=True, now=now)

    def _write(
        self, done: list[tuple[Range, Updates, ChunkResult]], fix: Fix, *, last: bool, now: datetime
    ) -> None:
        """Swap every update of ``done`` in one statement, then settle each range."""
        updates = [u for _rng, ups, _result in done for u in ups]
        try:
            with self.conn.cursor() as cur:
                if updates:
                    self._swap(cur, done, updates, fix)
                with self.conn.pipeline():
                    for rng, _ups, result in done:
                        self._finish_sql(cur, rng, result, last, now)
        except BaseException:
            self.conn.rollback()
            self._held = []
            self._tmp_used = False
            raise

    def _swap(
        self, cur: Any, done: list[tuple[Range, Updates, ChunkResult]], updates: Updates, fix: Fix
    ) -> None:
        """COPY the rows out, compare-and-swap them all, and redo the rows that changed."""
        if self._tmp_used:
            cur.execute(f"DELETE FROM {self._tmp}")
        self._tmp_used = True
        data = _copy_text(updates)  # before the COPY opens: the server waits while it is
        with cur.copy(self._copy) as copy:
            if data is not None:
                copy.write(data)
            else:
                for row in updates:
                    copy.write_row(row)
        # The span in the server's order of the key (its collation, not Python's): ranges
        # were numbered along it when the pass was planned.
        ranges = sorted((rng for rng, _ups, _result in done), key=lambda rng: rng.seq)
        lo, hi = ranges[0].lo, ranges[-1].hi
        cur.execute(
            self._cas[(lo is not None, hi is not None)], [b for b in (lo, hi) if b is not None]
        )
        if cur.rowcount != len(updates):
            cur.execute(self._misses)
            current = dict(cur.fetchall())
            for _rng, ups, result in done:
                self._fix_misses(cur, ups, current, result, fix)

    def contended(self) -> bool:
        with self.conn.cursor() as cur:
            cur.execute(_BLOCKED)
            row = cur.fetchone()
        return bool(row and row[0])


def _copy_text(updates: Updates) -> str | None:
    """The rows in COPY text format in one string, when nothing needs escaping.

    Fernet tokens are url-safe base64 and integer keys are digits, so the usual batch goes
    out in one write instead of a call per row; anything else takes ``write_row``.
    """
    if not all(type(pk) is int and type(old) is str for pk, old, _new in updates):
        return None
    data = "".join([f"{pk}\t{old}\t{new}\n" for pk, old, new in updates])
    rows = len(updates)
    if data.count("\t") != 2 * rows or data.count("\n") != rows or "\\" in data or "\r" in data:
        return None
    return data


class PostgresBackend(Backend):
    kind = "postgresql"
    placeholder = "%s"
    claims_in_transaction = True

    def connect(self) -> Any:
        psycopg = require("psycopg")  # without the [db] extra: one error naming it

        return psycopg.connect(self.db.libpq_url(), connect_timeout=10)

    def transient(self, exc: BaseException) -> bool:
        from psycopg import errors

        return isinstance(exc, (errors.DeadlockDetected, errors.SerializationFailure))

    def session(
        self,
        job: Job,
        worker: str,
        partition: tuple[int, int] | None,
        claims: str | None = None,
    ) -> Session:
        return PostgresSession(self, job, worker)

    def _begin_plan(self, conn: Any) -> None:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_PLAN_LOCK,))

    def cast(self, target: Target) -> str:
        return f"CAST(? AS {target.pk_type})"
