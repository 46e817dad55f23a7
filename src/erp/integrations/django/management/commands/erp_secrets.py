"""``manage.py erp_secrets ...``: the ``erp-secrets`` CLI, told this project's database and
encrypted columns.

``manage.py erp_secrets fernet reencrypt`` is ``erp-secrets fernet reencrypt --db <DATABASES
default> --column <every encrypted field's column>``; ``verify`` and ``retire`` likewise.
Every other command (``jwt rotate``, ``fernet rotate``, ``fernet status``...) passes through
unchanged, and options given explicitly win.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from erp.integrations.django.discovery import database_url, encrypted_columns

_NEEDS_COLUMNS = {"reencrypt", "verify"}
_NEEDS_DB = {"reencrypt", "verify", "retire", "status"}


def _given(argv: list[str], *options: str) -> bool:
    return any(a == o or a.startswith(o + "=") for a in argv for o in options)


def complete_argv(argv: list[str], alias: str = "default") -> list[str]:
    """``argv`` with ``--db`` and ``--column`` added where the project implies them."""
    if len(argv) < 2 or argv[0] != "fernet" or argv[1] not in _NEEDS_DB:
        return argv
    extra: list[str] = []
    if not _given(argv, "--db"):
        extra += ["--db", database_url(alias)]
    wants_columns = argv[1] in _NEEDS_COLUMNS or (argv[1] == "retire" and "--verify" in argv)
    if wants_columns and not _given(argv, "--column", "--config", "--metadata"):
        for table, column in encrypted_columns():
            extra += ["--column", f"{table}.{column}"]
    return [*argv[:2], *extra, *argv[2:]]


class Command(BaseCommand):
    help = (
        "Run erp-secrets; 'fernet reencrypt|verify|retire|status' get this project's "
        "database and encrypted columns. Example: manage.py erp_secrets fernet reencrypt"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default="default", help="DATABASES alias to use.")
        parser.add_argument("argv", nargs=argparse.REMAINDER, help="erp-secrets arguments")

    def handle(self, *args: Any, **options: Any) -> None:
        from erp.cli import main

        argv = complete_argv(list(options["argv"]), options["database"])
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
            if code:
                raise CommandError(
                    f"erp-secrets {' '.join(argv[:2])} exited with status {code}", returncode=code
                ) from None
