"""``erp-secrets audit``: verify or repair the hash-chained rotation log."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TypedDict

import click

from erp.cli.common import log_option, open_log, open_vault, print_json, vault_option
from erp.store.journal import repair_log
from erp.store.vault import META_KEY


class VerifyJson(TypedDict):
    """What ``erp-secrets audit verify --json`` prints."""

    log: str
    ok: bool
    entries: int
    problems: list[str]
    incomplete: int | None


__all__ = ["audit_group"]


def _entries(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"


@click.group("audit")
def audit_group() -> None:
    """Verify or repair the hash-chained rotation log."""


@audit_group.command("verify")
@log_option
@vault_option
@click.option(
    "--log-only",
    is_flag=True,
    help="Check the log's own chain without its vault (entries cut from the end then go "
    "unnoticed: the vault's record of the newest entry is what catches them).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def verify_command(
    log_path: Path | None, vault_path: Path | None, log_only: bool, as_json: bool
) -> None:
    """Check every entry's hash and link; exit 1 naming each edited, missing or cut line."""
    log, vault = open_log(log_path), open_vault(vault_path)
    head = (vault.read().get(META_KEY) or {}).get("audit") if vault.exists() else None
    report = log.verify(head)
    if head is None and report.entries and not log_only:
        # a vault path typed wrong (or run from another folder) must not pass a cut log
        where = "does not exist" if not vault.exists() else "records no rotation"
        report.problems.append(
            f"the vault {vault.path} {where}, so the end of the log cannot be checked "
            "against it: check --vault or ERP_VAULT_FILE (a relative path is taken from "
            f"{Path.cwd()}), or pass --log-only to check the chain alone"
        )
    if as_json:
        out: VerifyJson = {
            "log": str(log.path),
            "ok": report.ok,
            "entries": report.entries,
            "problems": report.problems,
            "incomplete": report.incomplete,
        }
        print_json(out)
    elif report.ok:
        anchored = " and matches the vault" if head else ""
        click.echo(f"{log.path}: {_entries(report.entries)}, chain intact{anchored}")
    else:
        click.echo(f"{log.path}: {len(report.problems)} problem(s) in {_entries(report.entries)}:")
        for problem in report.problems:
            click.echo(f"  - {problem}")
    if not report.ok:
        sys.exit(1)


@audit_group.command("repair")
@log_option
@vault_option
def repair_command(log_path: Path | None, vault_path: Path | None) -> None:
    """Complete an entry a killed rotation committed but did not append; nothing else."""
    log, vault = open_log(log_path), open_vault(vault_path)
    repair_log(vault, log)
    report = log.verify((vault.read().get(META_KEY) or {}).get("audit"))
    verdict = "intact" if report.ok else "still broken"
    click.echo(f"{log.path}: {_entries(report.entries)}, {verdict}")
    if not report.ok:
        sys.exit(1)
