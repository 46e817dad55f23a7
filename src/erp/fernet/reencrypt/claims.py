"""Which planned range the workers of one SQLite run take next: a shared counter.

SQLite has no row locks to claim a range with (PostgreSQL's ``SKIP LOCKED``), and marking
a range "claimed" in the database would cost a transaction, with its ``fsync``s, per range.
So the workers of one run share a counter in a small private file (``mkstemp``: mode 0600,
removed when the run ends), advanced under ``flock``: each worker takes the next range
number whenever it needs work. A worker that started late or runs on a busier core simply
takes fewer ranges, and all of them finish together, instead of one waiting for the other
at the end of a fixed split.

Only *who does which range* is decided here: each range is still marked done in the
transaction that rewrites it, so resuming and compare-and-swap are unchanged. A number
whose range is no longer pending (done before this run) is skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator

from erp.errors import ConcurrentChange

__all__ = ["RangeClaims", "sqlite_run_active", "sqlite_run_lock"]

_WIDTH = 8


class RangeClaims:
    """A counter shared by the worker processes of one run (each opens it by path)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC)

    @classmethod
    def create(cls) -> RangeClaims:
        """A fresh counter at zero, in a private temporary file."""
        fd, path = tempfile.mkstemp(prefix="erp-fernet-claims-")
        try:
            os.write(fd, bytes(_WIDTH))
        finally:
            os.close(fd)
        return cls(path)

    def take(self) -> int:
        """The next number (0, 1, 2, ...), never handed to another worker of the run."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            value = int.from_bytes(os.pread(self._fd, _WIDTH, 0), "little")
            os.pwrite(self._fd, (value + 1).to_bytes(_WIDTH, "little"), 0)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        return value

    def peek(self) -> int:
        """The next number, without taking it (a hint: another worker may take it first)."""
        return int.from_bytes(os.pread(self._fd, _WIDTH, 0), "little")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def remove(self) -> None:
        """Close and delete the file (the coordinator, when the job is over)."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _run_lock_path(path: str) -> str:
    st = os.stat(path)
    digest = hashlib.sha256(f"{st.st_dev}:{st.st_ino}".encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"erp-fernet-run-{digest}.lock")


def sqlite_run_active(path: str) -> bool:
    """Whether a ``fernet reencrypt`` run holds :func:`sqlite_run_lock` on ``path`` now."""
    try:
        fd = os.open(_run_lock_path(path), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's lock, if it got it
    return False


@contextlib.contextmanager
def sqlite_run_lock(path: str, shown: str) -> Iterator[None]:
    """Hold, for one run, the right to re-encrypt the SQLite file at ``path``.

    The workers of a run share their counter; a second command on the same file would not,
    and would redo the ranges the first one is doing. So a second run is refused at once
    (one sentence naming ``shown``). The lock is an ``flock`` on a private file in the temp
    folder named after the database file's device and inode (the same file reached by
    another path is the same file); the kernel releases it when the run ends or dies.
    """
    lock_path = _run_lock_path(path)
    fd = os.open(
        lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC, 0o600
    )
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConcurrentChange(
                f"another 'fernet reencrypt' is running on {shown}; wait for it to finish "
                "(or stop it), then rerun: a rerun resumes where it stopped"
            ) from None
        yield
    finally:
        os.close(fd)
