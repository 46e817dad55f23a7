"""The strict layer: each AWS rule moto does not keep fails on plain moto and holds behind it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from erp.aws.document import encode, ring_document
from erp.aws.lambda_rotation import RotationHandler
from erp.aws.source import AwsSecretSource
from erp.aws.strict import StrictSecretsManager
from erp.clock import FrozenClock
from erp.jwt.keyring import KeyRing, RotationPolicy

from .conftest import SECRET_NAME, label, make_ring, stages_of, start_rotation

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:erp-rotation"
PLAIN = pytest.param(
    False, marks=pytest.mark.xfail(strict=True, reason="plain moto diverges from AWS"), id="moto"
)
MODES = [PLAIN, pytest.param(True, id="strict")]


@pytest.fixture(params=MODES)
def strict(
    request: pytest.FixtureRequest, strict_layer: StrictSecretsManager, sm: Any
) -> Iterator[bool]:
    """Runs the test against plain moto (expected to fail) and behind the strict layer."""
    strict_layer.strict = bool(request.param)
    try:
        yield strict_layer.strict
    finally:
        strict_layer.strict = True


class Recorder:
    """A rotation function: the real handler, recording the steps it is invoked for."""

    def __init__(self, handler: RotationHandler) -> None:
        self.handler = handler
        self.steps: list[str] = []

    def __call__(self, event: Mapping[str, Any]) -> object:
        self.steps.append(str(event["Step"]))
        return self.handler.handle(event)


@pytest.fixture
def function(strict_layer: StrictSecretsManager, sm: Any, clock: FrozenClock) -> Recorder:
    """The real rotation handler, registered with the layer under FUNCTION."""
    recorder = Recorder(RotationHandler(sm, policy=RotationPolicy(), clock=clock))
    strict_layer.register_lambda(FUNCTION, recorder)
    return recorder


def _error(excinfo: pytest.ExceptionInfo[Exception]) -> tuple[str, str]:
    error = getattr(excinfo.value, "response", {}).get("Error", {})
    return str(error.get("Code")), str(error.get("Message"))


@pytest.mark.usefixtures("strict")
def test_a_version_value_is_immutable(sm: Any, secret_arn: str) -> None:
    """Same token, other value: ResourceExistsException; same value: a no-op (moto overwrites)."""
    from botocore.exceptions import ClientError

    token = str(uuid.uuid4())

    def put(value: str) -> None:
        sm.put_secret_value(
            SecretId=secret_arn,
            ClientRequestToken=token,
            SecretString=value,
            VersionStages=["AWSPENDING"],
        )

    put('{"a":1}')
    put('{"a":1}')
    with pytest.raises(ClientError) as caught:
        put('{"a":2}')
    assert _error(caught)[0] == "ResourceExistsException"
    assert sm.get_secret_value(SecretId=secret_arn, VersionId=token)["SecretString"] == '{"a":1}'


@pytest.mark.usefixtures("strict")
def test_a_rotation_starts_with_an_empty_pending_version(sm: Any, secret_arn: str) -> None:
    """The pending version exists, has no value (ResourceNotFound), and takes one value once."""
    from botocore.exceptions import ClientError

    token = str(uuid.uuid4())
    start_rotation(sm, secret_arn, token)
    assert stages_of(sm, secret_arn)[token] == ["AWSPENDING"]
    with pytest.raises(ClientError) as caught:
        sm.get_secret_value(SecretId=secret_arn, VersionId=token, VersionStage="AWSPENDING")
    assert _error(caught)[0] == "ResourceNotFoundException"
    sm.put_secret_value(
        SecretId=secret_arn,
        ClientRequestToken=token,
        SecretString="{}",
        VersionStages=["AWSPENDING"],
    )
    assert sm.get_secret_value(SecretId=secret_arn, VersionId=token)["SecretString"] == "{}"


@pytest.mark.usefixtures("strict", "function")
def test_rotate_secret_refuses_while_pending_is_on_another_version(
    sm: Any, secret_arn: str
) -> None:
    """AWSPENDING left on a non-current version: 'A previous rotation isn't complete'."""
    from botocore.exceptions import ClientError

    sm.put_secret_value(
        SecretId=secret_arn,
        ClientRequestToken=str(uuid.uuid4()),
        SecretString="{}",
        VersionStages=["AWSPENDING"],
    )
    with pytest.raises(ClientError) as caught:
        sm.rotate_secret(SecretId=secret_arn, RotationLambdaARN=FUNCTION)
    code, message = _error(caught)
    assert (code, "previous rotation" in message.lower()) == ("InvalidRequestException", True)


