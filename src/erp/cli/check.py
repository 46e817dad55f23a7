"""``erp-secrets check``: what is due or overdue for rotation, for people and for monitoring.

Exit status (for cron jobs, Nagios-style checks, CI):

====  ==========================================================================
0     nothing needs attention (informational findings at most)
1     the check could not run (bad configuration; the message says what to fix)
2     bad command-line usage
3     warning: a rotation is due within ``--due-within-days``, or a hygiene
      finding (a retired key left in the ring, a staged key never promoted)
4     critical: a rotation is overdue or failed, a source could not be read, or
      a vault file is readable by others
5     ``--notify`` could not deliver every alert after its retries (wins over 3/4)
====  ==========================================================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from erp._extras import MissingExtra, require
from erp.alerts.check import CheckConfig, exit_code, run_check
from erp.alerts.delivery import DeliveryResult
from erp.alerts.findings import Report, Severity
from erp.cli.common import log_option, print_json, vault_option, when
from erp.clock import system_clock, to_iso
from erp.errors import ConfigError

__all__ = ["check_command"]

_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.ERROR: "red",
    Severity.WARNING: "yellow",
    Severity.INFO: "cyan",
}


def _notify(report: Report, state_path: Path | None) -> list[DeliveryResult]:
    from erp.alerts.config import AlertSettings
    from erp.alerts.router import AlertRouter, AlertState

    settings = AlertSettings.from_env()
    if not settings.configured:
        raise ConfigError(
            "--notify was given but no alert destination is configured: set the secret "
            "ERP_PAGERDUTY_ROUTING_KEY and/or ERP_SLACK_WEBHOOK_URL (environment variable "
            "or vault file entry)"
        )
    router = AlertRouter(
        settings.notifiers(), state=AlertState(state_path), min_severity=settings.min_severity
    )
    return router.process(report)


def _rows(report: Report) -> list[tuple[Severity, str, str, str, str]]:
    """The findings, most severe first: severity, subject, condition, due, what to do."""
    now = report.checked_at
    order = sorted(report.findings, key=lambda f: (-f.severity.rank, f.subject.id))
    return [
        (f.severity, f.subject.name, f.condition.value, when(f.due_at, now), f.summary)
        for f in order
    ]


def _footer(report: Report, deliveries: list[DeliveryResult]) -> list[str]:
    """The lines after the findings: subjects without findings, nothing to check, deliveries."""
    now = report.checked_at
    flagged = {f.subject.id for f in report.findings}
    lines = []
    for subject in report.subjects:
        if subject.id not in flagged:
            due = f", next due {when(subject.due_at, now)}" if subject.due_at else ""
            lines.append(f"ok  {subject.name}{due}")
    if not report.subjects:
        lines.append(
            "nothing to check: no vault file found and no AWS secret configured "
            "(exit 3: set ERP_VAULT_FILE to an absolute path or name --aws-secret)"
        )
    lines += [("sent " if r.ok else "FAILED ") + r.describe() for r in deliveries]
    return lines


def _plain(report: Report, deliveries: list[DeliveryResult]) -> None:
    """The table's content as plain lines, for a core install without the [rich] extra."""
    if report.findings:
        click.echo(f"Rotation check at {to_iso(report.checked_at)}")
        for severity, subject, condition, due, summary in _rows(report):
            click.echo(f"{severity.value:8}  {subject}  {condition}  due {due}: {summary}")
    for line in _footer(report, deliveries):
        click.echo(line)


def _table(report: Report, deliveries: list[DeliveryResult]) -> None:
    try:
        require("rich")
    except MissingExtra:
        # rich is optional: the check still has to report (cron mails, CI logs) without it.
        _plain(report, deliveries)
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if report.findings:
        table = Table(title=f"Rotation check at {to_iso(report.checked_at)}")
        for column in ("severity", "subject", "condition", "due", "what to do"):
            table.add_column(column)
        for severity, *cells in _rows(report):
            table.add_row(f"[{_STYLE[severity]}]{severity.value}[/]", *map(escape, cells))
        console.print(table)
    for line in _footer(report, deliveries):
        console.print(line, highlight=False, markup=False)


@click.command("check")
@vault_option
@log_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (= --format json).")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "openmetrics"]),
    default="table",
    help="Output: a table, JSON, or OpenMetrics text for node_exporter's textfile collector.",
)
@click.option(
    "--due-within-days",
    type=click.FloatRange(min=0),
    default=None,
    help="Report rotations due within this many days (default $ERP_CHECK_DUE_WITHIN_DAYS or 7).",
)
@click.option(
    "--aws-secret",
    "aws_secrets",
    multiple=True,
    help="AWS secret name or ARN to check (repeatable; default $ERP_CHECK_AWS_SECRET_IDS).",
)
@click.option("--no-aws", is_flag=True, help="Check only the local key rings.")
@click.option("--notify", is_flag=True, help="Send new and cleared findings to PagerDuty/Slack.")
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Open-alert state for --notify (default $ERP_ALERT_STATE_FILE or logs/alert_state.json).",
)
@click.pass_context
def check_command(
    ctx: click.Context,
    vault_path: Path | None,
    log_path: Path | None,
    as_json: bool,
    output_format: str,
    due_within_days: float | None,
    aws_secrets: tuple[str, ...],
    no_aws: bool,
    notify: bool,
    state_path: Path | None,
) -> None:
    """Report keys and secrets due or overdue for rotation; exit 0/3/4/5 (see docs/alerts.md)."""
    config = CheckConfig.from_env(
        vault_paths=[vault_path] if vault_path is not None else None,
        aws_secret_ids=list(aws_secrets) if aws_secrets else None,
        log_path=log_path,
        due_within_days=due_within_days,
        include_aws=not no_aws,
    )
    report = run_check(config, clock=system_clock)
    deliveries = _notify(report, state_path) if notify else []
    code = exit_code(report, deliveries)
    if output_format == "openmetrics":
        from erp.alerts.metrics import collect, render_openmetrics

        policy = config.local.policy
        families = collect(
            report,
            exit_status=code,
            vault_paths=config.vault_paths,
            log_path=config.log_path,
            max_token_ttl_seconds=policy.max_token_ttl.total_seconds(),
            leeway_seconds=policy.leeway.total_seconds(),
        )
        click.echo(render_openmetrics(families), nl=False)
    elif as_json or output_format == "json":
        out: dict[str, Any] = {
            **report.to_dict(),
            "status": {0: "ok", 3: "warning", 4: "critical", 5: "not-delivered"}[code],
            "exit_code": code,
        }
        if notify:
            out["notifications"] = [d.to_dict() for d in deliveries]
        print_json(out)
    else:
        _table(report, deliveries)
    ctx.exit(code)
