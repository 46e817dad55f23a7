"""The vault file: a JSON object of named secrets, read cheaply and written crash-safely.

Every write takes an exclusive lock, re-reads and validates the file, writes a temp file
(mode 0600), fsyncs it, renames it over the original and fsyncs the folder (``erp._io``).
A reader therefore sees the whole old file or the whole new one. A file that does not parse
is never overwritten. Only a regular file of at most ``MAX_VAULT_BYTES`` is read: a FIFO,
a device, ``/proc`` or ``/dev/zero`` in its place is refused at once, in one sentence.

Features that keep entries here (the JWT ring, Fernet keys) register a shape check with
:func:`register_entry_check`, so the store refuses a malformed file without knowing any
feature's format.
"""

from __future__ import annotations

import _thread  # threading.Lock/get_ident themselves, without threading's import cost
import json
import math
import os
import stat
import time
from collections.abc import Callable, Mapping

from erp import _settings
from erp._io import atomic_write_bytes, describe_os_error, read_regular_file
from erp._json import JsonProblem, loads_object
from erp.errors import (
    ConcurrentChange,
    FileReadError,
    FileWriteError,
    VaultCorrupt,
    VaultWriteError,
)
from erp.store._lock import FileLock, LockTimeout

TYPE_CHECKING = False  # no typing import at run time: the rotation script's start-up path
if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from pathlib import Path
    from typing import Any

__all__ = [
    "DEFAULT_VAULT_FILE",
    "MAX_VAULT_BYTES",
    "META_KEY",
    "EntryCheck",
    "VaultFile",
    "VaultReader",
    "default_vault_path",
    "register_entry_check",
]

DEFAULT_VAULT_FILE = "jwt_secrets.json"
META_KEY = "_erp"
"""Top-level entry holding non-secret bookkeeping (format, generation, audit head)."""

MAX_VAULT_BYTES = 4 * 1024 * 1024
"""A vault with a thousand keys is under 200 KiB; a bigger file is not a vault."""

_FORMAT = 1
_MAX_GENERATION = 2**53  # exact in every JSON reader

EntryCheck = Callable[[Mapping[str, "Any"]], "str | None"]
"""Returns what is wrong with a document's entries (one phrase, no values), or ``None``."""

_checks: list[EntryCheck] = []


def register_entry_check(check: EntryCheck) -> None:
    """Have every vault read and write run ``check`` (idempotent)."""
    if check not in _checks:
        _checks.append(check)


def default_vault_path() -> Path:
    """``$ERP_VAULT_FILE`` if set, else ``jwt_secrets.json`` in the working directory."""
    return VaultFile().path  # the default is decided in one place: VaultFile()


def _generation(path: str, meta: Mapping[str, Any]) -> int:
    value = meta.get("generation", 0)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not (math.isfinite(value) and value.is_integer()))
        or not 0 <= value <= _MAX_GENERATION
    ):
        raise VaultCorrupt(
            path, f"{META_KEY}.generation must be a whole number from 0 to {_MAX_GENERATION}"
        )
    return int(value)


def _parse(path: str, raw: bytes) -> dict[str, Any]:
    try:
        doc = loads_object(raw)
    except JsonProblem as exc:  # says where, never what: the text holds secrets
        raise VaultCorrupt(path, str(exc)) from None
    _validate(path, doc)
    return doc


def _validate(path: str, doc: Mapping[str, Any]) -> None:
    meta = doc.get(META_KEY)
    if meta is not None and not isinstance(meta, dict):
        raise VaultCorrupt(path, f"{META_KEY} must be a JSON object")
    _generation(path, meta or {})
    for check in _checks:
        problem = check(doc)
        if problem is not None:
            raise VaultCorrupt(path, problem)


