"""``erp-secrets fernet``: the runbook's Fernet key rotation, with verified re-encryption.

generate -> rotate -> (redeploy) -> reencrypt -> verify -> retire; ``status`` at any time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from erp.cli.common import log_option, open_log, open_vault, print_json, vault_option
from erp.fernet.errors import ColumnsError

if TYPE_CHECKING:
    from erp.fernet.rotation import KeyStatus

__all__ = ["fernet_group"]

F = TypeVar("F", bound=Callable[..., Any])

EXIT_UNREADABLE = 3
"""``reencrypt`` finished every batch, but some rows open with no key (they are listed)."""


@click.group("fernet")
def fernet_group() -> None:
    """Generate and rotate Fernet keys; re-encrypt and verify stored data."""


def _ring(vault_path: Path | None) -> Any:
    from erp.fernet.keys import load_fernet_ring
    from erp.secrets import SecretResolver

    resolver = SecretResolver.from_config(vault_path) if vault_path is not None else None
    return load_fernet_ring(resolver)


def _django_settings(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    # the discovery lives with the Django adapter (erp.integrations), imported only when asked
    if value:
        from erp.integrations.django.discovery import columns_from_django_settings

        ctx.meta["erp.django_columns"] = columns_from_django_settings(value)


def _columns_options(func: F) -> F:
    func = click.option(
        "--django-settings",
        default=None,
        expose_value=False,
        callback=_django_settings,
        help="A Django settings module (e.g. mysite.settings); every EncryptedTextField and "
        "EncryptedJSONField column of its installed apps is included.",
    )(func)
    func = click.option(
        "--metadata",
        "metadata",
        multiple=True,
        help="The application's SQLAlchemy metadata, module:attribute (a MetaData, Table or "
        "declarative base); every EncryptedType column is included.",
    )(func)
    func = click.option(
        "--config",
        "config",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="YAML or JSON file with 'columns: [table.column, ...]'.",
    )(func)
    func = click.option(
        "--column",
        "columns",
        multiple=True,
        help="An encrypted column, table.column or schema.table.column (repeatable).",
    )(func)
    return func


def _collect_columns(
    columns: tuple[str, ...], config: Path | None, metadata: tuple[str, ...]
) -> list[tuple[str, str]]:
    from erp.fernet.reencrypt.targets import (
        columns_from_config,
        columns_from_metadata,
        parse_column,
    )

    found = [parse_column(c) for c in columns]
    if config is not None:
        found += columns_from_config(config)
    for spec in metadata:
        found += columns_from_metadata(spec)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        found += ctx.meta.get("erp.django_columns", [])
    if not found:
        raise ColumnsError(
            "name the encrypted columns: --column table.column (repeatable), --config FILE, "
            "or --metadata module:attribute"
        )
    return found


def _db_option(multiple: bool = False) -> Callable[[F], F]:
    option: Callable[[F], F] = click.option(
        "--db",
        "db",
        required=True,
        multiple=multiple,
        envvar=None if multiple else "ERP_DATABASE_URL",
        help="Database: sqlite:///path.db, a SQLite file path, or postgresql://user@host/db"
        + ("" if multiple else " (default: $ERP_DATABASE_URL)")
        + (" (repeatable)" if multiple else "")
        + ".",
    )
    return option


@fernet_group.command("generate")
def generate_command() -> None:
    """Print a new random Fernet key (what the runbook's python -c one-liner prints)."""
    from cryptography.fernet import Fernet

    click.echo(Fernet.generate_key().decode())


@fernet_group.command("rotate")
@vault_option
@log_option
@click.option(
    "--key-stdin",
    is_flag=True,
    help="Read the new key from standard input (e.g. one made by 'fernet generate').",
)
def rotate_command(vault_path: Path | None, log_path: Path | None, key_stdin: bool) -> None:
    """Add a new primary FERNET_KEY to the vault; the old key stays, for reading only."""
    from erp.fernet.rotation import rotate_fernet_key

    new_key = sys.stdin.readline().strip() if key_stdin else None
    vault, log = open_vault(vault_path), open_log(log_path)
    result = rotate_fernet_key(vault=vault, log=log, new_key=new_key)
    event = result.change
    assert event is not None  # a rotation always changes the vault
    click.echo(f"FERNET_KEY is now {event.new} in {vault.path}")
    if event.previous:
        click.echo(f"previous key {event.previous} now only decrypts")
    if event.adopted_from_environment:
        click.echo(
            f"kept the key from the FERNET_KEY environment variable "
            f"({event.adopted_from_environment}) for reading"
        )
    click.echo(f"FERNET_FALLBACK_KEYS: {len(event.fallbacks)} key(s), newest first")
    click.echo(f"log: {log.path} (entry {(result.entry or {}).get('seq')})")
    for name in ("FERNET_KEY", "FERNET_FALLBACK_KEYS"):
        if os.environ.get(name):
            click.echo(
                f"warning: {name} is set in the environment and overrides the vault; "
                "update or unset it before redeploying",
                err=True,
            )
    if not event.fallbacks:
        # No earlier key in the vault or the environment: nothing can be encrypted under one.
        click.echo(
            "nothing to re-encrypt: this is the first Fernet key; next: deploy services "
            "so they load it"
        )
        return
    click.echo(
        "next: redeploy services so they load the new key, then run "
        "'erp-secrets fernet reencrypt --db URL ...'"
    )


@fernet_group.command("reencrypt")
@_db_option()
@_columns_options
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes (on PostgreSQL, also run this on other machines).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1_000_000),
    default=None,
    help="Rows per checkpointed range (default: 1000); a transaction carries as many ranges "
    "as about 0.25 s of crypto (see ERP_FERNET_MAX_BATCH_ROWS).",
)
@click.option(
    "--progress",
    "progress_mode",
    type=click.Choice(["auto", "bar", "plain", "none"]),
    default="auto",
    show_default=True,
    help="auto: a bar on a terminal, plain lines otherwise (CI logs).",
)
@click.option(
    "--progress-interval",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds between plain progress lines (0: one per batch).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@vault_option
@log_option
def reencrypt_command(
    db: str,
    columns: tuple[str, ...],
    config: Path | None,
    metadata: tuple[str, ...],
    workers: int,
    batch_size: int | None,
    progress_mode: str,
    progress_interval: float,
    as_json: bool,
    vault_path: Path | None,
    log_path: Path | None,
) -> None:
    """Re-encrypt every encrypted column under the primary key; resumes where it stopped.

    Exit status 0 when every value is under the primary key, 3 when rows that no key
    opens were found (listed, left untouched), 1 on errors.
    """
    from erp.fernet.reencrypt.progress import make_reporter
    from erp.fernet.reencrypt.runner import reencrypt

    ring = _ring(vault_path)
    found = _collect_columns(columns, config, metadata)
    reporter = make_reporter(progress_mode, interval_seconds=progress_interval)
    report = reencrypt(
        db,
        found,
        ring,
        workers=workers,
        batch_size=batch_size,
        reporter=reporter,
        vault=open_vault(vault_path),
        log=open_log(log_path),
    )
    if as_json:
        summary = report.summary()
        summary["unreadable"] = [{"column": c, "pk": pk} for c, pk in report.unreadable]
        print_json(summary)
    else:
        for run in report.columns:
            t, r = run.totals, run.this_run
            click.echo(
                f"{run.column}: {r.rows:,} rows this run ({r.rotated:,} rewritten); pass "
                f"{run.job_id}: {t.rotated:,} rewritten, {t.current:,} already current, "
                f"{t.nulls:,} null, {t.retried:,} retried after a concurrent write, "
                f"{t.unreadable_total:,} unreadable"
            )
        click.echo(
            f"{report.rows_this_run:,} rows in {report.elapsed_seconds:.1f} s "
            f"({report.rows_per_second:,.0f} rows/s, {report.workers} worker(s)); "
            f"outcome: {report.outcome()}"
        )
        for column, pk in report.unreadable:
            click.echo(
                f"unreadable: {column} pk={pk}: no configured key opens it (or its timestamp "
                "lies in the future); left as is"
            )
        if report.unreadable_total > len(report.unreadable):
            click.echo(f"... {report.unreadable_total - len(report.unreadable)} more")
        if report.ok:
            click.echo("next: 'erp-secrets fernet verify --db ...', then 'fernet retire'")
    if not report.ok:
        sys.exit(EXIT_UNREADABLE if report.finished else 1)


@fernet_group.command("verify")
@_db_option()
@_columns_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--progress",
    "progress_mode",
    type=click.Choice(["auto", "bar", "plain", "none"]),
    default="none",
    show_default=True,
    help="auto: a bar on a terminal, plain lines otherwise; none: only the report.",
)
@vault_option
@log_option
def verify_command(
    db: str,
    columns: tuple[str, ...],
    config: Path | None,
    metadata: tuple[str, ...],
    as_json: bool,
    progress_mode: str,
    vault_path: Path | None,
    log_path: Path | None,
) -> None:
    """Prove every value opens with the primary key alone; record the proof for retire.

    Exit status 1 naming the rows still under an old key (or under no key).
    """
    from erp.fernet.reencrypt.progress import make_reporter
    from erp.fernet.reencrypt.retire import verify_and_record

    ring = _ring(vault_path)
    found = _collect_columns(columns, config, metadata)
    report = verify_and_record(
        db,
        found,
        ring,
        vault=open_vault(vault_path),
        log=open_log(log_path),
        reporter=make_reporter(progress_mode),
    )
    if as_json:
        record = report.record()
        record["failing"] = [
            {"column": c, "pk": pk, "opens_with": fp} for c, pk, fp in report.failing
        ]
        print_json(record)
    else:
        for check in report.columns:
            old = ", ".join(f"{n} under {fp}" for fp, n in check.old.items()) or "none"
            click.echo(
                f"{check.column}: {check.rows:,} rows, {check.primary:,} open with the primary "
                f"key alone, {check.nulls:,} null; old keys: {old}; "
                f"unreadable: {check.unreadable:,}"
            )
        # a screenful, not a flood (a verify before any reencrypt fails on every row)
        for column, pk, fp in report.failing[:_SHOWN_ROWS]:
            what = f"still under old key {fp}" if fp else "opens with no configured key"
            click.echo(f"not verified: {column} pk={pk}: {what}")
        if report.failing_total > _SHOWN_ROWS:
            click.echo(
                f"... {report.failing_total - _SHOWN_ROWS:,} more (--json lists "
                f"{len(report.failing):,}); run 'erp-secrets fernet reencrypt' to move them"
            )
        verdict = "verified" if report.ok else "NOT verified"
        click.echo(f"{report.db}: {verdict} with primary {report.primary} (digest {report.digest})")
    if not report.ok:
        sys.exit(1)


