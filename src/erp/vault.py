"""The vault file: a JSON object of named secrets, read cheaply and written crash-safely.

Every write takes an exclusive lock, re-reads and validates the file, writes a temp file
(mode 0600), fsyncs it, renames it over the original and fsyncs the folder. A reader
therefore sees the whole old file or the whole new one. A file that does not parse is
never overwritten.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from erp._io import atomic_write_bytes as _atomic_write
from erp._io import describe_os_error
from erp.errors import ConcurrentChange, FileWriteError, VaultCorrupt, VaultWriteError

__all__ = [
    "DEFAULT_VAULT_FILE",
    "META_KEY",
    "VaultFile",
    "VaultReader",
    "atomic_write_bytes",
    "default_vault_path",
]

DEFAULT_VAULT_FILE = "jwt_secrets.json"
META_KEY = "_erp"
"""Top-level entry holding non-secret bookkeeping (format, generation, audit head)."""

_FORMAT = 1


def default_vault_path() -> Path:
    """``$ERP_VAULT_FILE`` if set, else ``jwt_secrets.json`` in the working directory."""
    return Path(os.environ.get("ERP_VAULT_FILE") or DEFAULT_VAULT_FILE)


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace the vault file ``path`` atomically; :class:`VaultWriteError` on failure."""
    try:
        _atomic_write(path, data, mode=mode, what="vault file")
    except FileWriteError as exc:
        raise VaultWriteError(path, exc.problem) from None


def _parse(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except UnicodeDecodeError:
        raise VaultCorrupt(path, "it is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        # exc.msg and the position never include file content
        raise VaultCorrupt(
            path, f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(doc, dict):
        raise VaultCorrupt(path, f"the top level must be a JSON object, not {type(doc).__name__}")
    _validate(path, doc)
    return doc


def _validate(path: Path, doc: dict[str, Any]) -> None:
    secrets_map = doc.get("JWT_SECRETS")
    if secrets_map is not None:
        if not isinstance(secrets_map, dict):
            raise VaultCorrupt(path, "JWT_SECRETS must be a JSON object of key id -> secret")
        for key_id, value in secrets_map.items():
            if not isinstance(value, str):
                raise VaultCorrupt(path, f"JWT_SECRETS[{key_id!r}] must be a string")
    active = doc.get("JWT_SECRET_ID")
    if active is not None and not isinstance(active, str):
        raise VaultCorrupt(path, "JWT_SECRET_ID must be a string")
    for name in ("JWT_KEYS", META_KEY):
        if name in doc and not isinstance(doc[name], dict):
            raise VaultCorrupt(path, f"{name} must be a JSON object")


class VaultFile:
    """One vault file on disk. Cheap to construct; does nothing until used."""

    def __init__(self, path: Path | str | None = None, *, lock_timeout_seconds: float = 60.0):
        self.path = Path(path) if path is not None else default_vault_path()
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_timeout_seconds = lock_timeout_seconds

    def __repr__(self) -> str:
        return f"VaultFile({str(self.path)!r})"

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> dict[str, Any]:
        """The parsed file, or ``{}`` when it does not exist. Raises :class:`VaultCorrupt`."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except IsADirectoryError:
            raise VaultCorrupt(self.path, "it is a folder, not a file") from None
        except PermissionError:
            raise VaultCorrupt(self.path, "permission denied reading it") from None
        return _parse(self.path, raw)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the vault's exclusive lock (a sibling ``.lock`` file) for the block."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(self.lock_path), timeout=self.lock_timeout_seconds)
            lock.acquire()
        except Timeout:
            raise ConcurrentChange(
                f"another process has held the lock {self.lock_path} for over "
                f"{self.lock_timeout_seconds:g} s; retry when it has finished"
            ) from None
        except OSError as exc:
            raise VaultWriteError(self.path, describe_os_error(exc)) from exc
        try:
            yield
        finally:
            lock.release()

    def write(self, doc: dict[str, Any]) -> None:
        """Write ``doc`` atomically (call with the lock held). Bumps the generation."""
        _validate(self.path, doc)
        meta = dict(doc.get(META_KEY) or {})
        meta["format"] = _FORMAT
        meta["generation"] = int(meta.get("generation", 0)) + 1
        out = {**doc, META_KEY: meta}
        data = (json.dumps(out, indent=2, sort_keys=False) + "\n").encode()
        # With the lock held, any temp file of ours is a killed writer's (0600, secrets): drop it.
        for stale in self.path.parent.glob(f".{glob.escape(self.path.name)}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
        atomic_write_bytes(self.path, data)
        doc[META_KEY] = meta

    @contextlib.contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        """Lock, read and validate; yield the document; write it back if the block changed it."""
        with self.locked():
            doc = self.read()
            before = json.dumps(doc, sort_keys=True)
            yield doc
            if json.dumps(doc, sort_keys=True) != before:
                self.write(doc)


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
        self.path = Path(path)
        self.check_interval_seconds = check_interval_seconds
        self._monotonic = monotonic
        self._on_error = on_error
        self._next_check = -float("inf")
        self._signature: tuple[int, int, int] | None = None
        self._doc: dict[str, Any] | None = None
        self._lock = threading.Lock()

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
            try:
                st = os.stat(self.path)
                signature: tuple[int, int, int] | None = (st.st_size, st.st_mtime_ns, st.st_ino)
            except FileNotFoundError:
                signature = None
            if signature != self._signature or self._doc is None:
                try:
                    doc = VaultFile(self.path).read() if signature is not None else {}
                except VaultCorrupt as exc:
                    if self._doc is None:
                        raise
                    if self._on_error is not None:
                        self._on_error(exc)
                    self._next_check = now + self.check_interval_seconds
                    return self._doc
                self._doc = doc
                self._signature = signature
            self._next_check = now + self.check_interval_seconds
            return self._doc
