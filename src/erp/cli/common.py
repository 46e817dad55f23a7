"""Options and output helpers shared by the sub-commands."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from erp.store.audit import AuditLog, default_log_path
from erp.store.vault import VaultFile, default_vault_path

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["humanize", "log_option", "open_log", "open_vault", "print_json", "vault_option"]


def vault_option(func: F) -> F:
    return click.option(
        "--vault",
        "vault_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Vault file (default: $ERP_VAULT_FILE or ./jwt_secrets.json).",
    )(func)


def log_option(func: F) -> F:
    return click.option(
        "--log",
        "log_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Rotation log (default: $ERP_ROTATION_LOG or ./logs/jwt_rotation.log).",
    )(func)


def open_vault(path: Path | None) -> VaultFile:
    return VaultFile(path if path is not None else default_vault_path())


def open_log(path: Path | None) -> AuditLog:
    return AuditLog(path if path is not None else default_log_path())


def print_json(value: Any) -> None:
    """``value`` as indented JSON on stdout (dataclasses and TypedDicts alike)."""
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def humanize(delta: timedelta) -> str:
    """``3d 4h``, ``12m``, ``45s``: the two largest units of a duration."""
    seconds = int(abs(delta.total_seconds()))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        if len(parts) == 2:
            break
    text = " ".join(parts)
    return f"-{text}" if delta.total_seconds() < 0 else text


def when(moment: datetime | None, now: datetime) -> str:
    """``in 3d 4h`` or ``12m ago`` relative to ``now``; ``-`` for no time."""
    if moment is None:
        return "-"
    delta = moment - now
    return f"in {humanize(delta)}" if delta.total_seconds() > 0 else f"{humanize(-delta)} ago"
