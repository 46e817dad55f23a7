"""Against the strict layer: untrusted AWSPENDING, repeated steps, overlapping rotations, KMS."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from erp.aws.client import AwsSettings, secretsmanager_client, translate_error
from erp.aws.document import encode, ring_document
from erp.aws.driver import LocalRotationDriver
from erp.aws.errors import AwsAccessDenied, RotationInProgress
from erp.aws.lambda_rotation import STEPS, RotationHandler
from erp.aws.source import AwsSecretSource
from erp.aws.strict import StrictSecretsManager
from erp.clock import FrozenClock
from erp.errors import InvalidToken
from erp.jwt.keyring import Key, KeyRing, KeyState, RotationPolicy, generate_secret, rotate
from erp.security import TokenService

from .conftest import SECRET_NAME, MonotonicClock, client_error, label, stages_of

POLICY = RotationPolicy()


def _pending(sm: Any, arn: str, ring: KeyRing, derived_from: str | None) -> None:
    """A version labelled AWSPENDING by hand, as anyone with PutSecretValue can."""
    sm.put_secret_value(
        SecretId=arn,
        ClientRequestToken=str(uuid.uuid4()),
        SecretString=encode(ring_document(ring, derived_from=derived_from)),
        VersionStages=["AWSPENDING"],
    )


def _bad_successors(current: KeyRing, clock: FrozenClock) -> dict[str, KeyRing]:
    """Pending rings no rotation makes from ``current``: each must never verify."""
    good = rotate(current, clock(), POLICY).ring
    two_new = rotate(good, clock(), POLICY).ring
    new = next(k for k in good.keys if k.id not in current)
    changed = KeyRing(
        tuple(k.replace(secret=generate_secret()) if k.id != new.id else k for k in good.keys)
    )
    dropped = KeyRing((new,))
    unrelated = rotate(KeyRing(), clock(), POLICY).ring
    revived = KeyRing(
        tuple(k.replace(state=KeyState.STAGED) if k.id != new.id else k for k in good.keys)
    )
    return {
        "two new keys": two_new,
        "a changed secret": changed,
        "the active key dropped": dropped,
        "an unrelated ring": unrelated,
        "an active key made staged": revived,
    }


def _only(key: Key) -> Callable[[], KeyRing]:
    """A ring provider holding just ``key``, as the signer of an intruder's token."""
    alone = KeyRing((key.replace(state=KeyState.ACTIVE),))
    return lambda: alone


