"""The top-level ``erp-secrets --help`` text, cached so that printing it needs no click.

``HELP`` is what click renders for ``erp-secrets --help`` at 80 columns or more (click caps
help at 80). ``tests/test_setup_cli.py`` checks it against click on every run; after changing
the commands or their one-line help, run ``python -m erp.cli._help`` to rewrite it.
"""

from __future__ import annotations

import os
import sys

__all__ = ["HELP", "cached_help", "render"]

_WIDTH = 80  # click formats help at min(terminal columns, 80): the same text from 80 up

HELP = """\
Usage: erp-secrets [OPTIONS] COMMAND [ARGS]...

  Secrets and key rotation for the ERP platform.

Options:
  --version   Show the version and exit.
  -h, --help  Show this message and exit.

Commands:
  audit   Verify or repair the hash-chained rotation log.
  aws     AWS Secrets Manager: push a key ring, show versions, rehearse a
          rotation.
  check   Report keys and secrets due or overdue for rotation; notify on-call.
  fernet  Generate and rotate Fernet keys; re-encrypt and verify stored data.
  infra   Lint the CloudFormation template and build the Lambda package.
  jwt     Rotate, stage, promote and prune JWT signing keys.
  scan    Scan files for hard-coded secrets and AWS ARNs.
"""


def _columns() -> int:
    # shutil.get_terminal_size()'s rule (what click asks), without importing shutil
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else _WIDTH


def cached_help() -> str | None:
    """``HELP`` when click would print exactly it (80 columns or more), else ``None``."""
    return HELP if _columns() >= _WIDTH else None


def render() -> str:
    """What click prints for ``erp-secrets --help`` at 80 columns (imports click)."""
    from click.testing import CliRunner

    from erp.cli.app import cli

    result = CliRunner(env={"COLUMNS": str(_WIDTH)}).invoke(
        cli, ["--help"], prog_name="erp-secrets"
    )
    return result.output


if __name__ == "__main__":  # rewrite HELP from click's rendering
    path = os.path.abspath(__file__)
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    start = source.index("HELP = ")
    end = source.index("\n\n\ndef _columns")
    text = render()
    if '"""' in text or "\\" in text:
        raise SystemExit("the help text needs quoting: write HELP by hand")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(source[:start] + 'HELP = """\\\n' + text + '"""' + source[end:])
    print(f"rewrote {path}")
