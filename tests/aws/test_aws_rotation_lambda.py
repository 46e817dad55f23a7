"""The rotation Lambda's four steps: correct, idempotent under retries, strict about tokens."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

import erp.aws.rotation
from erp.aws.document import encode, parse_version, ring_document
from erp.aws.errors import (
    AwsUnavailable,
    RotationNotEnabled,
    RotationTestFailed,
    RotationTokenRefused,
)
from erp.aws.lambda_rotation import STEPS, RotationHandler
from erp.clock import FrozenClock
from erp.keyring import KeyRing, KeyState, RotationPolicy, generate_secret

from .conftest import SECRET_NAME, Faults, label, make_ring, stages_of, start_rotation

POLICY = RotationPolicy(max_token_ttl=timedelta(hours=1), leeway=timedelta(seconds=30))


@pytest.fixture
def handler(sm: Any, clock: FrozenClock) -> RotationHandler:
    """The handler as the local driver runs it (rotation schedule not required)."""
    return RotationHandler(sm, policy=POLICY, clock=clock, require_rotation_enabled=False)


@pytest.fixture
def token(sm: Any, secret_arn: str) -> str:
    """A rotation started as AWS starts one: AWSPENDING on an empty version."""
    value = str(uuid.uuid4())
    start_rotation(sm, secret_arn, value)
    return value


def _event(step: str, arn: str, token: str) -> dict[str, str]:
    return {"Step": step, "SecretId": arn, "ClientRequestToken": token}


def _ring_at(sm: Any, arn: str, stage: str) -> KeyRing:
    response = sm.get_secret_value(SecretId=arn, VersionStage=stage)
    parsed = parse_version(response["SecretString"], response["VersionId"], stage)
    assert parsed is not None
    assert parsed.ring is not None
    return parsed.ring


def test_create_secret_stores_a_rotated_ring_as_pending_under_the_token(
    handler: RotationHandler, sm: Any, secret_arn: str, token: str, ring: KeyRing
) -> None:
    """createSecret adds one new active key; the old one retires; AWSCURRENT is unchanged."""
    result = handler.handle(_event("createSecret", secret_arn, token))
    assert result["outcome"] == "created"
    pending = _ring_at(sm, secret_arn, "AWSPENDING")
    assert label(sm, secret_arn, "AWSPENDING") == token
    assert pending.active.id == result["new"]["id"] != ring.active.id
    old = pending.get(ring.active.id)
    assert old is not None
    assert old.state is KeyState.RETIRING
    assert _ring_at(sm, secret_arn, "AWSCURRENT") == ring


def test_the_four_steps_move_current_and_remove_pending(
    handler: RotationHandler, sm: Any, secret_arn: str, token: str, ring: KeyRing
) -> None:
    """After finishSecret the token's version is AWSCURRENT and no version keeps AWSPENDING."""
    previous = label(sm, secret_arn, "AWSCURRENT")
    for step in STEPS:
        handler.handle(_event(step, secret_arn, token))
    stages = stages_of(sm, secret_arn)
    assert stages[token] == ["AWSCURRENT"]
    assert previous is not None
    assert stages[previous] == ["AWSPREVIOUS"]
    assert len(stages) == 2
    current = _ring_at(sm, secret_arn, "AWSCURRENT")
    assert ring.active.id in current
    assert current.active.id != ring.active.id


@pytest.mark.parametrize("repeats", [2, 3])
def test_each_step_repeated_gives_one_new_key_and_no_extra_versions(
    handler: RotationHandler, sm: Any, secret_arn: str, token: str, ring: KeyRing, repeats: int
) -> None:
    """Running every step several times ends exactly where running each once does."""
    for step in STEPS:
        for _ in range(repeats):
            handler.handle(_event(step, secret_arn, token))
    stages = stages_of(sm, secret_arn)
    assert len(stages) == 2
    assert stages[token] == ["AWSCURRENT"]
    assert len(_ring_at(sm, secret_arn, "AWSCURRENT")) == len(ring) + 1