@pytest.mark.usefixtures("strict")
def test_rotate_immediately_false_runs_only_test_secret(
    sm: Any, secret_arn: str, function: Recorder
) -> None:
    """The test-only path: testSecret alone, on a temporary AWSPENDING that is then removed."""
    current = label(sm, secret_arn, "AWSCURRENT")
    sm.rotate_secret(SecretId=secret_arn, RotationLambdaARN=FUNCTION, RotateImmediately=False)
    assert function.steps == ["testSecret"]
    assert label(sm, secret_arn, "AWSPENDING") is None
    assert label(sm, secret_arn, "AWSCURRENT") == current


@pytest.mark.usefixtures("strict")
def test_a_manual_write_during_a_rotation_removes_its_pending_label(
    sm: Any, secret_arn: str, clock: FrozenClock
) -> None:
    """Secrets Manager abandons the rotation: the pending version loses AWSPENDING."""
    token = str(uuid.uuid4())
    sm.put_secret_value(
        SecretId=secret_arn,
        ClientRequestToken=token,
        SecretString="{}",
        VersionStages=["AWSPENDING"],
    )
    sm.put_secret_value(SecretId=secret_arn, SecretString=encode(ring_document(make_ring(clock()))))
    assert label(sm, secret_arn, "AWSPENDING") is None


@pytest.mark.usefixtures("strict")
def test_a_read_without_a_stage_reads_awscurrent(sm: Any, secret_arn: str) -> None:
    """After a label move, GetSecretValue(SecretId) answers with the new AWSCURRENT."""
    token = str(uuid.uuid4())
    sm.put_secret_value(
        SecretId=secret_arn,
        ClientRequestToken=token,
        SecretString="{}",
        VersionStages=["AWSPENDING"],
    )
    old = label(sm, secret_arn, "AWSCURRENT")
    sm.update_secret_version_stage(
        SecretId=secret_arn,
        VersionStage="AWSCURRENT",
        MoveToVersionId=token,
        RemoveFromVersionId=old,
    )
    assert sm.get_secret_value(SecretId=secret_arn)["VersionId"] == token


def test_rotate_secret_runs_the_lambda_and_cleans_pending_up(
    sm: Any, secret_arn: str, function: Recorder, ring: KeyRing, strict_layer: StrictSecretsManager
) -> None:
    """RotateSecret: four steps, one new key and version, no AWSPENDING, rotation enabled."""
    before = len(stages_of(sm, secret_arn))
    token = sm.rotate_secret(SecretId=secret_arn, RotationLambdaARN=FUNCTION)["VersionId"]
    assert function.steps == ["createSecret", "setSecret", "testSecret", "finishSecret"]
    assert stages_of(sm, secret_arn)[token] == ["AWSCURRENT"]
    assert len(stages_of(sm, secret_arn)) == before + 1
    meta = sm.describe_secret(SecretId=secret_arn)
    assert (meta["RotationEnabled"], meta["RotationLambdaARN"]) == (True, FUNCTION)
    assert "LastRotatedDate" in meta
    assert [e["name"] for e in strict_layer.events] == ["RotationStarted", "RotationSucceeded"]


@pytest.mark.parametrize("copy", [False, True], ids=["empty", "copy"])
def test_the_test_only_path_passes_for_a_healthy_secret(
    sm: Any, secret_arn: str, function: Recorder, strict_layer: StrictSecretsManager, copy: bool
) -> None:
    """RotateImmediately=false on a good ring: TestRotationSucceeded, so nothing pages."""
    strict_layer.test_copy = copy
    sm.rotate_secret(SecretId=secret_arn, RotationLambdaARN=FUNCTION, RotateImmediately=False)
    assert [e["name"] for e in strict_layer.events] == [
        "TestRotationStarted",
        "TestRotationSucceeded",
    ]


def test_the_test_only_path_fails_precisely_for_a_broken_secret(
    sm: Any, function: Recorder, strict_layer: StrictSecretsManager
) -> None:
    """A secret holding no key ring: TestRotationFailed naming what is missing."""
    sm.create_secret(Name=SECRET_NAME, SecretString='{"OTHER": "x"}')
    sm.rotate_secret(SecretId=SECRET_NAME, RotationLambdaARN=FUNCTION, RotateImmediately=False)
    assert [e["name"] for e in strict_layer.events][-1] == "TestRotationFailed"
    assert label(sm, SECRET_NAME, "AWSPENDING") is None


