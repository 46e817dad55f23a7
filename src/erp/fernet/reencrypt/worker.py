"""One re-encryption worker: take ranges, rotate their rows, write them back.

The crypto runs outside any database lock, and a transaction carries as many planned ranges
as :class:`~erp.fernet.reencrypt.sizing.BatchSizer` asks for (about a quarter second of
crypto, more while commits are slow, less while another writer waits). Each range is
still marked done in the transaction that rewrites it.

On PostgreSQL a worker keeps three connections, each with its own I/O thread, and takes
them in turn: the database round trips of one batch (claim, reads, COPY, UPDATE, marks,
contention check, commit: seven, whatever its ranges) overlap the crypto of the next, and
the read of batch k+1 never waits for the write of batch k-1 (with two connections it
shared one, and the crypto waited for both).
On SQLite the rows are written from the main thread (the driver would hand the GIL back
and forth for every row of an ``executemany`` in a thread), the next batch is read before
the write lock is taken, and only the ``COMMIT`` (one call that waits for ``fsync``
without the GIL) runs in a thread, overlapping the next batch's crypto.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from erp.clock import Clock, system_clock
from erp.fernet.errors import NoKeyOpens, TimestampInFuture
from erp.fernet.keys import FernetKeyRing
from erp.fernet.reencrypt.backend import Rows, Session, Updates
from erp.fernet.reencrypt.engines import backend_for
from erp.fernet.reencrypt.jobs import ChunkResult, Job, Range
from erp.fernet.reencrypt.sizing import BatchSizer, sizer_from_env
from erp.fernet.reencrypt.targets import DatabaseRef, Target

__all__ = ["BeforeWrite", "Progress", "WorkerSpec", "rotate_rows", "run_worker"]

Progress = Callable[[ChunkResult], None]
BeforeWrite = Callable[[Target, list[tuple[Any, Any]]], None]
"""Test seam: called with the rows read, after the crypto and before the write."""

Part = tuple[Range, Rows]
Prepared = tuple[Range, Rows, Updates, ChunkResult]


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs (picklable; the keys never reach ``repr``)."""

    db: DatabaseRef
    job: Job
    keys: tuple[str, ...] = field(repr=False)
    worker: str = "w0"
    partition: tuple[int, int] | None = None
    pipeline: bool = False
    parent_pid: int | None = None
    claims: str | None = None
    """Path of the run's shared range counter (SQLite with several workers), else ``None``."""


def rotate_rows(rotate: Callable[[Any], bytes | None], rows: Rows) -> tuple[Updates, ChunkResult]:
    """(pk, old, new) for every row that needs rewriting, and the counts."""
    updates: Updates = []
    append = updates.append
    unreadable: list[Any] = []
    nulls = current = 0
    for pk, value in rows:
        if value is None:
            nulls += 1
            continue
        try:
            new = rotate(value)
        except (NoKeyOpens, TimestampInFuture, TypeError):  # TypeError: not text or bytes
            unreadable.append(pk)
            continue
        if new is None:
            current += 1
        else:
            append((pk, value, new.decode() if value.__class__ is str else new))
    return updates, ChunkResult(len(rows), len(updates), current, nulls, 0, unreadable)


def _fixer(rotate: Callable[[Any], bytes | None]) -> Callable[[Any], Any]:
    def fix(value: Any) -> Any:
        new = rotate(value)
        if new is None:
            return None
        return new.decode() if isinstance(value, str) else new

    return fix


