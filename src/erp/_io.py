"""Files, safely: atomic durable writes and bounded, symlink-aware reads.

Every file ``erp`` writes (the vault, its lock, the rotation log, the Lambda zip, a packaged
template) goes through this module, so the crash-safety and hostile-file rules exist once:

* a write goes to a temp file in the same folder (``O_EXCL | O_NOFOLLOW``, created with the
  final mode), is fsynced, renamed over the target and the folder fsynced: a reader sees the
  whole old file or the whole new one, never a torn one;
* rewriting an existing file keeps its owner and group (so a root-run rotation does not
  lock the service user out of its own vault) and never loosens its mode;
* a read opens with ``O_NONBLOCK | O_NOFOLLOW`` (unless the caller allows a symlink), checks
  that it got a regular file before reading a byte (a FIFO, a device, ``/proc`` or a folder
  is refused at once) and stops at a size cap, so ``/dev/zero`` cannot fill memory.

Errors are :class:`~erp.errors.FileWriteError` / :class:`~erp.errors.FileReadError`, which
name the path and the fix and never include file content.
"""

from __future__ import annotations

import errno
import os
import stat

from erp.errors import FileReadError, FileWriteError

__all__ = [
    "DEFAULT_MAX_READ_BYTES",
    "atomic_write_bytes",
    "describe_os_error",
    "fsync_dir",
    "open_append",
    "read_regular_file",
]

DEFAULT_MAX_READ_BYTES = 16 * 1024 * 1024
"""Cap for a file read whole (vault, template, baseline): far above any real one."""

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def describe_os_error(exc: OSError) -> str:
    """One short phrase for an OS error, without the path or any content."""
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (is the folder read-only?)"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno == errno.ELOOP:
        return "it is a symbolic link (or a link loop), which is refused"
    if exc.errno == errno.ENAMETOOLONG:
        return "the path is too long"
    if exc.errno == errno.ENOTDIR:
        return "a part of the path is not a folder"
    if exc.errno == errno.EISDIR:
        return "it is a folder, not a file"
    if exc.errno == errno.ENXIO:
        return "it is a FIFO or socket with nobody on the other end"
    if exc.errno == errno.ENOENT:
        return "its folder does not exist (create it, or fix the path)"
    return exc.strerror or type(exc).__name__


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename or create in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_regular_file(
    path: str | os.PathLike[str],
    *,
    what: str = "file",
    max_bytes: int = DEFAULT_MAX_READ_BYTES,
    follow_symlinks: bool = True,
) -> bytes | None:
    """The bytes of the regular file at ``path``, or ``None`` when it does not exist.

    Refuses, with :class:`FileReadError` naming ``what`` and the path, anything that is not
    a regular file (checked on the open descriptor, before reading), a file over
    ``max_bytes``, and with ``follow_symlinks=False`` a symbolic link in the last component.
    """
    path = os.fspath(path)
    flags = os.O_RDONLY | _NONBLOCK | _CLOEXEC | (0 if follow_symlinks else _NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise FileReadError(path, what, "it is a symbolic link, which is refused") from None
        raise FileReadError(path, what, describe_os_error(exc)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileReadError(path, what, f"it is {_file_kind(st.st_mode)}, not a regular file")
        if st.st_size > max_bytes:
            raise FileReadError(
                path, what, f"it is {st.st_size} bytes, over the {max_bytes}-byte limit"
            )
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:  # grew while we read
                raise FileReadError(path, what, f"it is over the {max_bytes}-byte limit")
        return b"".join(chunks)
    except OSError as exc:
        raise FileReadError(path, what, describe_os_error(exc)) from None
    finally:
        os.close(fd)


def _existing(path: str) -> os.stat_result | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError:
        return None
    return st


def atomic_write_bytes(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int = 0o600,
    what: str = "file",
    keep_existing_mode: bool = True,
) -> None:
    """Replace ``path`` with ``data`` atomically and durably: temp, fsync, rename, fsync dir.

    A new file gets ``mode``; an existing regular file keeps its owner and group and its mode
    bits that ``mode`` allows (when ``keep_existing_mode``): a loose 0644 vault becomes 0600.
    The rename replaces a symbolic link at ``path`` rather than writing through it.
    Raises :class:`FileWriteError` (the original file untouched).
    """
    path = os.fspath(path)
    folder, name = os.path.split(path)
    folder = folder or "."
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    previous = _existing(path)
    if previous is not None and keep_existing_mode and stat.S_ISREG(previous.st_mode):
        final_mode = stat.S_IMODE(previous.st_mode) & mode  # keep, never loosen past `mode`
        owner: tuple[int, int] | None = (previous.st_uid, previous.st_gid)
    else:
        final_mode = mode
        owner = None
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, final_mode)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if owner is not None and (owner[0] != os.geteuid() or owner[1] != os.getegid()):
                # As root, rewriting the service user's file must leave it the service user's.
                try:  # noqa: SIM105 (contextlib is kept off the rotation script's start-up)
                    os.fchown(fd, owner[0], owner[1])
                except PermissionError:
                    pass
            os.fchmod(fd, final_mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(folder)
    except OSError as exc:
        try:  # noqa: SIM105 (as above)
            os.unlink(tmp)
        except OSError:
            pass
        raise FileWriteError(path, what, describe_os_error(exc)) from None


def open_append(path: str | os.PathLike[str], *, what: str = "file", mode: int = 0o600) -> int:
    """An ``O_APPEND`` descriptor on the regular file ``path`` (created with ``mode``).

    Never follows a symbolic link and refuses anything but a regular file, so a log
    replaced by a link to another file is not written through.
    """
    path = os.fspath(path)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _NONBLOCK | _CLOEXEC
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        raise FileWriteError(path, what, describe_os_error(exc)) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise FileWriteError(path, what, f"it is {_file_kind(st.st_mode)}, not a regular file")
    return fd
