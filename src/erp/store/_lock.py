"""An exclusive inter-process lock on a sibling ``.lock`` file, never through a symlink.

``flock`` on a descriptor opened with ``O_NOFOLLOW | O_NONBLOCK``: a lock path replaced by a
symbolic link (to ``/etc/passwd``, say) or by a FIFO is refused instead of being opened,
truncated or blocked on. ``flock`` locks belong to the open file description, so two
threads of one process holding separate locks exclude each other too; the kernel drops the
lock when the holder dies. Reentrant per :class:`FileLock` object.
"""

from __future__ import annotations

import _thread  # threading.Lock/get_ident themselves, without threading's import cost
import errno
import fcntl
import os
import stat
import time
from collections.abc import Callable

from erp._io import describe_os_error
from erp.errors import FileWriteError

__all__ = ["FileLock", "LockTimeout"]

_FLAGS = (
    os.O_RDWR
    | os.O_CREAT
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


class LockTimeout(Exception):
    """The lock was not free within the timeout (internal: callers translate it)."""


class FileLock:
    """``with FileLock(path, timeout_seconds=...)``: hold ``path``'s exclusive lock."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout_seconds: float,
        poll_seconds: float = 0.01,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = os.fspath(path)
        self.timeout_seconds = timeout_seconds
        self._poll_seconds = poll_seconds
        self._monotonic = monotonic
        self._sleep = sleep
        self._fd: int | None = None
        self._depth = 0
        self._owner: int | None = None
        self._guard = _thread.allocate_lock()

    def _open(self) -> int:
        try:
            fd = os.open(self.path, _FLAGS, 0o600)
        except OSError as exc:
            raise FileWriteError(self.path, "lock file", describe_os_error(exc)) from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise FileWriteError(self.path, "lock file", "it is not a regular file")
        return fd

    def acquire(self) -> None:
        """Take the lock, polling until ``timeout_seconds``; :class:`LockTimeout` after."""
        me = _thread.get_ident()
        with self._guard:
            if self._owner == me:
                self._depth += 1
                return
        fd = self._open()
        deadline = self._monotonic() + self.timeout_seconds
        delay = self._poll_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise FileWriteError(self.path, "lock file", describe_os_error(exc)) from None
            if self._monotonic() >= deadline:
                os.close(fd)
                raise LockTimeout(str(self.path))
            self._sleep(delay)
            delay = min(delay * 2, 0.1)
        with self._guard:
            self._fd, self._owner, self._depth = fd, me, 1

    def release(self) -> None:
        """Drop one level of the lock; the last release unlocks and closes."""
        with self._guard:
            self._depth -= 1
            if self._depth > 0 or self._fd is None:
                return
            fd, self._fd, self._owner = self._fd, None, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