def test_steps_interleaved_with_retries_of_the_whole_rotation_reach_the_same_end(
    handler: RotationHandler, sm: Any, secret_arn: str, token: str, ring: KeyRing
) -> None:
    """create/set, then a whole retry, then another retry after finish: still one new key."""
    sequence = [
        "createSecret", "setSecret",
        "createSecret", "setSecret", "testSecret",
        "createSecret", "setSecret", "testSecret", "finishSecret",
        "createSecret", "setSecret", "testSecret", "finishSecret",
    ]  # fmt: skip
    outcomes = [handler.handle(_event(s, secret_arn, token))["outcome"] for s in sequence]
    assert outcomes.count("created") == 1
    assert outcomes[-4:] == ["already_current"] * 4
    stages = stages_of(sm, secret_arn)
    assert len(stages) == 2
    assert stages[token] == ["AWSCURRENT"]
    assert len(_ring_at(sm, secret_arn, "AWSCURRENT")) == len(ring) + 1


@pytest.mark.parametrize("step", STEPS)
def test_a_token_naming_no_version_is_refused_and_nothing_is_written(
    handler: RotationHandler, sm: Any, secret_arn: str, step: str
) -> None:
    """Every step refuses a token that is not one of the secret's versions."""
    before = stages_of(sm, secret_arn)
    with pytest.raises(RotationTokenRefused, match="names no version"):
        handler.handle(_event(step, secret_arn, str(uuid.uuid4())))
    assert stages_of(sm, secret_arn) == before


def test_a_token_not_labelled_pending_is_refused(
    handler: RotationHandler, sm: Any, secret_arn: str, token: str
) -> None:
    """The previous version's id is a real version but not a rotation in progress."""
    for step in STEPS:
        handler.handle(_event(step, secret_arn, token))
    previous = label(sm, secret_arn, "AWSPREVIOUS")
    assert previous is not None
    with pytest.raises(RotationTokenRefused, match="not AWSPENDING"):
        handler.handle(_event("createSecret", secret_arn, previous))


def test_a_malformed_event_is_refused(handler: RotationHandler, secret_arn: str) -> None:
    """An event without a token, or with an unknown step, is rejected with the fields named."""
    with pytest.raises(RotationTokenRefused, match="ClientRequestToken"):
        handler.handle({"Step": "createSecret", "SecretId": secret_arn})
    with pytest.raises(RotationTokenRefused, match="unknown Step"):
        handler.handle(_event("dropSecret", secret_arn, "t"))


def test_rotation_disabled_is_refused_when_required(
    sm: Any, secret_arn: str, token: str, clock: FrozenClock
) -> None:
    """The deployed Lambda refuses secrets whose rotation is disabled, as the templates do."""
    strict = RotationHandler(sm, policy=POLICY, clock=clock)
    with pytest.raises(RotationNotEnabled, match="ERP_ROTATION_REQUIRE_ENABLED"):
        strict.handle(_event("createSecret", secret_arn, token))


def test_keys_past_their_retirement_are_pruned_by_the_rotation(
    handler: RotationHandler, sm: Any, secret_arn: str, ring: KeyRing, clock: FrozenClock
) -> None:
    """A key retired more than max_token_ttl + leeway ago is gone after the next rotation."""
    first = str(uuid.uuid4())
    start_rotation(sm, secret_arn, first)
    for step in STEPS:
        handler.handle(_event(step, secret_arn, first))
    clock.advance(POLICY.max_token_ttl + POLICY.leeway + timedelta(seconds=1))
    second = str(uuid.uuid4())
    start_rotation(sm, secret_arn, second)
    result = handler.handle(_event("createSecret", secret_arn, second))
    assert [k["id"] for k in result["pruned"]] == [ring.active.id]
    for step in STEPS[1:]:
        handler.handle(_event(step, secret_arn, second))
    assert ring.active.id not in _ring_at(sm, secret_arn, "AWSCURRENT")


