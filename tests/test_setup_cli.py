"""The command line as a new user meets it: every option explained, `--help` cheap."""

from __future__ import annotations

import subprocess
import sys

import click

from erp.cli import cli

# Options still without help text, handed to their owners; none may be added.
_KNOWN_WITHOUT_HELP: set[str] = set()


def _options_without_help(command: click.Command, path: str) -> set[str]:
    missing = {
        f"{path} {option.opts[0]}"
        for option in command.params
        if isinstance(option, click.Option) and not option.help and not option.hidden
    }
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            missing |= _options_without_help(sub, f"{path} {name}")
    return missing


def test_every_option_has_help_text() -> None:
    """Each option of each erp-secrets command says what it does in --help."""
    assert _options_without_help(cli, "erp-secrets") <= _KNOWN_WITHOUT_HELP


def test_help_imports_no_command_module() -> None:
    """`erp-secrets --help` lists the commands without importing them (or boto3, rich)."""
    code = (
        "import sys\nfrom erp.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('erp.cli.', 'boto3', 'rich', 'sqlalchemy')\n"
        "loaded = [m for m in sys.modules if m.startswith(heavy)]\n"
        "print(sorted(loaded), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Commands" in done.stdout
    assert done.stderr.strip() == "[]"
