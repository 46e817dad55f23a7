"""Verifying tokens while the secret rotates: every stage's key verifies, AWS is called rarely."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from erp.aws.client import AwsSettings, secretsmanager_client
from erp.aws.document import parse_version
from erp.aws.driver import LocalRotationDriver
from erp.aws.lambda_rotation import STEPS, RotationHandler
from erp.aws.source import AwsSecretSource
from erp.clock import FrozenClock
from erp.errors import UnknownKeyId
from erp.keyring import KeyRing, RotationPolicy
from erp.secrets import SecretResolver, load_jwt_ring
from erp.security import TokenService
from erp.testing.aws import CallCounter

from .conftest import SECRET_NAME, MonotonicClock, Relay, make_ring, start_rotation


def _verifier(source: AwsSecretSource, clock: FrozenClock, mono: MonotonicClock) -> TokenService:
    """A TokenService as an application builds it: through erp.secrets, AWS last."""
    resolver = SecretResolver([source])
    return TokenService(
        lambda: load_jwt_ring(resolver),
        clock=clock,
        monotonic=mono,
        on_reload=resolver.refresh,
    )


def _signer(ring: KeyRing, clock: FrozenClock) -> TokenService:
    return TokenService(lambda: ring, clock=clock)


def _ring_at(sm: Any, arn: str, stage: str) -> KeyRing:
    response = sm.get_secret_value(SecretId=arn, VersionStage=stage)
    parsed = parse_version(response["SecretString"], response["VersionId"], stage)
    assert parsed is not None
    assert parsed.ring is not None
    return parsed.ring


def test_tokens_signed_by_current_previous_and_pending_keys_all_verify_mid_rotation(
    sm: Any, secret_arn: str, clock: FrozenClock, mono: MonotonicClock
) -> None:
    """With PREVIOUS, CURRENT and PENDING versions live, a token from each one's key verifies."""
    handler = RotationHandler(sm, clock=clock, require_rotation_enabled=False)
    LocalRotationDriver(sm, invoke=handler.handle, clock=clock).rotate(secret_arn)
    token = str(uuid.uuid4())
    start_rotation(sm, secret_arn, token)
    handler.handle({"Step": "createSecret", "SecretId": secret_arn, "ClientRequestToken": token})
    rings = {stage: _ring_at(sm, secret_arn, stage) for stage in ("AWSPREVIOUS", "AWSCURRENT")}
    rings["AWSPENDING"] = _ring_at(sm, secret_arn, "AWSPENDING")
    assert len({r.active.id for r in rings.values()}) == 3
    source = AwsSecretSource(SECRET_NAME, client=sm, monotonic=mono)
    verifier = _verifier(source, clock, mono)
    mono.advance(301)  # the first interval's refresh reads every stage
    for stage, ring in rings.items():
        claims = verifier.verify(_signer(ring, clock).issue({"sub": stage}))
        assert claims["sub"] == stage
    assert verifier.ring().active.id == rings["AWSCURRENT"].active.id
    assert verifier.issue({"sub": "x"}).count(".") == 2


def test_a_new_kid_after_a_rotation_costs_one_refresh_and_unknown_kids_no_more(
    sm: Any, secret_arn: str, clock: FrozenClock, mono: MonotonicClock, counter: CallCounter
) -> None:
    """Initial load 1 call; the new key's first token 2 (Describe + the new version); junk 0."""
    source = AwsSecretSource(SECRET_NAME, client=sm, monotonic=mono)
    verifier = _verifier(source, clock, mono)
    verifier.ring()
    assert counter.total == 1
    rotator = secretsmanager_client(
        AwsSettings(region="us-east-1", endpoint_url=sm.meta.endpoint_url)
    )
    assert LocalRotationDriver(rotator, clock=clock).rotate(secret_arn).ok
    fresh = _signer(_ring_at(rotator, secret_arn, "AWSCURRENT"), clock)
    for _ in range(1000):
        verifier.verify(fresh.issue({"sub": "after"}))
    assert counter.calls == ["GetSecretValue", "DescribeSecret", "GetSecretValue"]
    stranger = _signer(make_ring(clock()), clock)
    for _ in range(100):
        with pytest.raises(UnknownKeyId):
            verifier.verify(stranger.issue({"sub": "forged"}))
    assert counter.total == 3
    mono.advance(1.5)  # the reload rate limit has passed: one more look, one call
    with pytest.raises(UnknownKeyId):
        verifier.verify(stranger.issue({"sub": "forged"}))
    assert counter.total == 4


