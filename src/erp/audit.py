"""The rotation log: one JSON object a line, each carrying the hash of the line before.

Entries hold key ids and fingerprints, never secret material. ``verify`` finds any edited,
deleted, reordered or truncated line. The vault file keeps the newest entry (its "head")
and is written first, so the vault rename is the commit point: a crash between the two
writes leaves one entry the vault confirms but the log lacks, which the next write
completes and ``verify`` names until then.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from erp._io import describe_os_error as _describe_os_error
from erp.clock import to_iso
from erp.errors import AuditChainBroken, LogWriteError

__all__ = [
    "DEFAULT_ROTATION_LOG",
    "GENESIS",
    "AuditLog",
    "VerifyReport",
    "default_actor",
    "default_log_path",
    "make_entry",
]

DEFAULT_ROTATION_LOG = "logs/jwt_rotation.log"
GENESIS = "0" * 64
_TAIL_BYTES = 65536


def default_log_path() -> Path:
    """``$ERP_ROTATION_LOG`` if set, else ``logs/jwt_rotation.log`` in the working directory."""
    return Path(os.environ.get("ERP_ROTATION_LOG") or DEFAULT_ROTATION_LOG)


def default_actor() -> str:
    """Who is rotating: ``$ERP_ACTOR``, else the login name."""
    actor = os.environ.get("ERP_ACTOR")
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def _canonical(entry: Mapping[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _entry_hash(entry: Mapping[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(_canonical(body)).hexdigest()


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
        "host": host if host is not None else socket.gethostname(),
        **event,
        "prev": prev_hash,
    }
    entry["hash"] = _entry_hash(entry)
    return entry


@dataclass
class VerifyReport:
    """What ``AuditLog.verify`` found. ``ok`` only when ``problems`` is empty."""

    path: Path
    entries: int = 0
    problems: list[str] = field(default_factory=list)
    incomplete: int | None = None  # seq of an entry the vault confirms but the log lacks
    last_seq: int = 0
    repairable: int = 0  # problems the next write repairs itself (torn line, incomplete entry)

    @property
    def ok(self) -> bool:
        return not self.problems


class AuditLog:
    """An append-only, hash-chained JSON-lines file."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_log_path()

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"

    # -- reading -----------------------------------------------------------------------

    def _read_tail(self) -> tuple[bytes, int]:
        """The last bytes of the file (at most ``_TAIL_BYTES``) and the file size."""
        try:
            with open(self.path, "rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                start = max(0, size - _TAIL_BYTES)
                fh.seek(start)
                return fh.read(), size
        except FileNotFoundError:
            return b"", 0

    def last_entry(self) -> tuple[dict[str, Any] | None, int]:
        """The last complete entry and how many torn bytes follow it (a killed append)."""
        tail, _size = self._read_tail()
        if not tail:
            return None, 0
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
            raise AuditChainBroken(self.path, ["the last line is not valid JSON"]) from None
        if not isinstance(entry, dict) or "hash" not in entry or "seq" not in entry:
            raise AuditChainBroken(self.path, ["the last line is not a log entry"])
        return entry, torn

    def entries(self) -> list[dict[str, Any]]:
        """Every parseable entry (for display); ``verify`` is the check."""
        out: list[dict[str, Any]] = []
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return out
        for line in text.splitlines():
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
            raise AuditChainBroken(self.path, report.problems)
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
        have = "empty" if last is None else f"ends at entry {last.get('seq')}"
        raise AuditChainBroken(
            self.path,
            [
                f"the log {have}, but the vault's last recorded entry is "
                f"{head.get('seq')} (hash {str(head_hash)[:12]}…): entries were removed"
            ],
        )

    def _truncate_torn(self, torn: int) -> None:
        size = self.path.stat().st_size
        with open(self.path, "r+b") as fh:
            fh.truncate(size - torn)
            os.fsync(fh.fileno())

    def next_position(self) -> tuple[int, str]:
        """(seq, prev_hash) for the entry that would be appended now."""
        last, _torn = self.last_entry()
        if last is None:
            return 1, GENESIS
        return int(last["seq"]) + 1, str(last["hash"])

    def _append_line(self, entry: Mapping[str, Any], *, committed: bool = False) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                view = memoryview(_canonical(entry) + b"\n")
                while view:  # a full disk can cut a write short
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise LogWriteError(self.path, _describe_os_error(exc), committed=committed) from exc

    def check_writable(self) -> None:
        """Raise :class:`LogWriteError` now, changing nothing, if an append would be refused."""
        if self.path.exists():
            try:
                os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND))
            except OSError as exc:
                raise LogWriteError(self.path, _describe_os_error(exc)) from exc
            return
        folder = self.path.parent.absolute()
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not os.access(folder, os.W_OK | os.X_OK):
            problem = (
                "the file system is read-only"
                if os.statvfs(folder).f_flag & os.ST_RDONLY
                else f"permission denied creating it in {folder}"
            )
            raise LogWriteError(self.path, problem)

    def append(self, entry: Mapping[str, Any]) -> None:
        """Append one complete entry the vault already holds (the caller holds the vault lock)."""
        self._append_line(entry, committed=True)

    # -- verification ------------------------------------------------------------------

    def verify(self, head: Mapping[str, Any] | None = None) -> VerifyReport:
        """Check every line's hash, the chain of ``prev`` links and the sequence numbers.

        With ``head`` (the vault's record of the newest entry), also detect lines cut from
        the end and name an entry the vault committed but the log has not received.
        """
        report = VerifyReport(self.path)
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raw = b""
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
