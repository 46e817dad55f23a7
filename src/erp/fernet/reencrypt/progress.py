"""Progress of a re-encryption: a rich bar (rows/s, ETA) on a terminal, plain lines in logs."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from erp._extras import MissingExtra, require

__all__ = ["PlainReporter", "Reporter", "RichReporter", "SilentReporter", "make_reporter"]


class Reporter(Protocol):
    """Where a run's progress goes. ``advance`` may be called from an I/O thread."""

    def begin(self, column: str, total_rows: int, done_rows: int, note: str) -> None: ...

    def advance(self, rows: int) -> None: ...

    def end(self, finished: bool = True) -> None: ...

    def warn(self, text: str) -> None: ...


class SilentReporter:
    """Reports nothing (library use, tests); warnings are kept in :attr:`warnings`."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def begin(self, column: str, total_rows: int, done_rows: int, note: str) -> None:
        return None

    def advance(self, rows: int) -> None:
        return None

    def end(self, finished: bool = True) -> None:
        return None

    def warn(self, text: str) -> None:
        self.warnings.append(text)


def _eta(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class PlainReporter:
    """One line per ``interval_seconds`` (0: per batch), for CI logs and pipes."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        interval_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.interval_seconds = interval_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._column = ""
        self._total = self._done = self._this_run = 0
        self._start = self._next = 0.0

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def begin(self, column: str, total_rows: int, done_rows: int, note: str) -> None:
        with self._lock:
            self._column, self._total, self._done, self._this_run = (
                column,
                total_rows,
                done_rows,
                0,
            )
            self._start = self._monotonic()
            self._next = self._start + self.interval_seconds
            self._line(f"{column}: {note}")

    def _status(self) -> str:
        elapsed = max(self._monotonic() - self._start, 1e-9)
        rate = self._this_run / elapsed
        total = max(self._total, self._done)
        pct = 100.0 * self._done / total if total else 100.0
        eta = _eta((total - self._done) / rate) if rate > 0 else "?"
        return (
            f"{self._column}: {self._done:,}/{total:,} rows ({pct:.1f}%), "
            f"{rate:,.0f} rows/s, ETA {eta}"
        )

    def advance(self, rows: int) -> None:
        with self._lock:
            self._done += rows
            self._this_run += rows
            now = self._monotonic()
            if now >= self._next:
                self._next = now + self.interval_seconds
                self._line(self._status())

    def end(self, finished: bool = True) -> None:
        with self._lock:
            # a run stopped by an error or Ctrl-C is not "finished": it resumes when rerun
            end = ", finished" if finished else ", stopped (rerun to resume)"
            self._line(self._status().split(", ETA")[0] + end)

    def warn(self, text: str) -> None:
        with self._lock:
            self._line(text)


class RichReporter:
    """A progress bar with rows done, rows/s and ETA (on standard error)."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            Task,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task: Task) -> Text:
                speed = task.finished_speed or task.speed
                return Text("? rows/s" if speed is None else f"{speed:,.0f} rows/s")

        self.console = console if console is not None else Console(stderr=True)
        self._progress: Any = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=self.console,
            speed_estimate_period=10.0,
        )
        self._task: Any = None
        self._lock = threading.Lock()

    def begin(self, column: str, total_rows: int, done_rows: int, note: str) -> None:
        with self._lock:
            self.console.print(f"{column}: {note}")
            self._progress.start()
            self._task = self._progress.add_task(
                column, total=max(total_rows, done_rows), completed=done_rows
            )

    def advance(self, rows: int) -> None:
        with self._lock:
            task = self._progress.tasks[self._task]
            if task.total is not None and task.completed + rows > task.total:
                self._progress.update(self._task, total=task.completed + rows)
            self._progress.advance(self._task, rows)

    def end(self, finished: bool = True) -> None:
        with self._lock:
            self._progress.stop()

    def warn(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)


def _rich_installed() -> bool:
    try:
        require("rich")
    except MissingExtra:
        return False
    return True


def make_reporter(mode: str = "auto", *, interval_seconds: float = 5.0) -> Reporter:
    """``bar`` (rich), ``plain`` (lines), ``none``; ``auto`` = bar on a terminal outside CI."""
    if mode == "none":
        return SilentReporter()
    if mode == "auto":
        tty = sys.stderr.isatty() and not os.environ.get("CI")
        # Without the [rich] extra, auto falls back to lines; an explicit ``bar`` names it.
        mode = "bar" if tty and _rich_installed() else "plain"
    if mode == "bar":
        require("rich")
        return RichReporter()
    return PlainReporter(interval_seconds=interval_seconds)
