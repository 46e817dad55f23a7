"""``erp-secrets jwt``: the runbook's JWT key rotation, staging and cleanup."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, TypedDict

import click

from erp.cli.common import log_option, open_log, open_vault, print_json, vault_option, when
from erp.clock import system_clock
from erp.jwt import rotation
from erp.jwt.codec import ring_from_document
from erp.jwt.keyring import KEY_ALGORITHMS, KeyRef, KeyState, RotationPolicy
from erp.scripting import describe
from erp.store.journal import Recorded

__all__ = ["jwt_group"]


class StatusJson(TypedDict):
    """What ``erp-secrets jwt status --json`` prints."""

    vault: str
    policy: str
    keys: list[rotation.KeyStatusJson]


@click.group("jwt")
def jwt_group() -> None:
    """Rotate, stage, promote and prune JWT signing keys."""


def _report(result: Recorded, vault: Path, log: Path) -> None:
    click.echo("\n".join(describe(result, vault, log)))


_alg_option = click.option(
    "--alg",
    type=click.Choice(KEY_ALGORITHMS),
    default=None,
    help="Algorithm of the new key (default: $ERP_JWT_ALG or HS256); bound to the key for life.",
)


@jwt_group.command("rotate")
@vault_option
@log_option
@click.option(
    "--policy",
    "mode",
    type=click.Choice(["immediate", "staged"]),
    default=None,
    help="Override $ERP_JWT_POLICY for this rotation.",
)
@_alg_option
def rotate_command(
    vault_path: Path | None, log_path: Path | None, mode: str | None, alg: str | None
) -> None:
    """Append a new random key and make it the signing key (JWT_SECRET_ID)."""
    vault, log = open_vault(vault_path), open_log(log_path)
    result = rotation.rotate_key(
        vault=vault, log=log, policy=RotationPolicy.from_env().with_mode(mode).with_alg(alg)
    )
    _report(result, vault.path, log.path)


@jwt_group.command("stage")
@vault_option
@log_option
@_alg_option
def stage_command(vault_path: Path | None, log_path: Path | None, alg: str | None) -> None:
    """Add the next key as verify-only, to be promoted once every instance has it."""
    vault, log = open_vault(vault_path), open_log(log_path)
    result = rotation.stage_key(
        vault=vault, log=log, policy=RotationPolicy.from_env().with_alg(alg)
    )
    _report(result, vault.path, log.path)


@jwt_group.command("promote")
@vault_option
@log_option
def promote_command(vault_path: Path | None, log_path: Path | None) -> None:
    """Make the staged key the signing key (after the minimum staging period)."""
    vault, log = open_vault(vault_path), open_log(log_path)
    result = rotation.promote_key(vault=vault, log=log)
    _report(result, vault.path, log.path)


@jwt_group.command("prune")
@vault_option
@log_option
@click.option("--dry-run", is_flag=True, help="Show what would be removed; change nothing.")
@click.option(
    "--reveal-secrets",
    is_flag=True,
    help="Print the new JWT_SECRETS value (secret material!) for env-var deployments.",
)
def prune_command(
    vault_path: Path | None, log_path: Path | None, dry_run: bool, reveal_secrets: bool
) -> None:
    """Remove retiring keys once every token they signed has expired."""
    vault, log = open_vault(vault_path), open_log(log_path)
    policy = RotationPolicy.from_env()
    now = system_clock()
    ring = rotation.load_ring(vault)
    for row in rotation.status(ring, policy):
        if row.state is not KeyState.RETIRING:
            continue
        verdict = "remove" if row.may_go(now) else "keep"
        detail = (
            "retirement time unknown; it starts at the next write"
            if row.prunable_at is None
            else f"may go {when(row.prunable_at, now)}"
        )
        click.echo(f"{verdict:6} {row.id} ({row.fingerprint}): {detail}")
    if dry_run:
        click.echo("dry run: nothing changed")
        return
    result = rotation.prune_keys(vault=vault, log=log, policy=policy)
    removed: list[KeyRef] = (result.event or {}).get("removed") or []
    if not removed:
        click.echo("nothing to prune")
        return
    click.echo(f"removed {len(removed)} key(s); log entry {(result.entry or {}).get('seq')}")
    ring = ring_from_document(result.document, str(vault.path))
    ids = ", ".join(ring.secrets_map())
    if reveal_secrets:
        click.echo("JWT_SECRETS=" + json.dumps(ring.secrets_map(), separators=(",", ":")))
    else:
        click.echo(
            f"JWT_SECRETS now holds {len(ring)} key(s): {ids}. Update env-var deployments "
            "with the value from the vault file (or rerun with --reveal-secrets)."
        )
    click.echo(f"JWT_SECRET_ID={ring.active.id}")


@jwt_group.command("status")
@vault_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status_command(vault_path: Path | None, as_json: bool) -> None:
    """Show every key, its state, age and when it may be pruned."""
    vault = open_vault(vault_path)
    policy = RotationPolicy.from_env()
    now = system_clock()
    ring = rotation.load_ring(vault)
    rows = rotation.status(ring, policy)
    if as_json:
        report: StatusJson = {
            "vault": str(vault.path),
            "policy": policy.mode,
            "keys": [r.to_json() for r in rows],
        }
        print_json(report)
        return
    if not rows:
        click.echo(f"{vault.path}: no keys (run 'erp-secrets jwt rotate')")
        return
    title = f"JWT keys in {vault.path} (policy: {policy.mode})"
    header = ("key id", "state", "alg", "fingerprint", "age", "may be pruned")
    table_rows = [
        (
            r.id,
            r.state.value,
            r.alg,
            r.fingerprint,
            when(r.created_at, now) if r.created_at else "-",
            "-"
            if r.state is not KeyState.RETIRING
            else ("unknown" if r.prunable_at is None else when(r.prunable_at, now)),
        )
        for r in rows
    ]
    console = _rich_console()
    if console is None:
        # Piped, or no [rich]: one key a line, columns aligned, ids and fingerprints whole.
        widths = [max(len(row[i]) for row in [header, *table_rows]) for i in range(len(header))]
        click.echo(title)
        for row in [header, *table_rows]:
            click.echo(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
        return
    from rich.table import Table

    table = Table(title=title)
    for column in header:
        whole = column in ("key id", "fingerprint")  # ids must stay whole: never split or "…"
        table.add_column(column, no_wrap=whole, overflow="fold")
    for row in table_rows:
        table.add_row(*row)
    console.print(table)


def _rich_console() -> Any:
    """A rich console for a terminal, or ``None`` when piped or rich is not installed."""
    import sys

    if not sys.stdout.isatty():
        return None
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console()


@jwt_group.command("jwks")
@vault_option
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the JWK Set to this file (atomically, mode 0644) instead of printing it.",
)
def jwks_command(vault_path: Path | None, out_path: Path | None) -> None:
    """Print (or write) the public JWK Set: every key pair that may verify, never a secret."""
    from erp._io import atomic_write_bytes
    from erp.jwt.jwks import jwk_set

    vault = open_vault(vault_path)
    document = jwk_set(rotation.load_ring(vault))
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if out_path is None:
        click.echo(text, nl=False)
        return
    # public keys for static hosting: readable by the web server, so 0644 whatever was there;
    # its folder made as the vault's is (`--out public/jwks.json` on a fresh checkout)
    with contextlib.suppress(OSError):  # if it cannot be made, the write below says why
        out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(
        out_path, text.encode(), mode=0o644, what="JWK Set file", keep_existing_mode=False
    )
    click.echo(f"wrote {len(document['keys'])} public key(s) to {out_path}")
