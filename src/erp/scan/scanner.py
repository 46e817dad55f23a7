"""The fast scanner: every detector over whole files as bytes, then the allow rules.

One pass per detector over each file (literal-anchored regexes and ``bytes.find``), instead of
detect-secrets' call of every plugin on every line. Findings carry a redacted value and the
detect-secrets hash of the secret, never the secret.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from erp.scan._base import Detector, Hit
from erp.scan._decode import encoded_blobs
from erp.scan._text import Text
from erp.scan.baseline import Baseline, hash_secret
from erp.scan.detectors import DETECTORS
from erp.scan.files import DEFAULT_MAX_BYTES, is_binary
from erp.scan.rules import is_pragma_allowed

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Finding",
    "ScanReport",
    "TextMatch",
    "display_path",
    "find_in_text",
    "find_secrets",
    "scan_blobs",
    "scan_bytes",
    "scan_files",
]

_PARALLEL_MIN_FILES = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_QUOTED = re.compile(r'[\x00-\x1f\x7f"\\]')
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"}


def _escape(match: re.Match[str]) -> str:
    return _ESCAPES.get(match[0], f"\\x{ord(match[0]):02x}")


def display_path(path: str) -> str:
    """``path`` for one line of text output: as is, or quoted with escapes (as git quotes
    names) when it holds a line break or another control character."""
    return f'"{_QUOTED.sub(_escape, path)}"' if _CONTROL.search(path) else path


@dataclass(frozen=True, slots=True)
class Finding:
    """One unreviewed secret: where, which detector, a redacted value, the baseline hash."""

    path: str
    line: int
    detector: str
    slug: str
    redacted: str
    hashed_secret: str

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "line": self.line,
            "detector": self.detector,
            "detector_id": self.slug,
            "redacted": self.redacted,
            "hashed_secret": self.hashed_secret,
        }

    def __str__(self) -> str:
        return (
            f"{display_path(self.path)}:{self.line}: {self.detector} ({self.slug}): {self.redacted}"
        )


@dataclass
class ScanReport:
    """Findings plus what was scanned, skipped and suppressed (by pragma, baseline, example)."""

    findings: list[Finding] = field(default_factory=list)
    files_scanned: int = 0
    bytes_scanned: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    suppressed: Counter[str] = field(default_factory=Counter)

    def merge(self, other: ScanReport) -> None:
        self.findings += other.findings
        self.files_scanned += other.files_scanned
        self.bytes_scanned += other.bytes_scanned
        self.skipped += other.skipped
        self.suppressed.update(other.suppressed)

    def apply_baseline(self, baseline: Baseline) -> None:
        """Drop findings the baseline knows (counted as suppressed by ``baseline``)."""
        if not len(baseline):
            return
        kept = []
        for finding in self.findings:
            if baseline.covers(finding.path, finding.detector, finding.hashed_secret):
                self.suppressed["baseline"] += 1
            else:
                kept.append(finding)
        self.findings = kept

    def sort(self) -> None:
        self.findings.sort(key=lambda f: (f.path, f.line, f.slug))
        self.skipped.sort()

    def to_json(self) -> dict[str, Any]:
        return {
            "findings": [f.to_json() for f in self.findings],
            "files_scanned": self.files_scanned,
            "bytes_scanned": self.bytes_scanned,
            "skipped": [{"file": p, "reason": r} for p, r in self.skipped],
            "suppressed": dict(sorted(self.suppressed.items())),
        }


@dataclass(frozen=True, slots=True)
class TextMatch:
    """A secret or ARN in a text: its kind, line, value (never in ``repr``) and redacted form."""

    slug: str
    detector: str
    line: int
    value: str = field(repr=False)
    shown: str


def find_in_text(
    text: str | bytes, *, name: str = "", kinds: Collection[str] | None = None
) -> list[TextMatch]:
    """Secrets and AWS ARNs in ``text`` that no stated rule allows, in line order.

    The small API for other checks (templates, configuration validators): the detectors of
    ``erp-secrets scan`` (or only the ``kinds`` given, by slug, e.g. ``{"aws-arn"}``) with the
    documentation-example, public-account and pragma rules applied; no baseline. ``name`` is
    the file's base name when there is one (some rules read it).
    """
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    detectors = [d for d in DETECTORS if kinds is None or d.slug in kinds]
    source = Text(data, name)
    out = [
        TextMatch(detector.slug, detector.name, line, hit.value, hit.shown)
        for detector, line, hit in _find(source, detectors)
        if not hit.example and not is_pragma_allowed(source.line(line), source.line(line - 1))
    ]
    return sorted(out, key=lambda m: m.line)


def find_secrets(
    data: bytes, name: str = "", detectors: Sequence[Detector] = DETECTORS
) -> Iterator[tuple[Detector, int, Hit]]:
    """Every raw match in ``data`` as (detector, 1-based line, hit); no allow rule applied.

    ``name`` is the file's base name (the JWT detector reads ``jwt_secrets*.json`` files whole).
    """
    yield from _find(Text(data, name), detectors)


def _find(text: Text, detectors: Sequence[Detector]) -> Iterator[tuple[Detector, int, Hit]]:
    # Base64 in Kubernetes Secrets and kubeconfig is decoded, scanned, and reported where it
    # is encoded, instead of the encoded form itself.
    blobs = list(encoded_blobs(text))
    encoded = {offset for offset, _, _ in blobs}
    for detector in detectors:
        for hit in detector.find(text):
            if hit.offset not in encoded:
                yield detector, text.line_of(hit.offset), hit
    for offset, name, decoded in blobs:
        inner = Text(decoded, name)
        line = text.line_of(offset)
        for detector in detectors:
            for hit in detector.find(inner):
                shown = f"{hit.shown} (base64 in {name})"
                yield detector, line, Hit(offset, hit.value, shown, hit.example)


def scan_bytes(data: bytes, path: str) -> ScanReport:
    """Scan one file's content; documentation examples and pragma lines are suppressed."""
    report = ScanReport(files_scanned=1, bytes_scanned=len(data))
    text = Text(data, path.rsplit("/", 1)[-1])
    for detector, line, hit in _find(text, DETECTORS):
        if hit.example:
            report.suppressed["example"] += 1
            continue
        if is_pragma_allowed(text.line(line), text.line(line - 1)):
            report.suppressed["pragma"] += 1
            continue
        report.findings.append(
            Finding(path, line, detector.name, detector.slug, hit.shown, hash_secret(hit.value))
        )
    return report


