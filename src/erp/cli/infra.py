"""``erp-secrets infra``: lint the CloudFormation template and build the Lambda package.

``infra lint`` exits 0 when the template is clean (warnings are shown), 1 when cfn-lint or
the project's checks report an error (or a warning, with ``--strict``), 2 on bad usage.
"""

from __future__ import annotations

from pathlib import Path

import click

from erp.cli.common import print_json
from erp.infra.template import DEFAULT_TEMPLATE

__all__ = ["infra_group"]


@click.group("infra")
def infra_group() -> None:
    """Lint the CloudFormation template, build the Lambda package, serve the strict emulator."""


@infra_group.command("lint")
@click.argument(
    "template", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_TEMPLATE
)
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def lint_command(template: Path, strict: bool, as_json: bool) -> None:
    """Run cfn-lint and the project's checks (rotation rules, literal secrets, IAM)."""
    from erp.infra.checks import RULES
    from erp.infra.lint import TemplateInvalid, lint_template

    report = lint_template(template)
    if as_json:
        print_json(
            {
                "template": str(template),
                "ok": not report.failed(strict=strict),
                "problems": [p.__dict__ for p in report.problems],
            }
        )
    else:
        for problem in report.problems:
            click.echo(problem.describe())
    errors, warnings = len(report.errors), len(report.warnings)
    if report.failed(strict=strict):
        raise TemplateInvalid(
            f"{template}: {errors} error(s), {warnings} warning(s) from cfn-lint and the "
            "project's checks (listed above); fix them and run 'erp-secrets infra lint' again"
        )
    if not as_json:
        click.echo(
            f"{template}: ok (cfn-lint and {len(RULES)} project rules; {warnings} warning(s))"
        )


@infra_group.command("package")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("dist/erp-lambda.zip"),
    show_default=True,
    help="Where to write the zip (the template's Code points here).",
)
@click.option(
    "--s3-bucket", default=None, help="Also upload the zip and write a packaged template."
)
@click.option("--s3-prefix", default="", help="Key prefix for the upload.")
@click.option(
    "--template",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_TEMPLATE,
    show_default=True,
    help="CloudFormation template to package.",
)
@click.option(
    "--packaged-template",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("dist/template.packaged.json"),
    show_default=True,
    help="Where to write the template pointing at the uploaded zip.",
)
@click.option("--endpoint-url", default=None, help="S3 endpoint (an emulator).")
def package_command(
    output: Path,
    s3_bucket: str | None,
    s3_prefix: str,
    template: Path,
    packaged_template: Path,
    endpoint_url: str | None,
) -> None:
    """Build the Lambda zip (reproducible: same sources, same bytes)."""
    from erp._io import atomic_write_bytes
    from erp.infra.package import build_lambda_zip, package_template
    from erp.infra.template import dump_template, load_template

    package = build_lambda_zip(output)
    click.echo(
        f"wrote {package.path}: {package.size_bytes / 1024:.0f} KiB, "
        f"{len(package.entries)} files, sha256 {package.sha256}"
    )
    if not s3_bucket:
        return
    import boto3
    import botocore.exceptions as bce

    from erp.aws.client import translate_error

    try:
        s3 = boto3.client("s3", endpoint_url=endpoint_url)
        packaged = package_template(
            load_template(template), package, bucket=s3_bucket, s3_client=s3, prefix=s3_prefix
        )
    except (bce.BotoCoreError, bce.ClientError) as exc:  # no credentials, no bucket: one line
        raise translate_error(
            exc, what=f"uploading {package.path.name} to s3://{s3_bucket}", where="S3"
        ) from None
    packaged_template.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(
        packaged_template, dump_template(packaged).encode(), mode=0o644, what="packaged template"
    )
    key = f"{s3_prefix.strip('/')}/{package.s3_key}" if s3_prefix.strip("/") else package.s3_key
    click.echo(f"uploaded s3://{s3_bucket}/{key}; packaged template: {packaged_template}")
    click.echo(
        f"deploy: aws cloudformation deploy --template-file {packaged_template} "
        "--stack-name erp-secrets --capabilities CAPABILITY_IAM "
        "--parameter-overrides AlertSecretArn=<ARN of the secret holding the routing key>"
    )


@infra_group.command("emulator")
@click.option(
    "--upstream",
    required=True,
    help="URL of the AWS emulator to put the strict layer in front of (a moto server).",
)
@click.option(
    "--port", default=0, type=click.IntRange(0, 65535), help="Port on 127.0.0.1 (0: any free)."
)
@click.option(
    "--rotation-function",
    "function_arn",
    default=None,
    help="Function ARN whose RotateSecret runs the erp rotation Lambda in-process.",
)
def emulator_command(upstream: str, port: int, function_arn: str | None) -> None:
    """Serve the strict Secrets Manager layer (AWS's rules moto lacks) until interrupted."""
    import threading

    from erp.aws.client import AwsSettings, secretsmanager_client
    from erp.aws.strict import StrictSecretsManager

    # the region the clients will sign for (AWS_REGION): the layer keys secrets by it
    region = AwsSettings.from_env().region or "us-east-1"
    layer = StrictSecretsManager(upstream, region=region).start(port)
    if function_arn:
        from erp.aws.lambda_rotation import RotationHandler

        settings = AwsSettings.from_env().with_overrides(endpoint_url=layer.url)
        handler = RotationHandler(secretsmanager_client(settings), where=layer.url)
        layer.register_lambda(function_arn, handler.handle)
    click.echo(f"strict layer for {upstream} at {layer.url} (Ctrl-C stops it)")
    click.echo(f"  export AWS_ENDPOINT_URL={layer.url}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        layer.stop()
