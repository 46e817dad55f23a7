"""The rotation log: one JSON object a line, each carrying the hash of the line before.

Entries hold key ids and fingerprints, never secret material. ``verify`` finds any edited,
deleted, reordered or truncated line. The vault file keeps the newest entry (its "head")
and is written first, so the vault rename is the commit point: a crash between the two
writes leaves one entry the vault confirms but the log lacks, which the next write
completes and ``verify`` names until then.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Mapping

from erp import _settings
from erp._io import describe_os_error, open_append, read_regular_file
from erp.clock import to_iso
from erp.errors import AuditChainBroken, FileReadError, FileWriteError, LogWriteError, SettingError
from erp.fingerprint import sha256

TYPE_CHECKING = False  # no typing import at run time: the rotation script's start-up path
if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path
    from typing import Any

__all__ = [
    "DEFAULT_ROTATION_LOG",
    "GENESIS",
    "MAX_LOG_BYTES",
    "AuditLog",
    "VerifyReport",
    "default_actor",
    "default_log_path",
    "make_entry",
]

DEFAULT_ROTATION_LOG = "logs/jwt_rotation.log"
GENESIS = "0" * 64
MAX_LOG_BYTES = 64 * 1024 * 1024
"""About 150,000 rotations; a bigger file is not our log (and is not read whole)."""
_TAIL_BYTES = 65536
_MAX_ACTOR = 128
# Every access refuses a symbolic link in the last component and anything but a regular
# file: a log replaced by a link to another file is never read, truncated or written.
_NOFOLLOW = (
    getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
)


def default_log_path() -> Path:
    """``$ERP_ROTATION_LOG`` if set, else ``logs/jwt_rotation.log`` in the working directory."""
    return AuditLog().path  # the default is decided in one place: AuditLog()


def default_actor() -> str:
    """Who is rotating: ``$ERP_ACTOR`` (printable, at most 128 characters), else the login name."""
    actor = _settings.read_text("ERP_ACTOR")
    if actor is not None:
        if len(actor) > _MAX_ACTOR or not actor.isprintable():
            raise SettingError(
                "ERP_ACTOR",
                f"is {_settings.shown(actor)}, which is not a printable name of at most "
                f"{_MAX_ACTOR} characters",
                "set it to the operator's name",
            )
        return actor
    # getpass.getuser()'s rule, without importing getpass (termios, warnings) at start-up
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        user = os.environ.get(name)
        if user:
            return user
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):
        return f"uid:{os.getuid()}"


def _hostname() -> str:
    # socket.gethostname() is uname's nodename on POSIX; socket costs more start-up than the
    # rest of the log
    return os.uname().nodename


def _problem(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "it is a symbolic link, which is refused"
    return describe_os_error(exc)


def _canonical(entry: Mapping[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _entry_hash(entry: Mapping[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return sha256(_canonical(body)).hexdigest()


def make_entry(
    event: Mapping[str, Any],
    *,
    prev_hash: str,
    seq: int,
    now: datetime,
    actor: str | None = None,
    host: str | None = None,
) -> dict[str, Any]:
    """A complete log entry chained to ``prev_hash``. ``event`` must hold no secrets."""
    entry: dict[str, Any] = {
        "seq": seq,
        "time": to_iso(now),
        "actor": actor if actor is not None else default_actor(),
        "host": host if host is not None else _hostname(),
        **event,
        "prev": prev_hash,
    }
    entry["hash"] = _entry_hash(entry)
    return entry


class VerifyReport:
    """What ``AuditLog.verify`` found. ``ok`` only when ``problems`` is empty."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        entries: int = 0,
        problems: list[str] | None = None,
        incomplete: int | None = None,
        last_seq: int = 0,
        repairable: int = 0,
    ) -> None:
        self._file = os.fspath(path)
        self.entries = entries
        self.problems: list[str] = [] if problems is None else problems
        self.incomplete = incomplete  # seq of an entry the vault confirms but the log lacks
        self.last_seq = last_seq
        self.repairable = repairable  # problems the next write repairs itself (torn line, ...)

    @property
    def path(self) -> Path:
        """The log file verified (``pathlib`` is imported only when this is asked for)."""
        from pathlib import Path

        return Path(self._file)

    def __repr__(self) -> str:
        return (
            f"VerifyReport(path={self._file!r}, entries={self.entries}, "
            f"problems={self.problems!r}, incomplete={self.incomplete}, "
            f"last_seq={self.last_seq}, repairable={self.repairable})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VerifyReport):
            return NotImplemented
        return vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces

    @property
    def ok(self) -> bool:
        return not self.problems


class AuditLog:
    """An append-only, hash-chained JSON-lines file.

    Path-like (``os.fspath(log)`` is its file name); like :class:`~erp.store.vault.VaultFile`
    it works on that text, so ``pathlib`` is imported only when ``path`` is asked for.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._file = (
            os.fspath(path)
            if path is not None
            else _settings.read_file_name("ERP_ROTATION_LOG", DEFAULT_ROTATION_LOG)
        )

    @property
    def path(self) -> Path:
        """The log file."""
        from pathlib import Path

        return Path(self._file)

    def __fspath__(self) -> str:
        return self._file

    def __repr__(self) -> str:
        return f"AuditLog({self._file!r})"

    # -- reading -----------------------------------------------------------------------

    def _read_tail(self) -> tuple[bytes, int]:
        """The last bytes of the file (at most ``_TAIL_BYTES``) and the file size."""
        fd = self._open(os.O_RDONLY)
        if fd is None:
            return b"", 0
        try:
            size = os.fstat(fd).st_size
            start = max(0, size - _TAIL_BYTES)
            return os.pread(fd, size - start, start), size
        finally:
            os.close(fd)

    def _open(self, flags: int) -> int | None:
        """A descriptor on the log (regular file, no symlink), ``None`` if it does not exist."""
        try:
            fd = os.open(self._file, flags | _NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise FileReadError(self._file, "rotation log", _problem(exc)) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise FileReadError(self._file, "rotation log", "it is not a regular file")
        return fd

    def _read_all(self) -> bytes:
        raw = read_regular_file(
            self._file, what="rotation log", max_bytes=MAX_LOG_BYTES, follow_symlinks=False
        )
        return b"" if raw is None else raw

    def last_entry(self) -> tuple[dict[str, Any] | None, int]:
        """The last complete entry and how many torn bytes follow it (a killed append)."""
        tail, size = self._read_tail()
        if not tail:
            return None, 0
        if size > len(tail) and tail.count(b"\n") < 2:
            # the last line (or a torn one) is longer than the tail window: read it all, so a
            # long torn line is measured whole and the entry before it is found
            tail = self._read_all()
        torn = 0
        if not tail.endswith(b"\n"):
            cut = tail.rfind(b"\n")
            torn = len(tail) - (cut + 1)
            tail = tail[: cut + 1]
        lines = tail.splitlines()
        if not lines:
            return None, torn
        try:
            entry = json.loads(lines[-1])
        except ValueError:
            raise AuditChainBroken(self._file, ["the last line is not valid JSON"]) from None
        if not isinstance(entry, dict) or "hash" not in entry or "seq" not in entry:
            raise AuditChainBroken(self._file, ["the last line is not a log entry"])
        return entry, torn

    def entries(self) -> list[dict[str, Any]]:
        """Every parseable entry (for display); ``verify`` is the check."""
        out: list[dict[str, Any]] = []
        for line in self._read_all().splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out

    # -- writing -----------------------------------------------------------------------

    def reconcile(self, head: Mapping[str, Any] | None) -> None:
        """Bring the log in line with the vault's head before a new write (lock held).

        Completes an entry the vault committed but a killed process did not append, and
        drops a torn partial line. Refuses (:class:`AuditChainBroken`) if the chain is broken
        anywhere else, or the log does not end where the vault says it should.
        """
        report = self.verify(head)
        if len(report.problems) > report.repairable:  # never append to a broken chain
            raise AuditChainBroken(self._file, report.problems)
        last, torn = self.last_entry()
        if head is None:
            if torn:
                self._truncate_torn(torn)
            return
        head_hash = head.get("hash")
        head_entry = head.get("entry")
        if last is not None and last.get("hash") == head_hash:
            if torn:
                self._truncate_torn(torn)
            return
        if isinstance(head_entry, dict) and (
            (last is None and head_entry.get("prev") == GENESIS)
            or (last is not None and last.get("hash") == head_entry.get("prev"))
        ):
            if torn:
                self._truncate_torn(torn)
            self._append_line(head_entry)
            return
        have = "is empty" if last is None else f"ends at entry {last.get('seq')}"
        raise AuditChainBroken(
            self._file,
            [
                f"the log {have}, but the vault's last recorded entry is "
                f"{head.get('seq')} (hash {str(head_hash)[:12]}…): entries were removed"
            ],
        )

    def _truncate_torn(self, torn: int) -> None:
        fd = self._open(os.O_RDWR)
        if fd is None:
            return
        try:
            os.ftruncate(fd, os.fstat(fd).st_size - torn)
            os.fsync(fd)
        except OSError as exc:
            raise LogWriteError(self._file, describe_os_error(exc)) from None
        finally:
            os.close(fd)

    def next_position(self) -> tuple[int, str]:
        """(seq, prev_hash) for the entry that would be appended now."""
        last, _torn = self.last_entry()
        if last is None:
            return 1, GENESIS
        return int(last["seq"]) + 1, str(last["hash"])

    def _append_line(self, entry: Mapping[str, Any], *, committed: bool = False) -> None:
        try:
            os.makedirs(os.path.dirname(self._file) or ".", exist_ok=True)
            fd = open_append(self._file, what="rotation log", mode=0o640)
            try:
                view = memoryview(_canonical(entry) + b"\n")
                while view:  # a full disk can cut a write short
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
        except FileWriteError as exc:
            raise LogWriteError(self._file, exc.problem, committed=committed) from None
        except OSError as exc:
            raise LogWriteError(self._file, describe_os_error(exc), committed=committed) from None

    def check_file(self) -> None:
        """Raise :class:`LogWriteError` if something other than a regular file is at the path.

        A cheap look before the vault lock is taken (nothing there yet: fine);
        :meth:`check_writable`, under the lock, is the authoritative check.
        """
        try:
            st = os.lstat(self._file)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise LogWriteError(self._file, _problem(exc)) from None
        if not stat.S_ISREG(st.st_mode):
            self.check_writable()  # raises, naming the kind (a folder, a link, a FIFO)

    def check_writable(self) -> None:
        """Raise :class:`LogWriteError` now, changing nothing, if an append would be refused."""
        if os.path.lexists(self._file):
            try:
                fd = self._open(os.O_WRONLY | os.O_APPEND)
            except FileReadError as exc:
                raise LogWriteError(self._file, exc.problem) from None
            if fd is not None:
                os.close(fd)
            return
        folder = os.path.abspath(os.path.dirname(self._file) or ".")
        while not os.path.exists(folder) and folder != os.path.dirname(folder):
            folder = os.path.dirname(folder)
        if not os.access(folder, os.W_OK | os.X_OK):
            problem = (
                "the file system is read-only"
                if os.statvfs(folder).f_flag & os.ST_RDONLY
                else f"permission denied creating it in {folder}"
            )
            raise LogWriteError(self._file, problem)

    def append(self, entry: Mapping[str, Any]) -> None:
        """Append one complete entry the vault already holds (the caller holds the vault lock)."""
        self._append_line(entry, committed=True)

    # -- verification ------------------------------------------------------------------

    def verify(self, head: Mapping[str, Any] | None = None) -> VerifyReport:
        """Check every line's hash, the chain of ``prev`` links and the sequence numbers.

        With ``head`` (the vault's record of the newest entry), also detect lines cut from
        the end and name an entry the vault committed but the log has not received.
        """
        report = VerifyReport(self._file)
        raw = self._read_all()
        prev = GENESIS
        expected_seq = 1
        lines = raw.split(b"\n")
        torn_tail = lines[-1] != b""
        if not torn_tail:
            lines = lines[:-1]
        torn_problem: str | None = None
        for lineno, line in enumerate(lines, start=1):
            if torn_tail and lineno == len(lines):
                torn_problem = (
                    f"line {lineno}: incomplete entry (a write was interrupted); "
                    "the next rotation removes it"
                )
                break
            try:
                entry = json.loads(line)
            except ValueError:
                report.problems.append(f"line {lineno}: not valid JSON (edited or corrupted)")
                prev = "?"
                expected_seq += 1
                continue
            if not isinstance(entry, dict):
                report.problems.append(f"line {lineno}: not a log entry")
                continue
            seq = entry.get("seq")
            if entry.get("hash") != _entry_hash(entry):
                report.problems.append(f"line {lineno} (entry {seq}): content was edited")
            if entry.get("prev") != prev and prev != "?":
                if isinstance(seq, int) and seq > expected_seq:
                    report.problems.append(
                        f"line {lineno} (entry {seq}): entries {expected_seq}..{seq - 1} "
                        "before it were deleted"
                    )
                elif isinstance(seq, int) and seq < expected_seq:
                    report.problems.append(
                        f"line {lineno} (entry {seq}): out of order (reordered or duplicated)"
                    )
                else:
                    report.problems.append(
                        f"line {lineno} (entry {seq}): does not chain to the line before "
                        "(a line was replaced or reordered)"
                    )
            elif seq != expected_seq and prev != "?":
                report.problems.append(
                    f"line {lineno}: sequence number {seq} where {expected_seq} was expected"
                )
            prev = str(entry.get("hash"))
            expected_seq = (seq + 1) if isinstance(seq, int) else expected_seq + 1
            report.entries += 1
            report.last_seq = seq if isinstance(seq, int) else report.last_seq
        if head is not None and head.get("hash") is not None:
            head_seq = head.get("seq")
            if prev == head.get("hash"):
                pass
            elif (
                isinstance(head_seq, int)
                and head_seq == report.last_seq + 1
                and ((head.get("entry") or {}).get("prev") == prev)
            ):
                # A torn last line that is the start of this same entry: one problem, not two.
                torn = ""
                head_line = _canonical(head.get("entry") or {})
                if torn_problem is not None and head_line.startswith(lines[-1]):
                    torn, torn_problem = f" (line {len(lines)} is its torn start)", None
                report.incomplete = head_seq
                report.repairable += 1
                report.problems.append(
                    f"entry {head_seq}: recorded in the vault but not yet in the log{torn} "
                    "(a rotation was interrupted after it took effect); the next rotation "
                    "or 'erp-secrets audit repair' appends it"
                )
            elif not report.entries and not os.path.lexists(self._file):
                report.problems.append(
                    f"the log {self._file} does not exist, but the vault records entry "
                    f"{head_seq}: check --log or ERP_ROTATION_LOG (a relative path is taken "
                    f"from {os.getcwd()}); if the log was lost, restore it from backup"
                )
            elif isinstance(head_seq, int) and head_seq > report.last_seq:
                report.problems.append(
                    f"the log ends at entry {report.last_seq} but the vault records entry "
                    f"{head_seq}: lines were cut from the end"
                )
            else:
                report.problems.append(
                    f"the vault's newest entry ({head_seq}) does not match the log's "
                    f"(entry {report.last_seq}): the log was replaced or edited"
                )
        if torn_problem is not None:
            report.problems.append(torn_problem)
            report.repairable += 1
        return report