_SHOWN_ROWS = 20


@fernet_group.command("retire")
@_db_option(multiple=True)
@click.option(
    "--verify",
    "verify_first",
    is_flag=True,
    help="Verify each database first (same columns as its last verify pass).",
)
@_columns_options
@vault_option
@log_option
def retire_command(
    db: tuple[str, ...],
    verify_first: bool,
    columns: tuple[str, ...],
    config: Path | None,
    metadata: tuple[str, ...],
    vault_path: Path | None,
    log_path: Path | None,
) -> None:
    """Remove the old keys from the vault, only after a verify pass on the same data."""
    from erp.fernet.reencrypt.retire import retire

    ring = _ring(vault_path) if verify_first else None
    found = _collect_columns(columns, config, metadata) if (columns or config or metadata) else None
    vault, log = open_vault(vault_path), open_log(log_path)
    result = retire(list(db), vault=vault, log=log, verify_with=ring, columns=found)
    event = result.change
    if event is None:
        click.echo(f"{vault.path}: no old Fernet keys to retire")
        return
    seq = (result.entry or {}).get("seq")
    click.echo(f"retired {len(event.retired)} key(s): {', '.join(event.retired)}")
    click.echo(f"FERNET_KEY {event.primary} is now the only key; log entry {seq}")
    if os.environ.get("FERNET_FALLBACK_KEYS"):
        click.echo(
            "warning: FERNET_FALLBACK_KEYS is set in the environment: remove it there too", err=True
        )


