"""Secret scanning: the project's detectors, the fast scanner, and the detect-secrets bridge.

``erp-secrets scan`` and the pre-commit hooks are thin shells over this package::

    from erp.scan import scan_files, load_baseline, list_files
    report = scan_files(list_files(["."]), baseline=load_baseline(Path(".secrets.baseline")))
    for finding in report.findings:
        print(finding)          # path:line: detector (slug): redacted value

To check one text (a template, a rendered configuration) for secrets and account ARNs::

    from erp.scan import find_in_text
    for match in find_in_text(rendered, kinds={"aws-arn"}):
        print(match.line, match.slug, match.shown)      # the value is match.value

Detectors live in :mod:`erp.scan.detectors`; the allow rules (documentation examples, the
inline pragma) in :mod:`erp.scan.rules`; detect-secrets plugins and filters in
:mod:`erp.scan.ds_plugins` and :mod:`erp.scan.ds_filters`, configured by :mod:`erp.scan.ds_config`.
Nothing here imports detect-secrets unless a detect-secrets function is called.
"""

from __future__ import annotations

from erp.scan.baseline import Baseline, BaselineError, hash_secret, load_baseline
from erp.scan.detectors import DETECTORS, Detector, Hit
from erp.scan.files import GitError, list_files, staged_blobs
from erp.scan.scanner import (
    Finding,
    ScanReport,
    TextMatch,
    find_in_text,
    find_secrets,
    scan_blobs,
    scan_bytes,
    scan_files,
)

__all__ = [
    "DETECTORS",
    "Baseline",
    "BaselineError",
    "Detector",
    "Finding",
    "GitError",
    "Hit",
    "ScanReport",
    "TextMatch",
    "find_in_text",
    "find_secrets",
    "hash_secret",
    "list_files",
    "load_baseline",
    "scan_blobs",
    "scan_bytes",
    "scan_files",
    "staged_blobs",
]
