"""get_secret and load_jwt_ring through AWS Secrets Manager; one clear error per bad setup."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import erp.secrets
import erp.security
from erp.aws.client import AwsSettings
from erp.aws.document import encode
from erp.aws.errors import (
    AwsConfigError,
    AwsCredentialsMissing,
    AwsSecretNotFound,
    SecretFormatError,
)
from erp.aws.source import AwsSecretSource
from erp.errors import ConfigError, SecretNotFound
from erp.keyring import KeyRing, generate_secret
from erp.secrets import SecretSource, get_secret, load_jwt_ring
from erp.testing import SecretSourceContract, Update
from erp.testing.aws import CallCounter

from .conftest import SECRET_NAME, stages_of


@pytest.fixture
def use_aws(monkeypatch: pytest.MonkeyPatch, aws_env: str) -> None:
    """erp.secrets configured for the AWS backend, as a deployment would be."""
    monkeypatch.setenv("ERP_AWS_SECRET_ID", SECRET_NAME)
    monkeypatch.setenv("ERP_AWS_MAX_ATTEMPTS", "1")
    erp.secrets.reset()


class TestAwsSecretSource(SecretSourceContract):
    """A Secrets Manager secret (its AWSCURRENT JSON object) as a secret source."""

    @pytest.fixture
    def source_and_update(self, sm: Any) -> tuple[SecretSource, Update]:
        sm.create_secret(Name=SECRET_NAME, SecretString="{}")
        doc: dict[str, str] = {}

        def update(name: str, value: str) -> None:
            doc[name] = value
            sm.put_secret_value(SecretId=SECRET_NAME, SecretString=encode(doc))

        source = AwsSecretSource(
            SECRET_NAME,
            client=sm,
            refresh_interval_seconds=3600,
            forced_refresh_min_interval_seconds=0,
        )
        return source, update


@pytest.mark.usefixtures("use_aws", "secret_arn")
def test_get_secret_reads_the_key_ring_names_from_aws(ring: KeyRing) -> None:
    """With ERP_AWS_SECRET_ID set, JWT_SECRET_ID and JWT_SECRETS come from the secret."""
    assert get_secret("JWT_SECRET_ID") == ring.active.id
    assert json.loads(get_secret("JWT_SECRETS")) == ring.secrets_map()
    assert load_jwt_ring() == ring


@pytest.mark.usefixtures("use_aws", "secret_arn")
def test_environment_still_wins_over_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """The order is environment, vault file, then AWS."""
    monkeypatch.setenv("JWT_SECRET_ID", "from-env")
    assert get_secret("JWT_SECRET_ID") == "from-env"


@pytest.mark.usefixtures("use_aws", "secret_arn")
def test_tokens_issue_and_verify_through_the_aws_backend(ring: KeyRing) -> None:
    """issue_token signs with AWSCURRENT's active key and verify_token accepts it."""
    token = erp.security.issue_token({"sub": "alice"})
    assert erp.security.verify_token(token)["sub"] == "alice"
    assert ring.active.id in repr(erp.security.default_token_service().ring())