def _scan_path(path: str, max_bytes: int) -> ScanReport:
    report = ScanReport()
    try:
        if os.path.islink(path):
            report.skipped.append((path, "symbolic link"))
            return report
        size = os.path.getsize(path)
        if size > max_bytes:
            report.skipped.append((path, f"larger than {max_bytes} bytes"))
            return report
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return report  # deleted since it was listed: nothing to commit
    except OSError as exc:
        report.skipped.append((path, f"unreadable: {exc.strerror or exc}"))
        return report
    if is_binary(data):
        report.skipped.append((path, "binary"))
        return report
    return scan_bytes(data, path)


def _scan_chunk(paths: Sequence[str], max_bytes: int) -> ScanReport:
    report = ScanReport()
    for path in paths:
        report.merge(_scan_path(path, max_bytes))
    return report


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def scan_files(
    paths: Sequence[str | Path],
    *,
    baseline: Baseline | None = None,
    jobs: int = 1,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ScanReport:
    """Scan files (not directories; see :mod:`erp.scan.files`) with ``jobs`` processes.

    ``jobs`` 0 means one process per CPU when there are enough files to pay for it.
    """
    names = [os.path.normpath(os.fspath(p)).replace(os.sep, "/") for p in paths]
    if jobs <= 0:
        jobs = (os.cpu_count() or 1) if len(names) >= _PARALLEL_MIN_FILES else 1
    report = ScanReport()
    if jobs == 1 or len(names) < 2:
        report.merge(_scan_chunk(names, max_bytes))
    else:
        from concurrent.futures import ProcessPoolExecutor  # only large trees pay for it

        size = max(1, min(256, len(names) // (jobs * 4) or 1))
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_scan_chunk, chunk, max_bytes) for chunk in _chunks(names, size)]
            for future in futures:
                report.merge(future.result())
    if baseline is not None:
        report.apply_baseline(baseline)
    report.sort()
    return report


def scan_blobs(
    blobs: Iterable[tuple[str, bytes]],
    *,
    baseline: Baseline | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ScanReport:
    """Scan (path, content) pairs, e.g. the staged versions of files."""
    report = ScanReport()
    for path, data in blobs:
        if len(data) > max_bytes:
            report.skipped.append((path, f"larger than {max_bytes} bytes"))
        elif is_binary(data):
            report.skipped.append((path, "binary"))
        else:
            report.merge(scan_bytes(data, path))
    if baseline is not None:
        report.apply_baseline(baseline)
    report.sort()
    return report
