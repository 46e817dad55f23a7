"""Which files to scan: named files, directories (git-tracked and new files), or the git index."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from erp.errors import ConfigError

__all__ = [
    "BINARY_PROBE_BYTES",
    "DEFAULT_MAX_BYTES",
    "GitError",
    "is_binary",
    "list_files",
    "skip_reason",
    "staged_blobs",
]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
"""Files larger than this are skipped (and listed as skipped)."""

BINARY_PROBE_BYTES = 8192
"""A NUL byte in this many leading bytes makes a file binary (git's own test)."""


class GitError(ConfigError):
    """A git command needed for the scan failed (not a repository, git missing, ...)."""


def _git(args: Sequence[str], cwd: Path, stdin: bytes | None = None) -> bytes:
    import subprocess  # not needed when the hook passes file names

    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed or not on PATH; install git and retry") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(
            f"'git {' '.join(args[:3])}' failed in {cwd}: "
            f"{message[-1] if message else 'exit ' + str(done.returncode)}"
        )
    return done.stdout


def _inside_git(directory: Path) -> bool:
    try:
        return _git(["rev-parse", "--is-inside-work-tree"], directory).strip() == b"true"
    except GitError:
        return False


def is_binary(data: bytes) -> bool:
    """Binary content: a NUL byte near the start (decided by content, never by file name)."""
    return b"\0" in data[:BINARY_PROBE_BYTES]


def skip_reason(path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> str | None:
    """Why the file at ``path`` is not scanned, or None if it is.

    The file-selection rule of both hooks (``erp-secrets scan`` and, through
    :mod:`erp.scan.ds_hook`, detect-secrets): symbolic links, files over ``max_bytes`` and
    binary content are skipped; every other file is scanned whatever its name or extension
    (lock files, ``go.sum``, ``.css``, ``.svg`` and source maps included). detect-secrets
    then also skips, silently, a selected file it cannot decode as text (a Latin-1 file);
    ``erp-secrets scan`` reads bytes and scans it.
    """
    try:
        if os.path.islink(path):
            return "symbolic link"
        if os.path.getsize(path) > max_bytes:
            return f"larger than {max_bytes} bytes"
        with open(path, "rb") as handle:
            head = handle.read(BINARY_PROBE_BYTES)
    except FileNotFoundError:
        return "deleted"
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    return "binary" if is_binary(head) else None


def _walk(directory: Path) -> Iterator[str]:
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            yield os.path.join(root, name)


def list_files(
    paths: Sequence[str | Path], cwd: Path | None = None, *, use_git: bool = True
) -> list[str]:
    """Files to scan for ``paths`` (default ``.``), relative to ``cwd`` when given so.

    A file is taken as named. A directory inside a git work tree yields its tracked files plus
    new files git does not ignore; outside git (or with ``use_git=False``), every file below it
    except in ``.git`` folders.
    """
    cwd = cwd or Path.cwd()
    out: list[str] = []
    for given in paths or ["."]:
        path = Path(given)
        full = path if path.is_absolute() else cwd / path
        if not full.is_dir():
            out.append(str(path))
            continue
        if use_git and _inside_git(full):
            listed = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], full)
            names = listed.decode("utf-8", "surrogateescape").split("\0")
            out += [os.path.normpath(os.path.join(path, name)) for name in names if name]
        else:
            out += [os.path.relpath(name, cwd) for name in _walk(full)]
    return list(dict.fromkeys(out))


_GITLINK = b"160000"
"""The mode of a submodule entry: its object is a commit of another repository."""


def _staged_entries(root: Path) -> list[tuple[str, bytes]]:
    """(path, staged blob id) of each added or modified file in the index at ``root``.

    NUL-separated raw diff output: any file name (a newline, a quote, a leading ``-``) is read
    as git stores it, and the content is asked for by object id, never by name.
    """
    raw = _git(
        ["diff", "--cached", "--raw", "-z", "--no-renames", "--no-abbrev", "--diff-filter=ACMRT"],
        root,
    )
    fields = raw.split(b"\0")
    entries: list[tuple[str, bytes]] = []
    index = 0
    while index < len(fields):
        meta = fields[index].split()
        index += 1
        if len(meta) < 5 or not meta[0].startswith(b":"):
            continue
        # ":old-mode new-mode old-id new-id status", then one path (two for a rename or copy).
        count = 2 if meta[4][:1] in (b"R", b"C") else 1
        path = fields[index + count - 1] if index + count - 1 < len(fields) else b""
        index += count
        if path and meta[1] != _GITLINK:
            entries.append((path.decode("utf-8", "surrogateescape"), meta[3]))
    return entries


def staged_blobs(cwd: Path | None = None) -> Iterator[tuple[str, bytes]]:
    """(path from the repository root, staged content) of each added or modified file.

    The content is the index's, so what is scanned is exactly what ``git commit`` records.
    """
    cwd = cwd or Path.cwd()
    top = _git(["rev-parse", "--show-toplevel"], cwd).decode("utf-8", "surrogateescape")
    root = Path(top.removesuffix("\n"))
    entries = _staged_entries(root)
    if not entries:
        return
    request = b"".join(object_id + b"\n" for _, object_id in entries)
    out = _git(["cat-file", "--batch"], root, stdin=request)
    position = 0
    for path, _ in entries:
        header_end = out.index(b"\n", position)
        header = out[position:header_end].split()
        if len(header) < 3 or header[-1] == b"missing":
            position = header_end + 1
            continue
        size = int(header[2])
        start = header_end + 1
        kind = header[1]
        position = start + size + 1
        if kind == b"blob":
            yield path, out[start : start + size]
