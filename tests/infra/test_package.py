"""The Lambda package: small, reproducible, complete, uploadable like `cloudformation package`."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from erp.cli import main
from erp.infra.package import LambdaPackage, build_lambda_zip, package_template

MAX_BYTES = 1_000_000


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> LambdaPackage:
    """One build, shared by the read-only tests of this module."""
    return build_lambda_zip(tmp_path_factory.mktemp("dist") / "erp-lambda.zip")


def test_two_builds_are_byte_identical(package: LambdaPackage, tmp_path: Path) -> None:
    """Same sources, same bytes: the SHA-256 (and the S3 key) are stable."""
    again = build_lambda_zip(tmp_path / "again.zip")
    assert again.sha256 == package.sha256
    assert again.path.read_bytes() == package.path.read_bytes()


def test_package_is_small_sorted_and_normalised(package: LambdaPackage) -> None:
    """Under 1 MB; entries sorted, dated 1980-01-01, mode 0644, no bytecode."""
    assert package.size_bytes < MAX_BYTES
    with zipfile.ZipFile(package.path) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n]


def test_package_holds_the_handlers_and_their_dependencies_only(package: LambdaPackage) -> None:
    """The handlers, PyJWT and filelock are in; boto3 and the CLI are not."""
    names = set(package.entries)
    assert {
        "erp/alerts/lambda_check.py",
        "erp/alerts/lambda_notify.py",
        "erp/aws/rotation.py",
        "jwt/__init__.py",
        "filelock/__init__.py",
    } <= names
    assert not [n for n in names if n.startswith(("boto3/", "botocore/", "erp/cli/", "erp/infra/"))]


def test_handlers_import_from_the_zip_alone(package: LambdaPackage, tmp_path: Path) -> None:
    """With only the zip and the standard library (python -S) the handlers import."""
    with zipfile.ZipFile(package.path) as archive:
        archive.extractall(tmp_path / "task")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import erp.alerts.lambda_check, erp.alerts.lambda_notify, erp.aws.rotation, jwt;"
        "import erp.aws.lambda_rotation;"
        "from erp.aws.schedule import parse_schedule_expression as p;"
        "assert p('rate(30 days)').interval.days == 30;"
        "outside = sorted({m.__file__ for m in list(sys.modules.values())"
        "  if getattr(m, '__file__', None) and 'site-packages' in m.__file__});"
        "print(outside)"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", code, str(tmp_path / "task")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_cli_package_reports_size_and_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``erp-secrets infra package --output`` writes the zip and prints its SHA-256."""
    out = tmp_path / "erp-lambda.zip"
    main(["infra", "package", "--output", str(out)])
    text = capsys.readouterr().out
    assert out.is_file()
    assert f"sha256 {build_lambda_zip(tmp_path / 'x.zip').sha256}" in text


def test_package_template_uploads_and_rewrites_code(
    aws_env: str, package: LambdaPackage, good_template: dict[str, Any]
) -> None:
    """Like 'cloudformation package': upload under the hash, point every Code at it."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=aws_env)
    s3.create_bucket(Bucket="artifacts")
    packaged = package_template(
        good_template, package, bucket="artifacts", s3_client=s3, prefix="erp"
    )
    key = f"erp/{package.s3_key}"
    codes = [
        r["Properties"]["Code"]
        for r in packaged["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    ]
    assert codes == [{"S3Bucket": "artifacts", "S3Key": key}] * 3
    body = s3.get_object(Bucket="artifacts", Key=key)["Body"].read()
    assert body == package.path.read_bytes()
    assert packaged["Metadata"]["cfn-lint"]["config"]["ignore_checks"] == []
    assert good_template["Resources"]["CheckFunction"]["Properties"]["Code"] == (
        "../dist/erp-lambda.zip"
    )  # the input is not modified
    json.dumps(packaged)  # plain data, ready for TemplateBody


def test_packaging_without_aws_credentials_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The zip is written; the upload that cannot sign says so, without a traceback."""
    from erp.testing import run_cli

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # no credentials cached by others
    result = run_cli(
        "infra",
        "package",
        "--s3-bucket",
        "my-artifacts",
        "--output",
        str(tmp_path / "lambda.zip"),
        "--packaged-template",
        str(tmp_path / "packaged.yaml"),
    )
    assert result.code != 0
    assert "no usable AWS credentials" in result.err
    assert "Traceback" not in result.err
    assert (tmp_path / "lambda.zip").exists()
    assert not (tmp_path / "packaged.yaml").exists()
