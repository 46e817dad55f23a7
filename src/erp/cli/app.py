"""The ``erp-secrets`` click application (imported by :func:`erp.cli.main` when needed).

Sub-commands are imported only when invoked, so ``erp-secrets jwt rotate`` never pays for
boto3, SQLAlchemy or detect-secrets.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from erp.errors import ErpError

__all__ = ["cli", "run"]

_COMMANDS: dict[str, tuple[str, str]] = {
    "jwt": ("erp.cli.jwt", "jwt_group"),
    "audit": ("erp.cli.audit", "audit_group"),
    "fernet": ("erp.cli.fernet", "fernet_group"),
    "aws": ("erp.cli.aws", "aws_group"),
    "check": ("erp.cli.check", "check_command"),
    "scan": ("erp.cli.scan", "scan_command"),
    "infra": ("erp.cli.infra", "infra_group"),
}

_HELP = {
    "jwt": "Rotate, stage, promote and prune JWT signing keys.",
    "audit": "Verify or repair the hash-chained rotation log.",
    "fernet": "Generate and rotate Fernet keys; re-encrypt and verify stored data.",
    "aws": "AWS Secrets Manager: push a key ring, show versions, rehearse a rotation.",
    "check": "Report keys and secrets due or overdue for rotation; notify on-call.",
    "scan": "Scan files for hard-coded secrets and AWS ARNs.",
    "infra": "Lint the CloudFormation template and build the Lambda package.",
}


class LazyGroup(click.Group):
    """A group whose sub-commands live in modules imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module = importlib.import_module(target[0])
        command = getattr(module, target[1])
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, _HELP[name]) for name in sorted(_COMMANDS)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="erp-secrets")
def cli() -> None:
    """Secrets and key rotation for the ERP platform."""


INTERRUPTED = (
    "interrupted: nothing is half-written (the vault and the log are replaced whole; a "
    "re-encryption keeps the batches it committed); run the command again to finish or resume"
)


def run(argv: list[str] | None = None) -> Any:
    """Run the CLI, turning ``ErpError`` into one clear line and exit code 1."""
    try:
        return cli.main(args=argv, prog_name="erp-secrets", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        click.echo(INTERRUPTED, err=True)
        sys.exit(130)  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C
    except ErpError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except ModuleNotFoundError as exc:
        from erp._extras import MissingExtra, extra_for

        extra = extra_for(exc.name or "")
        if extra is None:
            raise
        click.echo(f"error: {MissingExtra((exc.name or '').partition('.')[0], extra)}", err=True)
        sys.exit(1)