class _Worker:
    def __init__(
        self,
        spec: WorkerSpec,
        progress: Progress,
        before_write: BeforeWrite | None,
        clock: Clock,
    ) -> None:
        self.spec = spec
        self.job: Job = spec.job
        self.backend = backend_for(spec.db)
        ring = FernetKeyRing.from_keys(spec.keys[0], spec.keys[1:])
        self.rotator = ring.rotator()
        self.rotate = self.rotator.function
        self.fix = _fixer(self.rotate)
        self.limit = self.job.batch_size * 2  # ranges are planned at batch_size rows
        self.sizer: BatchSizer = sizer_from_env(self.job.batch_size)
        self.progress = progress
        self.before_write = before_write
        self.clock = clock
        self.total = ChunkResult()
        self._learning = threading.Lock()  # the pipeline's I/O threads report in turn

    def _rotated(self, rows: Rows) -> tuple[Updates, ChunkResult]:
        # A token stamped in the future (beyond the skew) is refused, not carried forward.
        self.rotator.set_now(int(self.clock().timestamp()))
        return rotate_rows(self.rotate, rows)

    def _alive(self) -> None:
        if self.spec.parent_pid is not None and os.getppid() != self.spec.parent_pid:
            raise SystemExit("the re-encryption coordinator exited; stopping this worker")

    def _report(self, result: ChunkResult) -> None:
        self.total.add(result)
        self.progress(result)

    def _prepare(self, parts: list[Part]) -> tuple[list[Prepared], float]:
        """The crypto of a batch, and how long it took."""
        started = time.perf_counter()
        prepared = [(rng, rows, *self._rotated(rows)) for rng, rows in parts]
        return prepared, time.perf_counter() - started

    def _announce(self, prepared: list[Prepared]) -> None:
        """The test seam, before the write lock is asked for (as an application would)."""
        if self.before_write is not None:
            for _rng, rows, _updates, _result in prepared:
                self.before_write(self.job.target, rows)

    def _write(
        self, session: Session, prepared: list[Prepared], *, began: bool = False
    ) -> list[ChunkResult]:
        """Open the batch's transaction (unless ``began``) and write every range of it.

        The ranges read whole are written together (on PostgreSQL in one statement). A
        range that grew past the read cap while we worked is continued chunk by chunk in the
        same transaction, and marked done with its last chunk.
        """
        results: list[ChunkResult] = []
        if not began:
            session.begin()
        now = self.clock()
        whole = [
            (rng, updates, result)
            for rng, rows, updates, result in prepared
            if len(rows) < self.limit
        ]
        session.write_ranges(whole, self.fix, now)
        results.extend(result for _rng, _updates, result in whole)
        for rng, first_rows, first_updates, first_result in prepared:
            if len(first_rows) < self.limit:
                continue
            rows, updates, result = first_rows, first_updates, first_result
            while True:
                last = len(rows) < self.limit
                session.write(rng, updates, result, self.fix, last=last, now=now)
                results.append(result)
                if last:
                    break
                rows = session.read(rng, rows[-1][0], self.limit)
                updates, result = self._rotated(rows)
        return results

    @staticmethod
    def _timed_commit(session: Session) -> float:
        started = time.perf_counter()
        session.commit()
        return time.perf_counter() - started

    def _learn(
        self, results: list[ChunkResult], crypto: float, commit: float, contended: bool
    ) -> None:
        for result in results:
            self._report(result)
        contended = contended or any(r.retried for r in results)
        self.sizer.observe(sum(r.rows for r in results), crypto, commit, contended=contended)

    def run_sequential(self) -> ChunkResult:
        """One connection, batch after batch.

        Where a claim is only a place in this worker's own list (SQLite), the next batch is
        read between two write transactions and the ``COMMIT`` runs in a thread while the
        next batch's crypto runs; when another writer holds the database at write time, the
        next batch's crypto runs first and both go into one transaction (two batches at
        most), so a worker does not sit idle behind a sibling's commit. Where claims are row
        locks that end with the transaction (PostgreSQL without the pipeline), each batch
        commits before the next is claimed.
        """
        session = self.backend.session(
            self.job, self.spec.worker, self.spec.partition, self.spec.claims
        )
        io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="erp-reencrypt-commit")
        overlap = not self.backend.claims_in_transaction
        committing: Future[float] | None = None
        done: tuple[list[ChunkResult], float, bool] = ([], 0.0, False)
        try:
            parts = session.take(self.sizer.next_rows(), self.limit)
            while parts:
                self._alive()
                prepared, crypto = self._prepare(parts)
                if committing is not None:
                    self._learn(done[0], done[1], committing.result(), done[2])
                    committing = None
                ahead = session.take(self.sizer.next_rows(), self.limit) if overlap else []
                self._announce(prepared)
                began = overlap and session.try_begin()
                if overlap and not began and ahead:
                    # Another writer (a sibling worker, say) holds the database: rather than
                    # wait for it, rotate the next batch too and write both in one go.
                    more, more_crypto = self._prepare(ahead)
                    self._announce(more)
                    prepared, crypto = prepared + more, crypto + more_crypto
                    ahead = session.take(self.sizer.next_rows(), self.limit)
                try:
                    results = self._write(session, prepared, began=began)
                    contended = session.contended()
                except Exception as exc:
                    if not self.backend.transient(exc):
                        raise
                    session.abort()  # the claims are released; the ranges are taken again
                    parts = ahead or session.take(self.sizer.next_rows(), self.limit)
                    continue
                if overlap:
                    committing = io.submit(self._timed_commit, session)
                    done = (results, crypto, contended)
                    parts = ahead
                else:
                    self._learn(results, crypto, self._timed_commit(session), contended)
                    parts = session.take(self.sizer.next_rows(), self.limit)
            if committing is not None:
                self._learn(done[0], done[1], committing.result(), done[2])
        except BaseException:
            io.shutdown(wait=True, cancel_futures=True)
            session.abort()
            raise
        finally:
            io.shutdown(wait=True)
            session.close()
        return self.total

    def _write_batch(self, session: Session, prepared: list[Prepared], crypto: float) -> None:
        """Write and commit one batch (in the I/O thread); a transient error drops it."""
        try:
            self._announce(prepared)
            results = self._write(session, prepared)
            contended = session.contended()
            commit = self._timed_commit(session)
        except Exception as exc:
            if self.backend.transient(exc):
                session.abort()  # the claims are released; the ranges are taken again later
                return
            raise
        with self._learning:
            self._learn(results, crypto, commit, contended)

    def run_pipelined(self) -> ChunkResult:
        lanes = 3  # batch k on connection k % 3: read k+1, crypto k and write k-1 overlap
        sessions = [
            self.backend.session(self.job, self.spec.worker, None, self.spec.claims)
            for _ in range(lanes)
        ]

        def read_next(session: Session, wanted: int) -> tuple[Session, list[Part]] | None:
            parts = session.take(wanted, self.limit)
            return (session, parts) if parts else None

        # One I/O thread per connection runs that connection's tasks in order: the read of
        # batch k+3 waits for the write of batch k, which used the same connection.
        ios = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"erp-reencrypt-io{lane}")
            for lane in range(lanes)
        ]
        writes: deque[Future[None]] = deque()
        try:
            pending = ios[0].submit(read_next, sessions[0], self.sizer.next_rows())
            turn = 0
            while True:
                item = pending.result()
                while writes and writes[0].done():
                    writes.popleft().result()
                if item is None:
                    break
                self._alive()
                session, parts = item
                lane = turn % lanes
                turn += 1
                following = turn % lanes
                pending = ios[following].submit(
                    read_next, sessions[following], self.sizer.next_rows()
                )
                prepared, crypto = self._prepare(parts)
                writes.append(ios[lane].submit(self._write_batch, session, prepared, crypto))
            while writes:
                writes.popleft().result()
        except BaseException:
            for io in ios:
                io.shutdown(wait=True, cancel_futures=True)
            for session in sessions:
                session.abort()
            raise
        finally:
            for io in ios:
                io.shutdown(wait=True)
            for session in sessions:
                session.close()
        return self.total


def run_worker(
    spec: WorkerSpec,
    progress: Progress,
    *,
    before_write: BeforeWrite | None = None,
    clock: Clock = system_clock,
) -> ChunkResult:
    """Work on ``spec.job`` until no range is left for this worker; the rows it handled."""
    worker = _Worker(spec, progress, before_write, clock)
    return worker.run_pipelined() if spec.pipeline else worker.run_sequential()