def test_a_hand_made_ring_starts_its_retirement_clock_at_the_first_rotation(
    handler: RotationHandler, sm: Any, clock: FrozenClock
) -> None:
    """Retiring keys without JWT_KEYS times are pruned one token lifetime after a rotation."""
    old, current = generate_secret(), generate_secret()
    doc = {"JWT_SECRETS": {"old": old, "cur": current}, "JWT_SECRET_ID": "cur"}
    arn = sm.create_secret(Name=SECRET_NAME, SecretString=json.dumps(doc))["ARN"]
    first = str(uuid.uuid4())
    start_rotation(sm, arn, first)
    handler.handle(_event("createSecret", arn, first))
    pending = _ring_at(sm, arn, "AWSPENDING")
    kept = pending.get("old")
    assert kept is not None
    assert kept.deactivated_at == clock()
    for step in STEPS[1:]:
        handler.handle(_event(step, arn, first))
    clock.advance(POLICY.max_token_ttl + POLICY.leeway + timedelta(seconds=1))
    second = str(uuid.uuid4())
    start_rotation(sm, arn, second)
    result = handler.handle(_event("createSecret", arn, second))
    assert {k["id"] for k in result["pruned"]} == {"old", "cur"}


def test_staged_policy_stages_first_then_promotes_what_every_instance_has(
    sm: Any, secret_arn: str, ring: KeyRing, clock: FrozenClock
) -> None:
    """Under the staged policy a rotation promotes the staged key and stages the next one."""
    staged = RotationPolicy(mode="staged", min_stage_period=timedelta(minutes=10))
    handler = RotationHandler(sm, policy=staged, clock=clock, require_rotation_enabled=False)
    first = str(uuid.uuid4())
    start_rotation(sm, secret_arn, first)
    for step in STEPS:
        handler.handle(_event(step, secret_arn, first))
    after_first = _ring_at(sm, secret_arn, "AWSCURRENT")
    assert after_first.active.id == ring.active.id
    next_key = after_first.staged
    assert next_key is not None
    clock.advance(timedelta(minutes=11))
    second = str(uuid.uuid4())
    start_rotation(sm, secret_arn, second)
    for step in STEPS:
        handler.handle(_event(step, secret_arn, second))
    after_second = _ring_at(sm, secret_arn, "AWSCURRENT")
    assert after_second.active.id == next_key.id
    assert after_second.staged is not None
    assert after_second.staged.id != next_key.id


def test_each_step_logs_one_json_line_with_ids_and_fingerprints_only(
    handler: RotationHandler,
    sm: Any,
    secret_arn: str,
    token: str,
    ring: KeyRing,
    caplog: pytest.LogCaptureFixture,
    no_secret_in: Callable[..., None],
) -> None:
    """Four steps, four JSON lines naming step and outcome; no secret in any of them."""
    with caplog.at_level(logging.INFO, logger="erp.aws.rotation"):
        for step in STEPS:
            handler.handle(_event(step, secret_arn, token))
    lines = [r.getMessage() for r in caplog.records if r.name == "erp.aws.rotation"]
    records = [json.loads(line) for line in lines]
    assert [r["step"] for r in records] == list(STEPS)
    assert [r["outcome"] for r in records] == ["created", "validated", "passed", "finished"]
    assert all(r["token"] == token for r in records)
    no_secret_in("\n".join(lines), ring, _ring_at(sm, secret_arn, "AWSCURRENT"))


