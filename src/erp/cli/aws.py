"""``erp-secrets aws``: push the JWT key ring to Secrets Manager, show it, rehearse a rotation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from erp.aws.client import AwsSettings, secretsmanager_client
from erp.cli.common import open_vault, print_json, vault_option
from erp.jwt.keyring import RotationPolicy

__all__ = ["aws_group"]

F = TypeVar("F", bound=Callable[..., Any])


def aws_options(func: F) -> F:
    """``--secret-id``, ``--region``, ``--endpoint-url``, ``--profile``."""
    for option in reversed(
        [
            click.option(
                "--secret-id",
                envvar="ERP_AWS_SECRET_ID",
                required=True,
                help="Secret name or ARN (default: $ERP_AWS_SECRET_ID).",
            ),
            click.option("--region", default=None, help="AWS region (default: $AWS_REGION)."),
            click.option(
                "--endpoint-url",
                default=None,
                help="Secrets Manager endpoint, e.g. a local emulator (default: boto3's "
                "AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL or AWS config).",
            ),
            click.option("--profile", default=None, help="AWS profile (default: $AWS_PROFILE)."),
        ]
    ):
        func = option(func)
    return func


def _client(
    secret_id: str, region: str | None, endpoint: str | None, profile: str | None
) -> tuple[Any, AwsSettings]:
    settings = AwsSettings.from_env().with_overrides(
        region=region, endpoint_url=endpoint, profile=profile
    )
    return secretsmanager_client(settings, secret_id), settings


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


@click.group("aws")
def aws_group() -> None:
    """AWS Secrets Manager: push the key ring, show its versions, rehearse a rotation."""


@aws_group.command("push")
@aws_options
@vault_option
@click.option("--create", is_flag=True, help="Create the secret if it does not exist.")
@click.option("--force", is_flag=True, help="Push even while a rotation is in progress.")
@click.option("--description", default=None, help="Description of a newly created secret.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def push_command(
    secret_id: str,
    region: str | None,
    endpoint_url: str | None,
    profile: str | None,
    vault_path: Path | None,
    create: bool,
    force: bool,
    description: str | None,
    as_json: bool,
) -> None:
    """Store the vault file's key ring as the secret's AWSCURRENT version."""
    from erp.aws.admin import push_ring
    from erp.jwt.rotation import load_ring

    vault = open_vault(vault_path)
    ring = load_ring(vault)
    client, settings = _client(secret_id, region, endpoint_url, profile)
    result = push_ring(
        client,
        secret_id,
        ring,
        create=create,
        force=force,
        description=description,
        where=settings.where(),
    )
    if as_json:
        print_json({**result.as_dict(), "vault": str(vault.path)})
        return
    if result.unchanged:
        click.echo(f"{result.arn}: AWSCURRENT already holds this key ring; nothing written")
        return
    verb = "created" if result.created else "updated"
    click.echo(f"{verb} {result.arn}: version {result.version_id} is AWSCURRENT")
    for key in result.keys:
        click.echo(f"  {key.state:8} {key.alg:6} {key.id} ({key.fingerprint})")
    click.echo(f"JWT_SECRET_ID={result.active}")


@aws_group.command("status")
@aws_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status_command(
    secret_id: str,
    region: str | None,
    endpoint_url: str | None,
    profile: str | None,
    as_json: bool,
) -> None:
    """Show the secret's rotation settings, versions, stages and key ids."""
    from erp.aws.admin import secret_status

    client, settings = _client(secret_id, region, endpoint_url, profile)
    status = secret_status(client, secret_id, where=settings.where())
    if as_json:
        print_json(status.as_dict())
        return
    click.echo(f"secret:   {status.arn}")
    rules = ", ".join(f"{k}={v}" for k, v in status.rotation_rules.items()) or "-"
    state = "enabled" if status.rotation_enabled else "disabled"
    click.echo(
        f"rotation: {state} ({rules}); last {_when(status.last_rotated)}, "
        f"next {_when(status.next_rotation)}"
    )
    if status.rotation_in_progress:
        click.echo("rotation in progress: AWSPENDING is on a version that is not AWSCURRENT")
    for version in status.versions:
        stages = ",".join(version.stages) or "-"
        click.echo(f"\n{version.version_id}  [{stages}]  created {_when(version.created)}")
        if version.note:
            click.echo(f"  {version.note}")
        if version.derived_from:
            click.echo(f"  rotated from {version.derived_from}")
        for key in version.keys:
            marker = "*" if key.id == version.active else " "
            click.echo(f"  {marker} {key.state:8} {key.alg:6} {key.id} ({key.fingerprint})")