def test_aws_unreachable_mid_run_keeps_verifying_with_the_cached_ring(
    secret_arn: str,
    ring: KeyRing,
    relay: Relay,
    clock: FrozenClock,
    mono: MonotonicClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The link to AWS is cut: tokens keep verifying, the log says why, recovery is automatic."""
    through_relay = AwsSettings(region="us-east-1", endpoint_url=relay.url, max_attempts=1)
    source = AwsSecretSource(SECRET_NAME, settings=through_relay, monotonic=mono)
    verifier = _verifier(source, clock, mono)
    signer = _signer(ring, clock)
    assert verifier.verify(signer.issue({"sub": "before"}))["sub"] == "before"
    relay.cut()
    mono.advance(301)
    with caplog.at_level(logging.WARNING, logger="erp.aws.cache"):
        for _ in range(50):
            assert verifier.verify(signer.issue({"sub": "during"}))["sub"] == "during"
            mono.advance(0.1)
        with pytest.raises(UnknownKeyId):  # a forced refresh cannot help; still no crash
            verifier.verify(_signer(make_ring(clock()), clock).issue({"sub": "x"}))
    assert "serving version" in caplog.text
    assert source.cache.stats.failures >= 1
    relay.restore()
    failures, refreshes = source.cache.stats.failures, source.cache.stats.refreshes
    mono.advance(120)  # past the longest backoff
    assert verifier.verify(signer.issue({"sub": "after"}))["sub"] == "after"
    assert source.cache.stats.refreshes == refreshes + 1
    assert source.cache.stats.failures == failures


def test_no_instance_rejects_a_token_from_an_instance_that_refreshed_first(
    sm: Any, secret_arn: str, clock: FrozenClock, mono: MonotonicClock
) -> None:
    """Instance A sees the new key first and signs; stale instance B verifies on first sight."""
    a = _verifier(AwsSecretSource(SECRET_NAME, client=sm, monotonic=mono), clock, mono)
    b = _verifier(AwsSecretSource(SECRET_NAME, client=sm, monotonic=mono), clock, mono)
    a.ring()
    b.ring()
    handler = RotationHandler(sm, clock=clock, require_rotation_enabled=False)
    token = str(uuid.uuid4())
    start_rotation(sm, secret_arn, token)
    for step in STEPS:
        handler.handle({"Step": step, "SecretId": secret_arn, "ClientRequestToken": token})
    a.reload()
    issued = a.issue({"sub": "from-a"})
    assert b.verify(issued)["sub"] == "from-a"


def test_the_staged_policy_needs_no_refresh_at_all_when_the_key_switches(
    sm: Any, secret_arn: str, clock: FrozenClock, mono: MonotonicClock, counter: CallCounter
) -> None:
    """Under the staged policy every instance already holds the key that becomes active."""
    from datetime import timedelta

    staged = RotationPolicy(mode="staged", min_stage_period=timedelta(minutes=10))
    rotator = LocalRotationDriver(sm, policy=staged, clock=clock)
    assert rotator.rotate(secret_arn).ok  # stages the next key
    verifier = _verifier(AwsSecretSource(SECRET_NAME, client=sm, monotonic=mono), clock, mono)
    verifier.ring()
    clock.advance(timedelta(minutes=11))
    assert rotator.rotate(secret_arn).ok  # promotes it
    before = counter.total
    promoted = _signer(_ring_at(sm, secret_arn, "AWSCURRENT"), clock)
    del counter.calls[before:]
    assert verifier.verify(promoted.issue({"sub": "s"}))["sub"] == "s"
    assert counter.total == before