def test_boto3_is_imported_only_when_the_aws_backend_is_used(tmp_path: Path) -> None:
    """Importing erp.secrets and the AWS source, or resolving from env/vault, loads no boto3."""
    code = (
        "import sys, os\n"
        "os.environ['TOKEN_X'] = 'x'\n"
        "import erp.secrets, erp.aws.source, erp.aws.rotation, erp.aws.driver\n"
        "erp.secrets.get_secret('TOKEN_X')\n"
        "src = erp.aws.source.AwsSecretSource.from_env('s', environ={'AWS_REGION': 'us-east-1'})\n"
        "print('boto3' in sys.modules, 'botocore' in sys.modules)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "ERP_VAULT_FILE": str(tmp_path / "none.json")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.usefixtures("use_aws")
def test_malformed_json_in_the_secret_is_one_clear_error_and_nothing_is_written(
    sm: Any,
) -> None:
    """get_secret names the secret and says the JSON is broken; the secret is untouched."""
    sm.create_secret(Name=SECRET_NAME, SecretString='{"JWT_SECRETS": {')
    before = stages_of(sm, SECRET_NAME)
    with pytest.raises(SecretFormatError, match=r"not valid JSON .*erp-secrets aws push"):
        get_secret("JWT_SECRET_ID")
    assert stages_of(sm, SECRET_NAME) == before


@pytest.mark.usefixtures("use_aws")
def test_a_secret_without_the_ring_is_one_clear_error(sm: Any) -> None:
    """A secret holding other names: JWT_SECRETS is reported missing, naming the AWS secret."""
    sm.create_secret(Name=SECRET_NAME, SecretString=json.dumps({"OTHER": generate_secret()}))
    with pytest.raises(SecretNotFound, match=f"AWS Secrets Manager secret '{SECRET_NAME}'"):
        load_jwt_ring()
    source = AwsSecretSource(SECRET_NAME, client=sm)
    with pytest.raises(SecretFormatError, match="holds no JWT key ring"):
        source.jwt_ring()


@pytest.mark.usefixtures("use_aws")
def test_a_ring_missing_its_active_id_is_one_clear_error(sm: Any) -> None:
    """JWT_SECRETS without JWT_SECRET_ID is refused with the fix named."""
    doc = {"JWT_SECRETS": {"k1": generate_secret()}}
    sm.create_secret(Name=SECRET_NAME, SecretString=json.dumps(doc))
    with pytest.raises(SecretFormatError, match="JWT_SECRET_ID is not"):
        get_secret("JWT_SECRET_ID")


@pytest.mark.usefixtures("use_aws", "secret_arn")
def test_the_wrong_region_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret looked up in another region is reported not found there, with the region."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    erp.secrets.reset()
    with pytest.raises(AwsSecretNotFound, match="region eu-west-1"):
        get_secret("JWT_SECRET_ID")


def test_an_arn_from_another_region_is_refused_before_any_call(
    sm: Any, secret_arn: str, counter: CallCounter, settings: AwsSettings
) -> None:
    """The ARN's region must match the client's; no request is sent otherwise."""
    elsewhere = AwsSettings(region="eu-west-1", endpoint_url=settings.endpoint_url)
    source = AwsSecretSource(secret_arn, settings=elsewhere)
    with pytest.raises(AwsConfigError, match="AWS_REGION=us-east-1"):
        source.lookup("JWT_SECRET_ID")
    assert counter.total == 0


@pytest.mark.usefixtures("use_aws", "secret_arn")
def test_missing_credentials_are_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No key, profile or role: the error says how to provide credentials."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    erp.secrets.reset()
    with pytest.raises(AwsCredentialsMissing, match="AWS_ACCESS_KEY_ID"):
        get_secret("JWT_SECRET_ID")


def test_no_region_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without a region the source refuses before any request, naming AWS_REGION."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    source = AwsSecretSource.from_env(SECRET_NAME, environ={})
    with pytest.raises(AwsConfigError, match="AWS_REGION"):
        source.lookup("JWT_SECRET_ID")


def test_a_bad_refresh_setting_is_one_clear_error() -> None:
    """ERP_AWS_REFRESH_SECONDS must be a number of seconds."""
    with pytest.raises(ConfigError, match="ERP_AWS_REFRESH_SECONDS"):
        AwsSecretSource.from_env(SECRET_NAME, environ={"ERP_AWS_REFRESH_SECONDS": "soon"})


def test_describe_names_the_secret_and_region_never_a_value(
    sm: Any, secret_arn: str, ring: KeyRing, no_secret_in: Callable[..., None]
) -> None:
    """describe() and repr() identify the source without showing anything it holds."""
    source = AwsSecretSource(SECRET_NAME, settings=AwsSettings(region="us-east-1"), client=sm)
    source.lookup("JWT_SECRETS")
    assert SECRET_NAME in source.describe()
    assert "us-east-1" in source.describe()
    texts = [source.describe(), repr(source), repr(source.cache), repr(source.version())]
    texts += [repr(source.cache.snapshot()), repr(source.jwt_ring())]
    no_secret_in("\n".join(texts), ring)
