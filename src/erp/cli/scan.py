"""``erp-secrets scan``: block hard-coded secrets and AWS ARNs (the pre-commit hook and CI)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from erp.errors import ConfigError
from erp.scan.baseline import DEFAULT_BASELINE, Baseline, load_baseline
from erp.scan.detectors import DETECTORS
from erp.scan.files import list_files, staged_blobs
from erp.scan.scanner import DEFAULT_MAX_BYTES, ScanReport, display_path, scan_blobs, scan_files

__all__ = ["scan_command"]

_ADVICE = (
    "Load secrets at run time (vault file, environment, AWS Secrets Manager), never from the "
    "code; rotate any that was ever pushed. A reviewed false positive: add "
    "'pragma: allowlist secret' in a comment on its line, or record it in {baseline} "
    "('detect-secrets scan --no-verify --baseline {baseline}')."
)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _print_text(report: ScanReport, baseline: Path) -> None:
    for finding in report.findings:
        click.echo(str(finding))
    # Not scanned (binary, over --max-bytes, a symbolic link, unreadable): on stderr, so
    # stdout holds findings only.
    for path, reason in report.skipped:
        click.echo(f"{display_path(path)}: skipped, not scanned ({reason})", err=True)
    suppressed = ", ".join(f"{n} by {why}" for why, n in sorted(report.suppressed.items()))
    tail = f"; suppressed {suppressed}" if suppressed else ""
    skipped = f", {len(report.skipped)} skipped" if report.skipped else ""
    scanned = f"{_plural(report.files_scanned, 'file')} scanned{skipped}{tail}"
    files = len({f.path for f in report.findings})
    if report.findings:
        click.echo(
            f"erp-secrets scan: {_plural(len(report.findings), 'finding')} in "
            f"{_plural(files, 'file')} ({scanned})."
        )
        click.echo(_ADVICE.format(baseline=baseline))
    else:
        click.echo(f"erp-secrets scan: no findings ({scanned}).", err=True)


@click.command("scan")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--staged",
    is_flag=True,
    help="Scan the staged content of files added or changed in the git index (ignores PATHS).",
)
@click.option(
    "--baseline",
    "baseline_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"detect-secrets baseline of reviewed findings (default: {DEFAULT_BASELINE} if present).",
)
@click.option("--no-baseline", is_flag=True, help="Report baselined findings too.")
@click.option(
    "--all-files",
    is_flag=True,
    help="In directories, scan every file (also git-ignored ones), not only git's files.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--jobs",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Processes to scan with; 0 = one per CPU for large trees.",
)
@click.option(
    "--max-bytes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_BYTES,
    show_default=True,
    help="Skip (and list, on stderr) files larger than this.",
)
@click.option("--list-detectors", is_flag=True, help="List the detectors and exit.")
@click.option(
    "--init-baseline",
    is_flag=True,
    help="Create the baseline (runs detect-secrets with the project's plugins) and exit.",
)
@click.pass_context
def scan_command(
    ctx: click.Context,
    paths: tuple[Path, ...],
    staged: bool,
    baseline_path: Path | None,
    no_baseline: bool,
    all_files: bool,
    as_json: bool,
    jobs: int,
    max_bytes: int,
    list_detectors: bool,
    init_baseline: bool,
) -> None:
    """Scan PATHS (default: the git-tracked and new files here) for hard-coded secrets.

    Put ``--`` before PATHS that may start with ``-`` (the pre-commit hook does).

    Detects Fernet keys, HS256 secrets (JWT_SECRETS maps, jwt_secrets.json, JWT secret
    names), AWS ARNs with an account id, AWS access key ids and secret keys, PEM private keys,
    PagerDuty routing keys and Slack webhook URLs. Exits 1 when anything is found.
    """
    if list_detectors:
        for detector in DETECTORS:
            click.echo(f"{detector.slug:24} {detector.name:24} {detector.summary}")
        return
    path = baseline_path or DEFAULT_BASELINE
    if init_baseline:
        _init_baseline(path)
        return
    baseline = Baseline() if no_baseline else load_baseline(path)
    if staged:
        report = scan_blobs(staged_blobs(), baseline=baseline, max_bytes=max_bytes)
    else:
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise ConfigError(
                f"no such file or directory: {', '.join(missing)}; check the paths to scan"
            )
        files = list_files(list(paths), use_git=not all_files)
        report = scan_files(files, baseline=baseline, jobs=jobs, max_bytes=max_bytes)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        _print_text(report, path)
    if report.findings:
        ctx.exit(1)


def _init_baseline(path: Path) -> None:
    from erp.scan.ds_config import write_baseline

    if path.exists():
        raise ConfigError(
            f"baseline {path} already exists; refresh it with "
            f"'detect-secrets scan --no-verify --baseline {path}'"
        )
    doc = write_baseline(path, Path.cwd())
    count = sum(len(v) for v in doc["results"].values())
    click.echo(
        f"wrote {path}: {_plural(count, 'finding')} to review ('detect-secrets audit {path}')"
    )
