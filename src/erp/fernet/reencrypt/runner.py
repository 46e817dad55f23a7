"""Run a re-encryption: check everything, plan or resume, drive the workers, log the run.

Nothing is written before the keys, the database, every table and column, and a sample
of the stored values have been checked. The rotation log gets an entry when a run starts
and when it ends (or fails), with counts and fingerprints, never values or keys.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from erp.clock import Clock, system_clock
from erp.fernet.errors import TargetNotFound, WorkerFailed, WrongKeys
from erp.fernet.keys import FernetKeyRing
from erp.fernet.reencrypt.backend import Backend
from erp.fernet.reencrypt.child import encode_spec
from erp.fernet.reencrypt.claims import RangeClaims, sqlite_run_lock
from erp.fernet.reencrypt.engines import backend_for
from erp.fernet.reencrypt.jobs import ChunkResult, Job, JobTotals, quote, quote_table
from erp.fernet.reencrypt.progress import Reporter, SilentReporter
from erp.fernet.reencrypt.targets import (
    DatabaseLike,
    DatabaseRef,
    Target,
    driver_errors,
    resolve_targets,
)
from erp.fernet.reencrypt.worker import BeforeWrite, Progress, WorkerSpec, run_worker
from erp.fernet.rotation import record_event
from erp.store.audit import AuditLog
from erp.store.vault import VaultFile

__all__ = ["DEFAULT_BATCH_SIZE", "ColumnRun", "ReencryptReport", "preflight", "reencrypt"]

DEFAULT_BATCH_SIZE = {"sqlite": 1000, "postgresql": 1000}
_SAMPLE_ROWS = 64
_SETTLE_ROUNDS = 5  # more rounds than this means a range keeps failing: report incomplete


@dataclass
class ColumnRun:
    """One column in one run: what this run did and where the whole pass stands."""

    column: str
    job_id: str
    resumed: bool
    this_run: ChunkResult
    totals: JobTotals

    def summary(self) -> dict[str, Any]:
        return {
            "job": self.job_id,
            "resumed": self.resumed,
            "rows_this_run": self.this_run.rows,
            "rotated_this_run": self.this_run.rotated,
            "rows": self.totals.rows,
            "rotated": self.totals.rotated,
            "already_current": self.totals.current,
            "nulls": self.totals.nulls,
            "retried_after_concurrent_write": self.totals.retried,
            "unreadable": self.totals.unreadable_total,
            "finished": self.totals.finished,
        }


@dataclass
class ReencryptReport:
    """The outcome of :func:`reencrypt`. ``ok`` when every pass finished and every row opened."""

    db: str
    primary: str
    workers: int
    columns: list[ColumnRun] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    @property
    def rows_this_run(self) -> int:
        return sum(c.this_run.rows for c in self.columns)

    @property
    def rows_per_second(self) -> float:
        return self.rows_this_run / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    @property
    def unreadable(self) -> list[tuple[str, Any]]:
        return [(c.column, pk) for c in self.columns for pk in c.totals.unreadable]

    @property
    def unreadable_total(self) -> int:
        return sum(c.totals.unreadable_total for c in self.columns)

    @property
    def finished(self) -> bool:
        return all(c.totals.finished for c in self.columns)

    @property
    def ok(self) -> bool:
        return self.finished and self.unreadable_total == 0

    def outcome(self) -> str:
        if not self.finished:
            return "incomplete"
        return "unreadable rows" if self.unreadable_total else "complete"

    def summary(self) -> dict[str, Any]:
        return {
            "db": self.db,
            "primary": self.primary,
            "workers": self.workers,
            "outcome": self.outcome(),
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "rows_this_run": self.rows_this_run,
            "rows_per_second": round(self.rows_per_second, 1),
            "columns": {c.column: c.summary() for c in self.columns},
        }


def preflight(db: DatabaseRef, targets: Sequence[Target], ring: FernetKeyRing) -> None:
    """Refuse (:class:`WrongKeys`) when no sampled value of a column opens with any key."""
    conn = db.connect_readonly()
    try:
        cur = conn.cursor()
        for target in targets:
            t, c, k = quote_table(target.table), quote(target.column), quote(target.pk)
            # SQLite lets a key other than INTEGER PRIMARY KEY be NULL; rows are walked and
            # written by key, so such a row could never be reached (and would stay old)
            cur.execute(f"SELECT 1 FROM {t} WHERE {k} IS NULL LIMIT 1")  # noqa: S608
            if cur.fetchone() is not None:
                raise TargetNotFound(
                    f"{target} has rows whose primary key {target.pk} is NULL: re-encryption "
                    "walks and writes rows by key and cannot reach them; give those rows "
                    "keys, then rerun. Nothing was written."
                )
            cur.execute(
                f"SELECT {c} FROM {t} WHERE {c} IS NOT NULL "  # noqa: S608 - quoted identifiers
                f"ORDER BY {k} LIMIT {_SAMPLE_ROWS}"
            )
            values = [row[0] for row in cur.fetchall()]
            if values and not any(ring.opener(v) is not None for v in values):
                fallbacks = ", ".join(k.fingerprint for k in ring.fallbacks) or "none"
                raise WrongKeys(
                    f"none of the first {len(values)} values of {target} opens with FERNET_KEY "
                    f"({ring.primary.fingerprint}) or a fallback key ({fallbacks}): is "
                    "FERNET_KEY the key this data was encrypted with? Nothing was written."
                )
        conn.rollback()
    finally:
        conn.close()


def _report(reporter: Reporter, column: str, result: ChunkResult) -> None:
    reporter.advance(result.rows)
    for pk in result.unreadable:
        reporter.warn(f"unreadable: {column} pk={pk}: no configured key opens it")


class _Child:
    """One worker process: the pipe its specs go down, the pipe its progress comes up."""

    def __init__(
        self, pid: int, stdin: IO[bytes], stdout_fd: int, popen: subprocess.Popen[bytes] | None
    ) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout_fd = stdout_fd
        self._popen = popen

    @classmethod
    def spawn(cls) -> _Child:
        """A fresh interpreter running ``python -m erp.fernet.reencrypt.process``."""
        popen = subprocess.Popen(
            [sys.executable, "-m", "erp.fernet.reencrypt.process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert popen.stdin is not None
        assert popen.stdout is not None
        return cls(popen.pid, popen.stdin, popen.stdout.fileno(), popen)

    @classmethod
    def fork(cls, inherited: list[int]) -> _Child:
        """A copy of this process (everything already imported) serving specs on pipes.

        ``inherited`` are the other workers' pipe ends, closed in the copy: a worker whose
        spec pipe stayed open in a sibling would never see its input end.
        """
        spec_r, spec_w = os.pipe()
        out_r, out_w = os.pipe()
        sys.stdout.flush()  # else the copy would write our buffered output a second time
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the coordinator's code
            code = 1
            try:
                for fd in (spec_w, out_r, *inherited):
                    with contextlib.suppress(OSError):
                        os.close(fd)
                from erp.fernet.reencrypt.process import serve

                with os.fdopen(spec_r, "rb") as specs, os.fdopen(out_w, "w") as out:
                    code = serve(specs, out)
            finally:
                os._exit(code)
        os.close(spec_r)
        os.close(out_w)
        return cls(pid, os.fdopen(spec_w, "wb"), out_r, None)

    def terminate(self) -> None:
        with contextlib.suppress(OSError):
            if self._popen is not None:
                self._popen.terminate()
            else:
                os.kill(self.pid, signal.SIGTERM)

    def close_input(self) -> None:
        with contextlib.suppress(OSError):
            self.stdin.close()

    def wait(self) -> None:
        """Reap the process, then close its progress pipe."""
        if self._popen is not None:
            self._popen.wait()
            if self._popen.stdout is not None:
                self._popen.stdout.close()
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            os.close(self.stdout_fd)


def _can_fork() -> bool:
    # A copy of a process with other threads may hold their locks forever: fork only when
    # the coordinator is alone (the CLI always is), else start fresh interpreters. Linux
    # only: macOS system libraries are not safe to use in a forked copy.
    return sys.platform.startswith("linux") and threading.active_count() == 1


class _WorkerPool:
    """The extra worker processes of a multi-worker run, started before the set-up checks.

    The coordinator is itself the first worker, and starts the others first. Forked, a
    worker starts with the crypto and database code already imported; a fresh interpreter
    (when the coordinator has other threads, or cannot fork) needs a few hundred
    milliseconds for that, and does it while the coordinator checks the keys, the database
    and the columns, plans the pass and starts on it. Since the workers take ranges as they
    go (row locks on PostgreSQL, a shared counter on SQLite), a worker that joins late
    simply takes fewer ranges. Each process then runs one job per spec (every column,
    every settle round) without starting again.
    """

    def __init__(self, count: int, *, fork: bool | None = None) -> None:
        self.procs: list[_Child] = []
        self._pending: dict[int, bytes] = {}
        fork = _can_fork() if fork is None else fork
        try:
            for _ in range(count):
                if fork:
                    inherited = [fd for c in self.procs for fd in (c.stdin.fileno(), c.stdout_fd)]
                    self.procs.append(_Child.fork(inherited))
                else:
                    self.procs.append(_Child.spawn())
        except BaseException:
            self.close(stop=True)
            raise

    def run(
        self,
        specs: list[WorkerSpec],
        reporter: Reporter,
        column: str,
        local: Callable[[Progress], ChunkResult],
    ) -> ChunkResult:
        """Give each process its spec, run ``local`` (the coordinator's share) in this
        thread, and collect the processes' progress in another until each says it is done."""
        errors: list[str] = []
        total = ChunkResult()
        running = self._send(specs, errors)
        reader = threading.Thread(
            target=self._collect,
            args=(running, reporter, column, errors, total),
            name="erp-reencrypt-workers",
            daemon=True,
        )
        reader.start()

        def progress(result: ChunkResult) -> None:
            _report(reporter, column, result)
            if errors:  # a sibling failed: stop our share too (the run is reported failed)
                raise WorkerFailed(
                    f"re-encryption of {column} failed: {'; '.join(errors)}; rerun to resume"
                )

        try:
            mine = local(progress)
        except BaseException:
            self._stop()  # the reader then sees every pipe end
            reader.join()
            raise
        reader.join()
        if errors:
            self._stop()
            raise WorkerFailed(
                f"re-encryption of {column} failed: {'; '.join(errors)}; rerun to resume"
            )
        mine.add(total)
        return mine

    def _send(self, specs: list[WorkerSpec], errors: list[str]) -> dict[int, str]:
        running: dict[int, str] = {}
        for spec, proc in zip(specs, self.procs, strict=True):
            try:
                proc.stdin.write(encode_spec(spec))
                proc.stdin.flush()
            except BrokenPipeError:
                errors.append(f"{spec.worker}: the worker process exited")
                continue
            fd = proc.stdout_fd
            self._pending.setdefault(fd, b"")
            running[fd] = spec.worker
        return running

    def _collect(
        self,
        running: dict[int, str],
        reporter: Reporter,
        column: str,
        errors: list[str],
        total: ChunkResult,
    ) -> None:
        """Read progress lines until every process is done, one fails, or a pipe ends."""
        selector = selectors.DefaultSelector()
        try:
            for fd, worker in running.items():
                selector.register(fd, selectors.EVENT_READ, worker)
            while running and not errors:
                for key, _ in selector.select():
                    fd = int(key.fd)
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        errors.append(f"{key.data}: the worker process exited")
                        selector.unregister(fd)
                        del running[fd]
                        continue
                    *lines, self._pending[fd] = (self._pending[fd] + chunk).split(b"\n")
                    for line in lines:
                        message = json.loads(line)
                        if "error" in message:
                            errors.append(f"{key.data}: {message['error']}")
                        elif message.get("done"):
                            selector.unregister(fd)
                            del running[fd]
                        elif "rows" in message:
                            result = ChunkResult(**message)
                            total.add(result)
                            _report(reporter, column, result)
        finally:
            selector.close()

    def _stop(self) -> None:
        for proc in self.procs:
            proc.terminate()

    def close(self, *, stop: bool = False) -> None:
        """End the workers: an idle worker exits when its input ends; ``stop`` ends them now."""
        for proc in self.procs:
            proc.close_input()
        if stop:
            self._stop()
        for proc in self.procs:
            proc.wait()
        self.procs = []


def _run_job(
    db: DatabaseRef,
    backend: Backend,
    job: Job,
    ring: FernetKeyRing,
    workers: int,
    pipeline: bool,
    reporter: Reporter,
    before_write: BeforeWrite | None,
    clock: Clock,
    pool: _WorkerPool | None,
) -> ChunkResult:
    keys = tuple(k.key for k in ring.keys)
    column = job.target.name
    me = f"{socket.gethostname()}:{os.getpid()}"  # names the machine and run in the table

    if pool is None:
        spec = WorkerSpec(db, job, keys, f"{me}:w1", None, pipeline)
        return run_worker(
            spec,
            lambda result: _report(reporter, column, result),
            before_write=before_write,
            clock=clock,
        )
    claims = RangeClaims.create() if backend.kind == "sqlite" else None
    path = claims.path if claims else None
    try:
        specs = [
            WorkerSpec(db, job, keys, f"{me}:w{i}", None, pipeline, os.getpid(), path)
            for i in range(2, workers + 1)
        ]
        mine = WorkerSpec(db, job, keys, f"{me}:w1", None, pipeline, None, path)
        return pool.run(
            specs,
            reporter,
            column,
            lambda progress: run_worker(mine, progress, before_write=before_write, clock=clock),
        )
    finally:
        if claims is not None:
            claims.remove()


def _run_target(
    db: DatabaseRef,
    backend: Backend,
    target: Target,
    ring: FernetKeyRing,
    workers: int,
    batch: int,
    pipeline: bool,
    reporter: Reporter,
    before_write: BeforeWrite | None,
    clock: Clock,
    pool: _WorkerPool | None,
) -> ColumnRun:
    """Plan or resume the pass over one column and drive it to the end."""
    job = backend.plan(target, ring.primary.fingerprint, batch, clock())
    if job.resumed:
        note = f"resuming pass {job.pass_no} ({job.pending_batches} of {job.batches} batches left)"
    else:
        note = f"pass {job.pass_no}: {job.planned_rows:,} rows in {job.batches} batches"
    reporter.begin(target.name, job.planned_rows, max(job.planned_rows - job.pending_rows, 0), note)
    finished = False
    try:
        this_run = _run_job(
            db, backend, job, ring, workers, pipeline, reporter, before_write, clock, pool
        )
        # Ranges another machine held may come back (it died): finish them here, so every
        # coordinator returns only when the whole pass is done.
        for _round in range(_SETTLE_ROUNDS):
            if not backend.settle(job):
                break
            this_run.add(
                _run_job(
                    db, backend, job, ring, workers, pipeline, reporter, before_write, clock, pool
                )
            )
        finished = True
    finally:
        reporter.end(finished)
    totals = backend.finish(job, clock())
    return ColumnRun(target.name, job.job_id, job.resumed, this_run, totals)


def reencrypt(
    db: DatabaseLike,
    columns: Sequence[tuple[str, str]],
    ring: FernetKeyRing,
    *,
    workers: int = 1,
    batch_size: int | None = None,
    pipeline: bool | None = None,
    reporter: Reporter | None = None,
    vault: VaultFile | None = None,
    log: AuditLog | None = None,
    clock: Clock = system_clock,
    actor: str | None = None,
    before_write: BeforeWrite | None = None,
) -> ReencryptReport:
    """Re-encrypt ``columns`` of ``db`` under ``ring.primary`` (resuming an unfinished pass).

    Rows that no key opens are left untouched and listed in the report; check
    :attr:`ReencryptReport.ok`. Raises a :class:`~erp.errors.ConfigError` subclass, having
    written nothing, when the keys, the database or a column is wrong.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    ref = DatabaseRef.of(db)
    batch = batch_size or DEFAULT_BATCH_SIZE[ref.kind]
    if batch < 1:
        raise ValueError("batch_size must be at least 1")
    pool = _WorkerPool(workers - 1) if workers > 1 else None
    try:
        return _reencrypt(
            ref,
            columns,
            ring,
            workers,
            batch,
            pipeline,
            reporter or SilentReporter(),
            vault,
            log,
            clock,
            actor,
            before_write,
            pool,
        )
    except BaseException:
        if pool is not None:
            pool.close(stop=True)  # do not wait for workers to finish a job nobody awaits
        raise
    finally:
        if pool is not None:
            pool.close()


def _reencrypt(
    db: DatabaseRef,
    columns: Sequence[tuple[str, str]],
    ring: FernetKeyRing,
    workers: int,
    batch: int,
    pipeline: bool | None,
    reporter: Reporter,
    vault: VaultFile | None,
    log: AuditLog | None,
    clock: Clock,
    actor: str | None,
    before_write: BeforeWrite | None,
    pool: _WorkerPool | None,
) -> ReencryptReport:
    targets = resolve_targets(db, columns)
    backend = backend_for(db)
    with driver_errors(db, "sampling stored values"):
        preflight(db, targets, ring)
    use_pipeline = (db.kind == "postgresql") if pipeline is None else pipeline
    report = ReencryptReport(db.display, ring.primary.fingerprint, workers)
    event = {
        "db": db.display,
        "columns": [t.name for t in targets],
        "primary": ring.primary.fingerprint,
        "fallbacks": [k.fingerprint for k in ring.fallbacks],
        "workers": workers,
    }
    record_event(
        {"event": "fernet.reencrypt.start", **event}, vault=vault, log=log, clock=clock, actor=actor
    )
    started = time.monotonic()
    try:
        with (
            sqlite_run_lock(db.path, db.display)
            if db.kind == "sqlite"
            else contextlib.nullcontext(),
            driver_errors(db, "re-encryption"),
        ):
            for target in targets:
                report.columns.append(
                    _run_target(
                        db,
                        backend,
                        target,
                        ring,
                        workers,
                        batch,
                        use_pipeline,
                        reporter,
                        before_write,
                        clock,
                        pool,
                    )
                )
    except BaseException as exc:
        report.elapsed_seconds = time.monotonic() - started
        with contextlib.suppress(Exception):  # the original error matters more
            record_event(
                {
                    "event": "fernet.reencrypt",
                    **event,
                    "outcome": f"failed: {type(exc).__name__}",
                    "rows_this_run": report.rows_this_run,
                },
                vault=vault,
                log=log,
                clock=clock,
                actor=actor,
            )
        raise
    report.elapsed_seconds = time.monotonic() - started
    summary = report.summary()
    record_event(
        {
            "event": "fernet.reencrypt",
            **event,
            "outcome": report.outcome(),
            "elapsed_seconds": summary["elapsed_seconds"],
            "rows_this_run": report.rows_this_run,
            "columns": summary["columns"],
        },
        vault=vault,
        log=log,
        clock=clock,
        actor=actor,
    )
    return report