class VaultFile:
    """One vault file on disk. Cheap to construct; does nothing until used.

    Path-like (``os.fspath(vault)`` is its file name). The work is done on that text with
    ``os.path``: ``pathlib`` is not imported on the rotation script's start-up path, only
    when ``path`` or ``lock_path`` is asked for.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, lock_timeout_seconds: float = 60.0
    ):
        self._file = (
            os.fspath(path)
            if path is not None
            else _settings.read_file_name("ERP_VAULT_FILE", DEFAULT_VAULT_FILE)
        )
        self.lock_timeout_seconds = lock_timeout_seconds
        self._lock: FileLock | None = None
        self._lock_guard = _thread.allocate_lock()

    @property
    def path(self) -> Path:
        """The vault file."""
        from pathlib import Path

        return Path(self._file)

    @property
    def lock_path(self) -> Path:
        """The sibling lock file (``<vault>.lock``, beside the link's target for a link)."""
        from pathlib import Path

        return Path(self._real() + ".lock")

    def _real(self) -> str:
        """Where writes go: a symbolic link's target, else the path itself.

        A deploy that links ``jwt_secrets.json`` to a shared copy must find the rotation in
        that copy, with the link still in place; and a writer naming the target directly
        must take the same lock. Reads follow the link anyway.
        """
        try:
            if stat.S_ISLNK(os.lstat(self._file).st_mode):
                return os.path.realpath(self._file)
        except OSError:
            pass
        return self._file

    def __fspath__(self) -> str:
        return self._file

    def __repr__(self) -> str:
        return f"VaultFile({self._file!r})"

    def exists(self) -> bool:
        """Whether something is at the path (a link loop counts: ``read`` then refuses it)."""
        try:
            os.lstat(self._file)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:  # a name too long, a permission problem: one sentence
            raise VaultCorrupt(self._file, describe_os_error(exc)) from None
        return True

    def check_file(self) -> None:
        """Raise :class:`VaultCorrupt` if something other than a regular file is at the path.

        A cheap look before the lock is taken (nothing exists yet: fine); :meth:`read` is
        the authoritative check.
        """
        try:
            st = os.stat(self._file)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise VaultCorrupt(self._file, describe_os_error(exc)) from None
        if not stat.S_ISREG(st.st_mode):
            self.read()  # raises with the precise phrase (a folder, a FIFO, a device)

    def read(self) -> dict[str, Any]:
        """The parsed file, or ``{}`` when it does not exist. Raises :class:`VaultCorrupt`."""
        try:
            raw = read_regular_file(self._file, what="vault file", max_bytes=MAX_VAULT_BYTES)
        except FileReadError as exc:  # unreadable, not damaged: the fix is the setting or mode
            raise VaultCorrupt(
                self._file,
                exc.problem,
                "point ERP_VAULT_FILE at a regular file this user can read (or fix its "
                "permissions)",
            ) from None
        if raw is None:
            return {}
        return _parse(self._file, raw)

    def _file_lock(self) -> FileLock:
        with self._lock_guard:
            if self._lock is None:
                self._lock = FileLock(
                    self._real() + ".lock", timeout_seconds=self.lock_timeout_seconds
                )
            return self._lock

    def locked(self) -> AbstractContextManager[None]:
        """Hold the vault's exclusive lock (a sibling ``.lock`` file) for the ``with`` block."""
        return _Held(self)

    def _acquire(self) -> FileLock:
        try:
            os.makedirs(os.path.dirname(self._real()) or ".", exist_ok=True)
        except OSError as exc:
            raise VaultWriteError(self._file, describe_os_error(exc)) from None
        lock = self._file_lock()
        try:
            lock.acquire()
        except LockTimeout:
            raise ConcurrentChange(
                f"another process has held the lock {self.lock_path} for over "
                f"{self.lock_timeout_seconds:g} s; retry when it has finished"
            ) from None
        except FileWriteError as exc:
            raise VaultWriteError(self._file, f"its lock file {exc.path}: {exc.problem}") from None
        return lock

    def write(self, doc: dict[str, Any]) -> None:
        """Write ``doc`` atomically (call with the lock held). Bumps the generation."""
        _validate(self._file, doc)
        meta = dict(doc.get(META_KEY) or {})
        meta["format"] = _FORMAT
        meta["generation"] = _generation(self._file, meta) + 1
        if meta["generation"] > _MAX_GENERATION:  # written, it would be refused on the next read
            raise VaultWriteError(
                self._file, f"{META_KEY}.generation is at its maximum; set it to 0 by hand"
            )
        out = {**doc, META_KEY: meta}
        try:
            text = json.dumps(out, indent=2, sort_keys=False, allow_nan=False)
        except ValueError:
            raise VaultWriteError(self._file, "a value is NaN or infinite") from None
        self._drop_stale_temp_files()
        try:
            atomic_write_bytes(self._real(), (text + "\n").encode(), mode=0o600, what="vault file")
        except FileWriteError as exc:
            raise VaultWriteError(self._file, exc.problem) from None
        doc[META_KEY] = meta

    def _drop_stale_temp_files(self) -> None:
        # With the lock held, any temp file of ours (.<name>.<pid>.<random>.tmp, see
        # atomic_write_bytes) is a killed writer's (0600, secrets): drop it. Links are left.
        folder, name = os.path.split(self._real())
        prefix = f".{name}."
        try:
            names = os.listdir(folder or ".")
        except OSError:
            return
        for entry in names:
            if entry.startswith(prefix) and entry.endswith(".tmp") and len(entry) > len(prefix) + 4:
                stale = os.path.join(folder, entry)
                try:
                    if stat.S_ISREG(os.lstat(stale).st_mode):
                        os.unlink(stale)
                except OSError:
                    pass

    def transaction(self) -> AbstractContextManager[dict[str, Any]]:
        """Lock, read and validate; give the document to the ``with`` block; write it back if
        the block changed it (and raised nothing)."""
        return _Transaction(self)


# Context managers as classes, not @contextlib.contextmanager generators: contextlib is not
# imported on the rotation script's start-up path.
class _Held:
    """``with vault.locked():``: the lock is taken on entry and released on exit."""

    __slots__ = ("_lock", "_vault")

    def __init__(self, vault: VaultFile) -> None:
        self._vault = vault
        self._lock: FileLock | None = None

    def __enter__(self) -> None:
        self._lock = self._vault._acquire()

    def __exit__(self, *exc_info: object) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()


class _Transaction:
    """``with vault.transaction() as doc:``: see :meth:`VaultFile.transaction`."""

    __slots__ = ("_before", "_doc", "_held", "_vault")

    def __init__(self, vault: VaultFile) -> None:
        self._vault = vault
        self._held = _Held(vault)
        self._doc: dict[str, Any] = {}
        self._before = ""

    def __enter__(self) -> dict[str, Any]:
        self._held.__enter__()
        try:
            self._doc = self._vault.read()
            self._before = json.dumps(self._doc, sort_keys=True)
        except BaseException:
            self._held.__exit__()
            raise
        return self._doc

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        try:
            if exc_type is None and json.dumps(self._doc, sort_keys=True) != self._before:
                self._vault.write(self._doc)
        finally:
            self._held.__exit__()


class VaultReader:
    """A read cache over a vault file for hot paths such as ``get_secret``.

    The file is stat'ed at most once per ``check_interval_seconds``; it is re-read only when
    its size, mtime or inode changed. If a changed file no longer parses, the last good
    content keeps being served and ``on_error`` is told; a first read that fails raises.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        check_interval_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        from pathlib import Path

        self.path = Path(path)
        self.check_interval_seconds = check_interval_seconds
        self._monotonic = monotonic
        self._on_error = on_error
        self._next_check = -float("inf")
        self._signature: tuple[int, int, int] | None = None
        self._doc: dict[str, Any] | None = None
        self._lock = _thread.allocate_lock()

    def __repr__(self) -> str:
        return f"VaultReader({str(self.path)!r})"

    def document(self) -> dict[str, Any]:
        """The current content ({} when the file is absent). Cheap when warm."""
        if self._monotonic() < self._next_check and self._doc is not None:
            return self._doc
        return self._refresh()

    def invalidate(self) -> None:
        """Force a stat on the next call (for callers that know the file changed)."""
        self._next_check = -float("inf")

    def _refresh(self) -> dict[str, Any]:
        with self._lock:
            now = self._monotonic()
            if now < self._next_check and self._doc is not None:
                return self._doc
            problem: VaultCorrupt | None = None
            try:
                st = os.stat(self.path)
                signature: tuple[int, int, int] | None = (st.st_size, st.st_mtime_ns, st.st_ino)
            except FileNotFoundError:
                signature = None
            except OSError as exc:  # a link loop, a name too long: one sentence, not a traceback
                signature = None
                problem = VaultCorrupt(self.path, describe_os_error(exc))
            if problem is None and (signature != self._signature or self._doc is None):
                try:
                    doc = VaultFile(self.path).read() if signature is not None else {}
                except VaultCorrupt as exc:
                    problem = exc
                else:
                    self._doc = doc
                    self._signature = signature
            if problem is not None:
                if self._doc is None:
                    raise problem
                if self._on_error is not None:
                    self._on_error(problem)
            self._next_check = now + self.check_interval_seconds
            return self._doc if self._doc is not None else {}