@pytest.mark.parametrize(
    "shape",
    [
        "two new keys",
        "a changed secret",
        "the active key dropped",
        "an unrelated ring",
        "an active key made staged",
        "derived from another version",
    ],
)
def test_a_pending_ring_that_is_not_a_valid_successor_never_verifies(
    sm: Any,
    secret_arn: str,
    ring: KeyRing,
    clock: FrozenClock,
    mono: MonotonicClock,
    shape: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One PutSecretValue --version-stages AWSPENDING does not make a key verify fleet-wide."""
    current_id = str(label(sm, secret_arn, "AWSCURRENT"))
    if shape == "derived from another version":
        pending, origin = rotate(ring, clock(), POLICY).ring, str(uuid.uuid4())
    else:
        pending, origin = _bad_successors(ring, clock)[shape], current_id
    _pending(sm, secret_arn, pending, origin)
    source = AwsSecretSource(SECRET_NAME, client=sm, monotonic=mono)
    verifier = TokenService(source.jwt_ring, clock=clock)
    source.cache.snapshot(complete=True)
    known = {(k.id, k.secret) for k in ring.keys}
    outsiders = [k for k in pending.keys if (k.id, k.secret) not in known]
    assert outsiders
    with caplog.at_level(logging.WARNING, logger="erp.aws.source"):
        for key in outsiders:
            signer = TokenService(_only(key), clock=clock)
            with pytest.raises(InvalidToken):
                verifier.verify(signer.issue({"sub": "intruder"}))
        verifier.verify(TokenService(lambda: ring, clock=clock).issue({"sub": "ok"}))
    warnings = [r for r in caplog.records if "not a valid successor" in r.getMessage()]
    assert len(warnings) == 1


def test_a_valid_pending_ring_verifies(
    sm: Any, secret_arn: str, ring: KeyRing, clock: FrozenClock, mono: MonotonicClock
) -> None:
    """The ring createSecret built (one new key, same others) verifies during the rotation."""
    pending = rotate(ring, clock(), POLICY).ring
    _pending(sm, secret_arn, pending, label(sm, secret_arn, "AWSCURRENT"))
    source = AwsSecretSource(SECRET_NAME, client=sm, monotonic=mono)
    source.cache.snapshot(complete=True)
    verifier = TokenService(source.jwt_ring, clock=clock)
    assert verifier.verify(TokenService(lambda: pending, clock=clock).issue({"sub": "n"}))


def test_steps_repeated_and_interleaved_with_a_retry_make_one_key_and_one_version(
    sm: Any, secret_arn: str, ring: KeyRing, clock: FrozenClock
) -> None:
    """Every step twice, createSecret again after setSecret, then the whole rotation again."""
    handler = RotationHandler(sm, policy=POLICY, clock=clock, require_rotation_enabled=False)
    calls: list[str] = []

    def stuttering(event: Mapping[str, Any]) -> object:
        calls.append(str(event["Step"]))
        handler.handle(event)
        if event["Step"] == "setSecret":
            handler.handle({**event, "Step": "createSecret"})
        return handler.handle(event)

    driver = LocalRotationDriver(sm, invoke=stuttering, clock=clock, sleep=lambda _s: None)
    claim = driver.start(secret_arn)
    assert driver.run(claim).ok
    assert driver.run(claim).ok  # the service retrying a rotation that already finished
    assert calls == list(STEPS) * 2
    assert len(stages_of(sm, secret_arn)) == 2
    assert label(sm, secret_arn, "AWSPENDING") is None
    current = AwsSecretSource(SECRET_NAME, client=sm).signing_ring()
    assert len([k for k in current.keys if k.id not in ring]) == 1


def test_two_rotations_at_once_make_exactly_one_new_key_per_round(
    sm: Any, secret_arn: str, ring: KeyRing, clock: FrozenClock
) -> None:
    """20 rounds: the second rotation is refused while the first runs; no stray version."""
    handler = RotationHandler(sm, policy=POLICY, clock=clock, require_rotation_enabled=False)
    for round_number in range(1, 21):
        entered, release = threading.Event(), threading.Event()
        results: list[bool] = []
        thread = threading.Thread(
            target=_rotate_holding_create, args=(sm, secret_arn, handler, entered, release, results)
        )
        thread.start()
        assert entered.wait(timeout=30)
        second = LocalRotationDriver(sm, invoke=handler.handle, clock=clock)
        with pytest.raises(RotationInProgress, match=r"a rotation is in progress \(version "):
            second.rotate(secret_arn)
        release.set()
        thread.join(timeout=60)
        assert results == [True]
        assert len(stages_of(sm, secret_arn)) == round_number + 1
    final = AwsSecretSource(SECRET_NAME, client=sm).signing_ring()
    assert len({k.id for k in final.keys} - {k.id for k in ring.keys}) >= 1
    assert label(sm, secret_arn, "AWSPENDING") is None


def _rotate_holding_create(
    sm: Any,
    arn: str,
    handler: RotationHandler,
    entered: threading.Event,
    release: threading.Event,
    results: list[bool],
) -> None:
    """One rotation whose createSecret waits until the test releases it."""

    def held(event: Mapping[str, Any]) -> object:
        if event["Step"] == "createSecret":
            entered.set()
            release.wait(timeout=30)
        return handler.handle(event)

    driver = LocalRotationDriver(sm, invoke=held, clock=handler.clock, sleep=lambda _s: None)
    results.append(driver.rotate(arn).ok)


@pytest.mark.parametrize(
    ("code", "permission"),
    [("EncryptionFailure", "kms:GenerateDataKey"), ("DecryptionFailure", "kms:Decrypt")],
)
def test_kms_refusals_name_kms_and_the_missing_permission(code: str, permission: str) -> None:
    """A customer-managed key that refuses: access denied, naming KMS and what to grant."""
    error = translate_error(client_error(code, "PutSecretValue"), what="storing", where="AWS")
    assert isinstance(error, AwsAccessDenied)
    assert "KMS" in str(error)
    assert permission in str(error)


def test_the_endpoint_follows_boto3s_standard_configuration(
    monkeypatch: pytest.MonkeyPatch, settings: AwsSettings
) -> None:
    """AWS_ENDPOINT_URL_SECRETS_MANAGER wins without code; ERP_AWS_ENDPOINT_URL is an alias."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "https://vpce-1.example.com")
    client = secretsmanager_client(AwsSettings.from_env())
    assert client.meta.endpoint_url == "https://vpce-1.example.com"
    monkeypatch.setenv("ERP_AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert secretsmanager_client(AwsSettings.from_env()).meta.endpoint_url == "http://127.0.0.1:9"


def test_aws_rotate_on_aws_calls_rotate_secret_and_reports_the_steps(
    run: Callable[..., tuple[int, str, str]],
    sm: Any,
    secret_arn: str,
    clock: FrozenClock,
    strict_layer: StrictSecretsManager,
) -> None:
    """--driver service: RotateSecret, steps read from the version stages, exit 0."""
    function = "arn:aws:lambda:us-east-1:123456789012:function:erp-rotation"
    handler = RotationHandler(sm, policy=POLICY, clock=clock)
    strict_layer.register_lambda(function, handler.handle)
    sm.rotate_secret(SecretId=secret_arn, RotationLambdaARN=function, RotateImmediately=False)
    before = label(sm, secret_arn, "AWSCURRENT")
    code, out, err = run("aws", "rotate", "--driver", "service", "--secret-id", secret_arn)
    assert code == 0, err
    assert "finishSecret moved AWSCURRENT" in out
    assert label(sm, secret_arn, "AWSCURRENT") != before
    assert label(sm, secret_arn, "AWSPENDING") is None


def test_aws_rotate_while_another_runs_exits_naming_its_version(
    run: Callable[..., tuple[int, str, str]], sm: Any, secret_arn: str
) -> None:
    """A rotation in progress: exit 1, 'a rotation is in progress (version ...)', no new version."""
    token = str(uuid.uuid4())
    sm.put_secret_value(SecretId=secret_arn, ClientRequestToken=token, VersionStages=["AWSPENDING"])
    versions = len(stages_of(sm, secret_arn))
    code, _out, err = run("aws", "rotate", "--secret-id", secret_arn)
    assert code == 1
    assert f"a rotation is in progress (version {token})" in err
    assert len(stages_of(sm, secret_arn)) == versions


def test_the_local_driver_refuses_a_non_local_endpoint(
    run: Callable[..., tuple[int, str, str]], secret_arn: str
) -> None:
    """--driver local against AWS itself is a usage error: AWS runs rotations there."""
    code, _out, err = run(
        "aws",
        "rotate",
        "--driver",
        "local",
        "--secret-id",
        secret_arn,
        "--endpoint-url",
        "https://secretsmanager.example.com",
    )
    assert code == 2
    assert "emulator" in err