def test_the_notifier_resolves_and_never_pages_on_test_rotation_succeeded() -> None:
    """TestRotationSucceeded (the test path's expected outcome) only resolves; it opens nothing."""
    from erp.alerts.events import FAILURE_EVENTS, RESOLVING_EVENTS

    assert "TestRotationSucceeded" not in FAILURE_EVENTS
    assert "TestRotationSucceeded" in RESOLVING_EVENTS


def test_the_emulator_command_serves_the_strict_layer(moto_endpoint: str, aws_env: str) -> None:
    """erp-secrets infra emulator prints its URL and enforces the rules until stopped."""
    import subprocess
    import sys

    import boto3
    from botocore.exceptions import ClientError

    server = subprocess.Popen(
        [sys.executable, "-m", "erp.cli", "infra", "emulator", "--upstream", moto_endpoint],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split(" at ", 1)[1].split()[0]
        sm = boto3.client("secretsmanager", endpoint_url=url, region_name="us-east-1")
        sm.create_secret(Name="emulated", SecretString="{}")
        token = str(uuid.uuid4())
        sm.put_secret_value(
            SecretId="emulated", ClientRequestToken=token, VersionStages=["AWSPENDING"]
        )
        with pytest.raises(ClientError):
            sm.get_secret_value(SecretId="emulated", VersionId=token, VersionStage="AWSPENDING")
    finally:
        server.terminate()
        server.communicate(timeout=30)


@pytest.mark.parametrize("step", ["createSecret", "setSecret", "testSecret", "finishSecret"])
def test_a_step_failing_on_every_retry_on_aws_leaves_nothing_pending_and_the_next_one_works(
    sm: Any, secret_arn: str, clock: FrozenClock, strict_layer: StrictSecretsManager, step: str
) -> None:
    """RotateSecret with one step failing every time: AWSCURRENT kept, no AWSPENDING left."""
    from erp.aws.errors import RotationTestFailed

    handler = RotationHandler(sm, policy=RotationPolicy(), clock=clock)
    method = {"createSecret": "_create", "setSecret": "_set", "testSecret": "_test"}.get(
        step, "_finish"
    )
    failing = {"on": True}

    def broken(*_args: Any) -> dict[str, Any]:
        raise RotationTestFailed(f"injected failure in {step}")

    def function(event: Mapping[str, Any]) -> object:
        if event["Step"] == step and failing["on"]:
            setattr(handler, method, broken)
            try:
                return handler.handle(event)
            finally:
                delattr(handler, method)
        return handler.handle(event)

    strict_layer.register_lambda(FUNCTION, function)
    current = label(sm, secret_arn, "AWSCURRENT")
    source = AwsSecretSource(SECRET_NAME, client=sm)
    sm.rotate_secret(SecretId=secret_arn, RotationLambdaARN=FUNCTION)
    assert [e["name"] for e in strict_layer.events][-1] == "RotationFailed"
    assert label(sm, secret_arn, "AWSCURRENT") == current
    assert label(sm, secret_arn, "AWSPENDING") is None
    assert source.signing_ring() == AwsSecretSource(SECRET_NAME, client=sm).signing_ring()
    failing["on"] = False
    token = sm.rotate_secret(SecretId=secret_arn, RotationLambdaARN=FUNCTION)["VersionId"]
    assert label(sm, secret_arn, "AWSCURRENT") == token
    assert [e["name"] for e in strict_layer.events][-1] == "RotationSucceeded"


def test_the_old_handler_path_is_the_same_lambda() -> None:
    """Templates deployed with erp.aws.rotation.lambda_handler keep working after the rename."""
    from erp.aws import lambda_rotation, rotation

    assert rotation.lambda_handler is lambda_rotation.lambda_handler


def test_the_first_deploys_test_rotation_passes_before_the_first_push(
    sm: Any, function: Recorder, strict_layer: StrictSecretsManager
) -> None:
    """The template's bootstrap placeholder: the test-only path succeeds, so nobody is paged."""
    bootstrap = '{"_erp": {"placeholder": true}, "bootstrap": "generated-by-cloudformation"}'
    sm.create_secret(Name=SECRET_NAME, SecretString=bootstrap)
    sm.rotate_secret(SecretId=SECRET_NAME, RotationLambdaARN=FUNCTION, RotateImmediately=False)
    assert [e["name"] for e in strict_layer.events][-1] == "TestRotationSucceeded"
    assert label(sm, SECRET_NAME, "AWSPENDING") is None