def _key_line(key: KeyStatus) -> str:
    """One ``status`` line: where a key in effect comes from, or when a key was retired."""
    if key.role == "retired":
        record = key.record
        retired_at = record.retired_at if record is not None else None
        used = f"  (in use since {key.since})" if key.since != "-" else ""
        return (
            f"{key.role:9} {key.fingerprint}  removed from the vault "
            f"{'at ' + retired_at if retired_at else '(time not recorded)'}{used}"
        )
    return f"{key.role:9} {key.fingerprint}  from {key.source}  since {key.since}"


def _run_working(ref: Any, conn: Any) -> bool:
    """Whether some ``fernet reencrypt`` is working on ``ref`` now (SQLite: its run lock is
    held; PostgreSQL: another session holds locks on the checkpoint table)."""
    if ref.kind == "sqlite":
        from erp.fernet.reencrypt.claims import sqlite_run_active

        return sqlite_run_active(ref.path)
    from erp.fernet.reencrypt.jobs import BATCHES

    cur = conn.cursor()
    cur.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = to_regclass(%s) "
        "AND pid <> pg_backend_pid())",
        (BATCHES,),
    )
    row = cur.fetchone()
    conn.rollback()
    return bool(row and row[0])


@fernet_group.command("status")
@vault_option
@click.option("--db", "db", default=None, help="Also show the re-encryption passes in this DB.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status_command(vault_path: Path | None, db: str | None, as_json: bool) -> None:
    """Show the keys (fingerprints, where they come from), the last verify passes and, with
    --db, the re-encryption passes recorded in that database."""
    from erp.fernet.rotation import fernet_status

    status = fernet_status(open_vault(vault_path))
    working = True
    if db is not None:
        from erp.fernet.reencrypt.jobs import passes_overview
        from erp.fernet.reencrypt.targets import DatabaseRef

        ref = DatabaseRef.parse(db)
        conn = ref.connect_readonly()
        try:
            status.passes = passes_overview(conn)
            working = _run_working(ref, conn)
        finally:
            conn.close()
    if as_json:
        print_json(status.as_dict())
        return
    if not status.keys:
        click.echo("no Fernet key configured: run 'erp-secrets fernet rotate'")
    for key in status.keys:
        click.echo(_key_line(key))
    for record in status.verified:
        verdict = "ok" if record.ok else f"{record.failing_total} failing"
        click.echo(f"verified {record.db} at {record.time} with {record.primary}: {verdict}")
    for row in status.passes or []:
        progress = (
            f"{row.batches_done}/{row.batches} batches done"
            if row.state == "running"
            else f"finished {row.finished or '-'}"
        )
        state = row.state
        if state == "running" and not working:  # killed or interrupted: nobody works on it
            state = "stopped (rerun 'erp-secrets fernet reencrypt' to resume)"
        click.echo(
            f"pass {row.pass_id} towards {row.target}: {state}, {progress}, "
            f"{row.rows:,} rows planned, started {row.started}"
        )
    for note in status.notes:
        click.echo(f"note: {note}")