def test_a_failing_step_logs_one_json_error_line(
    handler: RotationHandler, secret_arn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused step is logged as one JSON line with the error class and message."""
    with (
        caplog.at_level(logging.INFO, logger="erp.aws.rotation"),
        pytest.raises(RotationTokenRefused),
    ):
        handler.handle(_event("setSecret", secret_arn, "no-such-token"))
    (line,) = [r.getMessage() for r in caplog.records if r.name == "erp.aws.rotation"]
    record = json.loads(line)
    assert record["outcome"] == "error"
    assert record["error"] == "RotationTokenRefused"


def test_test_secret_fails_when_the_pending_ring_drops_a_live_key(
    handler: RotationHandler, sm: Any, secret_arn: str, ring: KeyRing, clock: FrozenClock
) -> None:
    """A pending ring without the current signing key fails; the Lambda clears AWSPENDING."""
    token = str(uuid.uuid4())
    current_id = label(sm, secret_arn, "AWSCURRENT")
    stranger = make_ring(clock())
    doc = ring_document(stranger, derived_from=current_id)
    sm.put_secret_value(
        SecretId=secret_arn,
        ClientRequestToken=token,
        SecretString=encode(doc),
        VersionStages=["AWSPENDING"],
    )
    with pytest.raises(RotationTestFailed, match="lacks the current signing key"):
        handler.handle(_event("setSecret", secret_arn, token))
    assert label(sm, secret_arn, "AWSPENDING") is None
    sm.update_secret_version_stage(
        SecretId=secret_arn, VersionStage="AWSPENDING", MoveToVersionId=token
    )
    with pytest.raises(RotationTestFailed, match=f"drops the active key {ring.active.id}"):
        handler.handle(_event("testSecret", secret_arn, token))
    assert label(sm, secret_arn, "AWSPENDING") is None
    assert label(sm, secret_arn, "AWSCURRENT") == current_id


def test_finish_refuses_when_current_moved_during_the_rotation(
    handler: RotationHandler, sm: Any, secret_arn: str, token: str, clock: FrozenClock
) -> None:
    """A manual write after createSecret abandons the rotation (AWSPENDING goes): no finish."""
    handler.handle(_event("createSecret", secret_arn, token))
    manual = make_ring(clock())
    sm.put_secret_value(SecretId=secret_arn, SecretString=encode(ring_document(manual)))
    moved_to = label(sm, secret_arn, "AWSCURRENT")
    assert label(sm, secret_arn, "AWSPENDING") is None
    with pytest.raises(RotationTokenRefused, match="not AWSPENDING"):
        handler.handle(_event("finishSecret", secret_arn, token))
    assert label(sm, secret_arn, "AWSCURRENT") == moved_to


def test_finish_interrupted_between_its_two_label_moves_is_completed_by_a_retry(
    sm: Any, secret_arn: str, token: str, clock: FrozenClock
) -> None:
    """If removing AWSPENDING fails after AWSCURRENT moved, the retried finish removes it."""
    faults = Faults(sm)
    handler = RotationHandler(faults, policy=POLICY, clock=clock, require_rotation_enabled=False)
    for step in STEPS[:3]:
        handler.handle(_event(step, secret_arn, token))
    faults.fail("update_secret_version_stage", skip=1)
    with pytest.raises(AwsUnavailable):
        handler.handle(_event("finishSecret", secret_arn, token))
    assert sorted(stages_of(sm, secret_arn)[token]) == ["AWSCURRENT", "AWSPENDING"]
    result = handler.handle(_event("finishSecret", secret_arn, token))
    assert result["outcome"] == "pending_label_removed"
    assert stages_of(sm, secret_arn)[token] == ["AWSCURRENT"]


def test_lambda_handler_runs_from_the_lambda_environment(
    monkeypatch: pytest.MonkeyPatch, sm: Any, secret_arn: str, token: str, aws_env: str
) -> None:
    """erp.aws.rotation.lambda_handler builds its client from SECRETS_MANAGER_ENDPOINT."""
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("SECRETS_MANAGER_ENDPOINT", aws_env)
    monkeypatch.setenv("ERP_ROTATION_REQUIRE_ENABLED", "0")
    for step in STEPS:
        erp.aws.rotation.lambda_handler(_event(step, secret_arn, token), None)
    assert label(sm, secret_arn, "AWSCURRENT") == token
    assert label(sm, secret_arn, "AWSPENDING") is None