@aws_group.command("rotate")
@aws_options
@click.option(
    "--driver",
    "driver_mode",
    type=click.Choice(["auto", "service", "local"]),
    default="auto",
    show_default=True,
    help="service: RotateSecret, AWS runs the Lambda; local: run the steps here (emulator "
    "endpoints only); auto: local for a 127.0.0.1/localhost endpoint, else service.",
)
@click.option(
    "--policy",
    "mode",
    type=click.Choice(["immediate", "staged"]),
    default=None,
    help="Override $ERP_JWT_POLICY for this rotation (local driver).",
)
@click.option(
    "--attempts",
    default=3,
    show_default=True,
    type=click.IntRange(1, 10),
    help="Attempts of the whole rotation before giving up (local driver).",
)
@click.option(
    "--retry-delay",
    "retry_delay_seconds",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0, 600),
    help="Seconds before the first retry (doubles; local driver).",
)
@click.option("--resume", is_flag=True, help="Reattempt an unfinished rotation (local driver).")
@click.option(
    "--timeout",
    "timeout_seconds",
    default=900.0,
    show_default=True,
    type=click.FloatRange(1, 86400),
    help="Seconds to wait for AWS to finish the rotation (service).",
)
@click.option(
    "--event-bus",
    envvar="ERP_AWS_EVENT_BUS",
    default=None,
    help="EventBridge bus for Rotation* events (default: $ERP_AWS_EVENT_BUS; local driver).",
)
@click.option(
    "--event-source",
    default="erp.rotation",
    show_default=True,
    help="Source of the events sent to the bus.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def rotate_command(
    secret_id: str,
    region: str | None,
    endpoint_url: str | None,
    profile: str | None,
    driver_mode: str,
    mode: str | None,
    attempts: int,
    retry_delay_seconds: float,
    resume: bool,
    timeout_seconds: float,
    event_bus: str | None,
    event_source: str,
    as_json: bool,
) -> None:
    """Rotate the key ring: RotateSecret on AWS, or the four steps here against an emulator."""
    from erp.aws.client import endpoint_of, is_loopback

    client, settings = _client(secret_id, region, endpoint_url, profile)
    endpoint = endpoint_of(client)
    local = driver_mode == "local" or (driver_mode == "auto" and is_loopback(endpoint))
    if not local:
        _rotate_with_service(client, secret_id, settings, timeout_seconds, as_json)
        return
    if not is_loopback(endpoint):
        raise click.UsageError(
            f"--driver local runs only against an emulator on this machine, not {endpoint}; "
            "on AWS, Secrets Manager runs the rotation (--driver service)"
        )
    from erp._retry import Backoff
    from erp.aws.client import events_client
    from erp.aws.driver import LocalRotationDriver

    driver = LocalRotationDriver(
        client,
        policy=RotationPolicy.from_env().with_mode(mode),
        max_attempts=attempts,
        backoff=Backoff(base_seconds=retry_delay_seconds, max_seconds=max(retry_delay_seconds, 60)),
        events_client=events_client(settings) if event_bus else None,
        event_bus=event_bus,
        event_source=event_source,
        where=settings.where(),
    )
    outcome = driver.rotate(secret_id, resume=resume)
    if as_json:
        print_json(outcome.as_dict())
    else:
        for event in outcome.events:
            extra = f" at {event.step}: {event.error}" if event.error else ""
            click.echo(f"{event.name} (attempt {event.attempt}){extra}")
        for step in outcome.steps:
            detail = f" {step.key_id} ({step.key_fingerprint})" if step.key_id else ""
            click.echo(f"  {step.step}: {step.outcome}{detail}")
        if outcome.undelivered_events:
            click.echo(
                f"warning: {outcome.undelivered_events} event(s) not delivered to {event_bus}",
                err=True,
            )
    outcome.raise_for_failure()


def _rotate_with_service(
    client: Any, secret_id: str, settings: AwsSettings, timeout_seconds: float, as_json: bool
) -> None:
    from erp.aws.watch import rotate_with_service

    report = rotate_with_service(
        client,
        secret_id,
        where=settings.where(),
        timeout_seconds=timeout_seconds,
        on_step=(lambda _step: None) if as_json else (lambda step: click.echo(f"  {step}")),
    )
    if as_json:
        print_json(report.as_dict())
    else:
        click.echo(f"RotationSucceeded: version {report.token} is AWSCURRENT")
