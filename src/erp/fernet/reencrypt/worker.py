"""One re-encryption worker: take ranges, rotate their rows, write them back.

The crypto runs outside any database lock. On PostgreSQL a worker keeps two connections
and overlaps the database round trips of one batch (claim, read, COPY, UPDATE, commit, in
an I/O thread) with the crypto of the next; on SQLite it works batch by batch, since the
database's share of the time is small there and the driver would hand the GIL back and
forth for every row.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from erp.clock import Clock, system_clock
from erp.fernet.errors import NoKeyOpens, TimestampInFuture
from erp.fernet.keys import FernetKeyRing
from erp.fernet.reencrypt.backend import Session
from erp.fernet.reencrypt.engines import backend_for
from erp.fernet.reencrypt.jobs import ChunkResult, Job, Range
from erp.fernet.reencrypt.targets import DatabaseRef, Target

__all__ = ["BeforeWrite", "Progress", "WorkerSpec", "rotate_rows", "run_worker"]

Progress = Callable[[ChunkResult], None]
BeforeWrite = Callable[[Target, list[tuple[Any, Any]]], None]
"""Test seam: called with the rows read, after the crypto and before the write."""

Rows = list[tuple[Any, Any]]
Updates = list[tuple[Any, Any, Any]]


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
        self.progress = progress
        self.before_write = before_write
        self.clock = clock
        self.total = ChunkResult()

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

    def _write(
        self, session: Session, rng: Range, rows: Rows, updates: Updates, result: ChunkResult
    ) -> None:
        """Write one chunk; continue the range if it grew past the cap while we worked."""
        while True:
            last = len(rows) < self.limit
            if self.before_write is not None:
                self.before_write(self.job.target, rows)
            try:
                session.write(rng, updates, result, self.fix, last=last, now=self.clock())
            except Exception as exc:
                if self.backend.transient(exc):
                    session.abort()  # the claim is released; the range is taken again later
                    return
                raise
            self._report(result)
            if last:
                return
            rows = session.read(rng, rows[-1][0], self.limit)
            updates, result = self._rotated(rows)

    def run_sequential(self) -> ChunkResult:
        session = self.backend.session(self.job, self.spec.worker, self.spec.partition)
        try:
            while (rng := session.next_range()) is not None:
                self._alive()
                rows = session.read(rng, None, self.limit)
                updates, result = self._rotated(rows)
                self._write(session, rng, rows, updates, result)
        except BaseException:
            session.abort()
            raise
        finally:
            session.close()
        return self.total

    def run_pipelined(self) -> ChunkResult:
        sessions = [self.backend.session(self.job, self.spec.worker, None) for _ in range(2)]

        def read_next(session: Session) -> tuple[Session, Range, Rows] | None:
            rng = session.next_range()
            if rng is None:
                return None
            return session, rng, session.read(rng, None, self.limit)

        # One I/O thread runs its tasks in order: the read of batch k+1 is queued behind
        # the write of batch k-1, which used the same connection.
        io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="erp-reencrypt-io")
        writes: deque[Future[None]] = deque()
        try:
            pending = io.submit(read_next, sessions[0])
            turn = 0
            while True:
                item = pending.result()
                while writes and writes[0].done():
                    writes.popleft().result()
                if item is None:
                    break
                self._alive()
                session, rng, rows = item
                turn += 1
                pending = io.submit(read_next, sessions[turn % 2])
                updates, result = self._rotated(rows)
                writes.append(io.submit(self._write, session, rng, rows, updates, result))
            while writes:
                writes.popleft().result()
        except BaseException:
            io.shutdown(wait=True, cancel_futures=True)
            for session in sessions:
                session.abort()
            raise
        finally:
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
