"""What the detect-secrets plugins ask of the fast scanner: the secrets on one line of a file.

detect-secrets calls every plugin on every line. The plugins answer from one whole-file scan,
cached for the file being scanned, so multi-line rules (PEM bodies, ``JWT_SECRETS`` maps,
``jwt:`` sections) give the same answers here as in ``erp-secrets scan``. Without a readable
file (``detect-secrets scan --string``, diffs) they scan the lines of context they are given.

Findings are keyed by line number, so both must number lines alike: detect-secrets reads a file
with Python's universal newlines (``\r\n``, ``\r``, ``\n``), and so does
:class:`erp.scan._text.Text`. A secret after a lone ``\r`` is on the next line for both, where
detect-secrets' pragma filter looks for its pragma.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence

from erp.scan.detectors import by_slug
from erp.scan.scanner import DEFAULT_MAX_BYTES, find_secrets

__all__ = ["secrets_in_string", "secrets_on_line"]

_Found = dict[tuple[str, int], list[str]]


class _LastFile:
    """The scan of the file detect-secrets is on (it scans one file at a time per process)."""

    filename: str | None = None
    line_number = 0
    asked: set[str] = set()  # noqa: RUF012 - per-process state, one instance
    found: _Found | None = None


def _file_secrets(filename: str, line_number: int, slug: str) -> _Found | None:
    last = _LastFile
    # Every plugin is asked about line 1, then line 2, ... A line number going back, or a
    # plugin asking twice about one line, means a new pass over the file: read it again.
    if filename == last.filename and (
        line_number > last.line_number
        or (line_number == last.line_number and slug not in last.asked)
    ):
        if line_number > last.line_number:
            last.line_number, last.asked = line_number, set()
        last.asked.add(slug)
        return last.found
    last.filename, last.line_number, last.asked = filename, line_number, {slug}
    last.found = _read_and_scan(filename)
    return last.found


def _read_and_scan(filename: str) -> _Found | None:
    try:
        if os.path.getsize(filename) > DEFAULT_MAX_BYTES:
            return {}
        with open(filename, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    grouped: _Found = defaultdict(list)
    for detector, line, hit in find_secrets(data, os.path.basename(filename)):
        if not hit.example:
            grouped[(detector.slug, line)].append(hit.value)
    return dict(grouped)


def secrets_in_string(slug: str, text: str) -> list[str]:
    """Secrets of detector ``slug`` anywhere in ``text`` (documentation examples left out)."""
    detector = by_slug(slug)
    return [
        hit.value
        for _, _, hit in find_secrets(text.encode("utf-8", "surrogateescape"), "", [detector])
        if not hit.example
    ]


def secrets_on_line(
    slug: str,
    filename: str,
    line_number: int,
    context_lines: Sequence[str],
    target_index: int,
) -> list[str]:
    """Secrets of detector ``slug`` reported on ``line_number`` of ``filename``.

    ``context_lines`` / ``target_index``: the lines detect-secrets passes around the line, used
    when ``filename`` is not a readable file.
    """
    found = _file_secrets(filename, line_number, slug)
    if found is not None:
        return list(found.get((slug, line_number), ()))
    detector = by_slug(slug)
    data = "\n".join(line.rstrip("\n") for line in context_lines).encode("utf-8", "surrogateescape")
    return [
        hit.value
        for _, line, hit in find_secrets(data, os.path.basename(filename), [detector])
        if line == target_index + 1 and not hit.example
    ]
