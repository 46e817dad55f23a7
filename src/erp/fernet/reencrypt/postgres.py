"""PostgreSQL: workers anywhere claim ranges with ``FOR UPDATE SKIP LOCKED``.

A claim is a transaction: the batch rows stay locked while their rows are read, rewritten
(COPY into a temp table, then one ``UPDATE ... FROM`` per range that compares the
ciphertext read) and marked done, then it commits; a worker claims as many ranges per
transaction as :mod:`erp.fernet.reencrypt.sizing` asks for, fewer while an application
session waits for one of its row locks. A worker that dies releases its claim with its
connection, so the range is simply claimed again; there is no coordinator to lose.
"""

# SQL here is built from identifiers that were checked against the live schema and are
# quoted by quote()/quote_table(); every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime
from typing import Any

from erp._extras import require
from erp.fernet.reencrypt.backend import Backend, Fix, Session
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
        self._tmp = "erp_fernet_tmp"
        with self.conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {self._tmp}")
            cur.execute(
                f"CREATE TEMP TABLE {self._tmp} (pk {target.pk_type} PRIMARY KEY, "
                f"old {target.value_type}, new {target.value_type}) ON COMMIT DELETE ROWS"
            )
        self.conn.commit()
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
        self._misses = (
            f"SELECT t.{k}, t.{c} FROM {self._tmp} AS s JOIN {t} AS t ON t.{k} = s.pk "
            f"WHERE t.{c} IS DISTINCT FROM s.new FOR UPDATE OF t"
        )
        # SKIP LOCKED skips rows other transactions lock, not our own: a batch of several
        # ranges names the ones it already holds.
        self._claim = (
            f"SELECT seq, lo, hi, planned_rows FROM {BATCHES} WHERE job_id = %s AND "
            "state = 'pending' AND NOT seq = ANY(%s) ORDER BY seq LIMIT 1 "
            "FOR UPDATE SKIP LOCKED"
        )
        self._held: list[int] = []

    def next_range(self) -> Range | None:
        with self.conn.cursor() as cur:
            cur.execute(self._claim, (self.job.job_id, self._held))
            row = cur.fetchone()
        if row is None:
            if not self._held:
                self.conn.rollback()
            return None
        seq, lo, hi, planned = row
        self._held.append(seq)
        return Range(seq, load_pk(lo), load_pk(hi), planned)

    def commit(self) -> None:
        self.conn.commit()
        self._held = []

    def abort(self) -> None:
        self._held = []
        super().abort()

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
        try:
            with self.conn.cursor() as cur:
                if updates:
                    with cur.copy(self._copy) as copy:
                        data = _copy_text(updates)
                        if data is not None:
                            copy.write(data)
                        else:
                            for row in updates:
                                copy.write_row(row)
                    bounds = [b for b in (rng.lo, rng.hi) if b is not None]
                    cur.execute(self._cas[(rng.lo is not None, rng.hi is not None)], bounds)
                    if cur.rowcount != len(updates):
                        cur.execute(self._misses)
                        self._fix_misses(cur, updates, dict(cur.fetchall()), result, fix)
                    cur.execute(f"DELETE FROM {self._tmp}")  # the next range's rows follow
                self._finish_sql(cur, rng, result, last, now)
        except BaseException:
            self.conn.rollback()
            self._held = []
            raise

    def contended(self) -> bool:
        with self.conn.cursor() as cur:
            cur.execute(_BLOCKED)
            row = cur.fetchone()
        return bool(row and row[0])


def _copy_text(updates: list[tuple[Any, Any, Any]]) -> str | None:
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
