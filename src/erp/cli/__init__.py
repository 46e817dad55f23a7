"""``erp-secrets``: a thin command-line shell over the ``erp`` library.

:func:`main` is the console script. ``erp-secrets --help`` (or ``-h``) on a terminal at least
80 columns wide (or not a terminal) prints the help text cached in :mod:`erp.cli._help`
without importing click, which alone costs more than the 100 ms that command may take; a
test pins the cache to what click renders. Everything else runs the click application in
:mod:`erp.cli.app`.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported at run time (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from erp.cli.app import cli

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the CLI, turning ``ErpError`` into one clear line and exit code 1."""
    args = sys.argv[1:] if argv is None else argv
    if args in (["--help"], ["-h"]):
        from erp.cli._help import cached_help

        text = cached_help()
        if text is not None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return 0  # what the click application returns after printing help
    from erp.cli.app import run

    return run(argv)


def __getattr__(name: str) -> Any:
    if name == "cli":  # the click group, for CliRunner and embedding
        from erp.cli.app import cli

        return cli
    raise AttributeError(f"module 'erp.cli' has no attribute {name!r}")
