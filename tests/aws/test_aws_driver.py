"""The local rotation driver: the AWS protocol around the Lambda, failures and events."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from erp.aws.client import AwsSettings, events_client
from erp.aws.document import encode, ring_document
from erp.aws.driver import LocalRotationDriver
from erp.aws.errors import RotationFailed, SecretFormatError
from erp.aws.lambda_rotation import STEPS, RotationHandler
from erp.aws.source import AwsSecretSource
from erp.clock import FrozenClock
from erp.keyring import KeyRing, RotationPolicy
from erp.security import TokenService

from .conftest import SECRET_NAME, label, make_ring, stages_of, start_rotation

POLICY = RotationPolicy()


class FlakyLambda:
    """The real handler, its step failing inside the Lambda a given number of times."""

    def __init__(
        self,
        handler: RotationHandler,
        step: str | None = None,
        times: int = 0,
        error: Exception | None = None,
    ) -> None:
        self.handler = handler
        self.step = step
        self.times = times
        self.error = error or RuntimeError(f"injected failure in {step}")
        self.invocations: list[str] = []

    def __call__(self, event: Mapping[str, Any]) -> object:
        self.invocations.append(str(event["Step"]))
        if event["Step"] != self.step or self.times <= 0:
            return self.handler.handle(event)
        self.times -= 1
        name = {"createSecret": "_create", "setSecret": "_set", "testSecret": "_test"}.get(
            str(event["Step"]), "_finish"
        )
        error = self.error

        def broken(*_args: Any) -> dict[str, Any]:
            raise error

        setattr(self.handler, name, broken)
        try:
            return self.handler.handle(event)
        finally:
            delattr(self.handler, name)


@pytest.fixture
def handler(sm: Any, clock: FrozenClock) -> RotationHandler:
    """The real rotation handler."""
    return RotationHandler(sm, policy=POLICY, clock=clock, require_rotation_enabled=False)


def _driver(sm: Any, clock: FrozenClock, invoke: Any = None, **kwargs: Any) -> LocalRotationDriver:
    sleeps: list[float] = []
    kwargs.setdefault("sleep", sleeps.append)
    return LocalRotationDriver(sm, invoke=invoke, policy=POLICY, clock=clock, **kwargs)


def _verifies(sm: Any, ring: KeyRing, clock: FrozenClock) -> bool:
    """A token signed by ``ring``'s active key verifies against the secret's AWSCURRENT."""
    signer = TokenService(lambda: ring, clock=clock)
    source = AwsSecretSource(SECRET_NAME, client=sm)
    checker = TokenService(source.jwt_ring, clock=clock)
    claims = checker.verify(signer.issue({"sub": "t"}))
    return bool(claims["sub"] == "t")


def test_a_rotation_runs_the_four_steps_and_emits_started_and_succeeded(
    sm: Any, secret_arn: str, clock: FrozenClock, handler: RotationHandler, ring: KeyRing
) -> None:
    """One run: four steps in order, AWSCURRENT moved, no AWSPENDING left, two events."""
    flaky = FlakyLambda(handler)
    outcome = _driver(sm, clock, flaky).rotate(secret_arn)
    assert outcome.ok
    assert flaky.invocations == list(STEPS)
    assert [e.name for e in outcome.events] == ["RotationStarted", "RotationSucceeded"]
    stages = stages_of(sm, secret_arn)
    assert stages[outcome.token] == ["AWSCURRENT"]
    assert len(stages) == 2
    assert _verifies(sm, ring, clock)


@pytest.mark.parametrize("step", STEPS)
def test_a_failure_in_any_step_leaves_current_usable_and_the_next_rotation_succeeds(
    sm: Any,
    secret_arn: str,
    clock: FrozenClock,
    handler: RotationHandler,
    ring: KeyRing,
    step: str,
) -> None:
    """The Lambda gives the rotation up: later steps never run, nothing pending, next one works."""
    current = label(sm, secret_arn, "AWSCURRENT")
    flaky = FlakyLambda(handler, step, times=10)
    sleeps: list[float] = []
    outcome = _driver(sm, clock, flaky, sleep=sleeps.append).rotate(secret_arn)
    assert not outcome.ok
    assert outcome.failed_step == step
    assert outcome.attempts == 1
    assert sleeps == []
    assert flaky.invocations == list(STEPS[: STEPS.index(step) + 1])
    assert [e.name for e in outcome.events] == ["RotationStarted", "RotationFailed"]
    assert label(sm, secret_arn, "AWSCURRENT") == current
    assert label(sm, secret_arn, "AWSPENDING") is None
    assert _verifies(sm, ring, clock)
    with pytest.raises(RotationFailed, match=step):
        outcome.raise_for_failure()
    again = _driver(sm, clock, FlakyLambda(handler)).rotate(secret_arn)
    assert again.ok
    assert not again.resumed
    assert label(sm, secret_arn, "AWSCURRENT") == again.token


def test_a_transient_failure_is_retried_with_the_same_token_and_one_new_key(
    sm: Any, secret_arn: str, clock: FrozenClock, handler: RotationHandler, ring: KeyRing
) -> None:
    """testSecret failing once: the whole rotation reruns, createSecret is a no-op the 2nd time."""
    from erp.aws.errors import AwsUnavailable

    flaky = FlakyLambda(handler, "testSecret", times=1, error=AwsUnavailable("injected"))
    outcome = _driver(sm, clock, flaky).rotate(secret_arn)
    assert outcome.ok
    assert outcome.attempts == 2
    assert [s.outcome for s in outcome.steps if s.step == "createSecret"] == [
        "created",
        "already_created",
    ]
    stages = stages_of(sm, secret_arn)
    assert len(stages) == 2
    source = AwsSecretSource(SECRET_NAME, client=sm)
    assert len(source.signing_ring()) == len(ring) + 1


def test_a_transient_failure_on_every_retry_keeps_the_rotation_for_a_resume(
    sm: Any, secret_arn: str, clock: FrozenClock, handler: RotationHandler, ring: KeyRing
) -> None:
    """AWS unreachable in setSecret 3 times: AWSPENDING stays, sleeps back off, resume ends it."""
    from erp.aws.errors import AwsUnavailable, RotationInProgress

    flaky = FlakyLambda(handler, "setSecret", times=3, error=AwsUnavailable("injected"))
    sleeps: list[float] = []
    outcome = _driver(sm, clock, flaky, sleep=sleeps.append).rotate(secret_arn)
    assert (outcome.ok, outcome.attempts, sleeps) == (False, 3, [1.0, 2.0])
    assert label(sm, secret_arn, "AWSPENDING") == outcome.token
    with pytest.raises(RotationInProgress, match=f"in progress \\(version {outcome.token}\\)"):
        _driver(sm, clock, flaky).rotate(secret_arn)
    again = _driver(sm, clock, flaky).rotate(secret_arn, resume=True)
    assert (again.ok, again.resumed, again.token) == (True, True, outcome.token)
    assert len(stages_of(sm, secret_arn)) == 2
    assert len(AwsSecretSource(SECRET_NAME, client=sm).signing_ring()) == len(ring) + 1


def test_an_unfinished_rotation_is_resumed_with_its_token(
    sm: Any, secret_arn: str, clock: FrozenClock, handler: RotationHandler, ring: KeyRing
) -> None:
    """AWSPENDING left on another version (a crashed run) is reattempted, not duplicated."""
    token = "5f0c1a2e-7d8b-4c3a-9e1f-0a1b2c3d4e5f"
    start_rotation(sm, secret_arn, token)
    handler.handle({"Step": "createSecret", "SecretId": secret_arn, "ClientRequestToken": token})
    outcome = _driver(sm, clock, FlakyLambda(handler)).rotate(secret_arn, resume=True)
    assert outcome.ok
    assert outcome.resumed
    assert outcome.token == token
    assert len(stages_of(sm, secret_arn)) == 2


def test_a_manual_write_during_the_rotation_abandons_it(
    sm: Any, secret_arn: str, clock: FrozenClock, handler: RotationHandler
) -> None:
    """AWSCURRENT moving under a rotation ends it as RotationAbandoned, keeping the write."""
    manual = make_ring(clock())

    def writer(event: Mapping[str, Any]) -> object:
        result = handler.handle(event)
        if event["Step"] == "createSecret":
            sm.put_secret_value(SecretId=secret_arn, SecretString=encode(ring_document(manual)))
        return result

    outcome = _driver(sm, clock, writer).rotate(secret_arn)
    assert outcome.abandoned
    assert outcome.attempts == 1
    assert [e.name for e in outcome.events] == ["RotationStarted", "RotationAbandoned"]
    assert label(sm, secret_arn, "AWSPENDING") is None
    assert AwsSecretSource(SECRET_NAME, client=sm).signing_ring() == manual


def test_a_malformed_current_version_is_refused_before_anything_is_written(
    sm: Any, clock: FrozenClock
) -> None:
    """Broken JSON in AWSCURRENT: one clear error, no placeholder, no new version."""
    sm.create_secret(Name=SECRET_NAME, SecretString="[1, 2")
    before = stages_of(sm, SECRET_NAME)
    with pytest.raises(SecretFormatError, match="not valid JSON"):
        _driver(sm, clock).rotate(SECRET_NAME)
    assert stages_of(sm, SECRET_NAME) == before


def test_a_secret_without_a_ring_is_refused_before_anything_is_written(
    sm: Any, clock: FrozenClock
) -> None:
    """A secret holding other names only: the error says it holds no JWT key ring."""
    sm.create_secret(Name=SECRET_NAME, SecretString=json.dumps({"OTHER": "x"}))
    before = stages_of(sm, SECRET_NAME)
    with pytest.raises(SecretFormatError, match="holds no JWT key ring"):
        _driver(sm, clock).rotate(SECRET_NAME)
    assert stages_of(sm, SECRET_NAME) == before


def test_rotation_events_reach_an_event_bus_in_cloudtrail_shape(
    sm: Any,
    secret_arn: str,
    clock: FrozenClock,
    handler: RotationHandler,
    settings: AwsSettings,
) -> None:
    """Started and Failed go to EventBridge; a rule on detail.eventName routes them to SQS."""
    import boto3

    events = events_client(settings)
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=settings.endpoint_url)
    events.create_event_bus(Name="erp-rotation")
    queue = sqs.create_queue(QueueName="rotation-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = {
        "detail": {
            "eventSource": ["secretsmanager.amazonaws.com"],
            "eventName": ["RotationStarted", "RotationFailed"],
        }
    }
    events.put_rule(Name="rotation", EventBusName="erp-rotation", EventPattern=json.dumps(pattern))
    events.put_targets(
        Rule="rotation", EventBusName="erp-rotation", Targets=[{"Id": "q", "Arn": queue_arn}]
    )
    flaky = FlakyLambda(handler, "testSecret", times=10)
    driver = _driver(
        sm, clock, flaky, events_client=events, event_bus="erp-rotation", max_attempts=1
    )
    outcome = driver.rotate(secret_arn)
    assert outcome.undelivered_events == 0
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    bodies = [json.loads(m["Body"]) for m in received]
    names = sorted(b["detail"]["eventName"] for b in bodies)
    assert names == ["RotationFailed", "RotationStarted"]
    failed = next(b for b in bodies if b["detail"]["eventName"] == "RotationFailed")
    assert failed["source"] == "erp.rotation"
    assert failed["detail-type"] == "AWS Service Event via CloudTrail"
    assert failed["detail"]["additionalEventData"]["SecretId"] == secret_arn
    assert failed["detail"]["erp"]["step"] == "testSecret"


def test_an_unreachable_event_bus_is_reported_not_fatal(
    sm: Any, secret_arn: str, clock: FrozenClock, handler: RotationHandler
) -> None:
    """Events that cannot be sent are counted in the outcome; the rotation still completes."""
    events = events_client(
        AwsSettings(region="us-east-1", endpoint_url="http://127.0.0.1:9", max_attempts=1)
    )
    outcome = _driver(
        sm, clock, FlakyLambda(handler), events_client=events, event_bus="missing"
    ).rotate(secret_arn)
    assert outcome.ok
    assert outcome.undelivered_events == 2


def test_rotations_follow_each_other_without_manual_cleanup(
    sm: Any, secret_arn: str, clock: FrozenClock, ring: KeyRing
) -> None:
    """Three rotations in a row succeed (emulators' own rotate_secret blocks the second)."""
    driver = _driver(sm, clock)
    for _ in range(3):
        clock.advance(timedelta(minutes=1))
        assert driver.rotate(secret_arn).ok
    assert len(AwsSecretSource(SECRET_NAME, client=sm).signing_ring()) == len(ring) + 3
