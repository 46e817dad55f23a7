"""The secret cache: one call per interval, single flight, stage-aware, last good on errors."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from erp.aws.document import encode, ring_document
from erp.aws.driver import LocalRotationDriver
from erp.aws.errors import AwsUnavailable, SecretFormatError, StageNotFound
from erp.aws.source import AwsSecretSource
from erp.clock import FrozenClock
from erp.keyring import KeyRing, generate_secret
from erp.testing.aws import CallCounter

from .conftest import (
    SECRET_NAME,
    Faults,
    MonotonicClock,
    client_error,
    label,
    make_ring,
)


def _source(client: Any, mono: MonotonicClock, **kwargs: Any) -> AwsSecretSource:
    kwargs.setdefault("random", lambda: 0.0)  # no jitter: the interval is exactly as given
    return AwsSecretSource(
        SECRET_NAME, client=client, refresh_interval_seconds=300, monotonic=mono, **kwargs
    )


@pytest.mark.usefixtures("secret_arn")
def test_warm_reads_make_one_call_per_refresh_interval_whatever_the_rate(
    sm: Any, counter: CallCounter, mono: MonotonicClock, ring: KeyRing
) -> None:
    """Thousands of lookups cost one GetSecretValue; the next interval costs one DescribeSecret."""
    source = _source(sm, mono)
    for _ in range(5000):
        assert source.lookup("JWT_SECRET_ID") == ring.active.id
    assert counter.calls == ["GetSecretValue"]
    mono.advance(301)
    for _ in range(5000):
        source.lookup("JWT_SECRETS")
    assert counter.calls == ["GetSecretValue", "DescribeSecret"]


@pytest.mark.usefixtures("secret_arn")
def test_refresh_interval_is_drawn_between_half_and_all_of_the_setting(
    sm: Any, counter: CallCounter, mono: MonotonicClock
) -> None:
    """With the largest jitter draw the refresh comes after half the interval, not before."""
    source = _source(sm, mono, random=lambda: 1.0)
    source.lookup("JWT_SECRET_ID")
    mono.advance(149)
    source.lookup("JWT_SECRET_ID")
    assert counter.total == 1
    mono.advance(2)
    source.lookup("JWT_SECRET_ID")
    assert counter.total == 2


@pytest.mark.usefixtures("secret_arn")
def test_concurrent_first_reads_share_one_call(faults: Faults, mono: MonotonicClock) -> None:
    """Eight threads starting cold make one GetSecretValue between them and see one value."""
    source = _source(faults, mono)
    entered, release = faults.gate("get_secret_value")
    results: list[str | None] = []

    def read() -> None:
        results.append(source.lookup("JWT_SECRET_ID"))

    threads = [threading.Thread(target=read) for _ in range(8)]
    threads[0].start()
    assert entered.wait(timeout=10)
    for t in threads[1:]:
        t.start()
    release.set()
    for t in threads:
        t.join(timeout=10)
    assert len(results) == 8
    assert len(set(results)) == 1
    assert faults.count("get_secret_value") == 1


@pytest.mark.usefixtures("secret_arn")
def test_due_refresh_runs_in_one_thread_while_others_get_the_cached_value(
    faults: Faults, mono: MonotonicClock, ring: KeyRing
) -> None:
    """While one thread refreshes, a reader is answered from the cache without waiting."""
    source = _source(faults, mono)
    source.lookup("JWT_SECRET_ID")
    mono.advance(301)
    entered, release = faults.gate("describe_secret")
    refresher = threading.Thread(target=source.lookup, args=("JWT_SECRET_ID",))
    refresher.start()
    assert entered.wait(timeout=10)
    try:
        assert source.lookup("JWT_SECRET_ID") == ring.active.id  # not blocked by the refresher
        assert faults.count("describe_secret") == 1
    finally:
        release.set()
        refresher.join(timeout=10)
    assert faults.count("describe_secret") == 1


@pytest.mark.usefixtures("secret_arn")
def test_aws_errors_serve_the_last_good_value_with_backoff_and_say_so(
    faults: Faults, mono: MonotonicClock, ring: KeyRing, caplog: pytest.LogCaptureFixture
) -> None:
    """Failed refreshes keep serving the cached ring, log a warning, and back off 1 s, 2 s."""
    source = _source(faults, mono)
    source.lookup("JWT_SECRET_ID")
    faults.fail("describe_secret", times=5)
    mono.advance(301)
    with caplog.at_level(logging.WARNING, logger="erp.aws.cache"):
        assert source.lookup("JWT_SECRET_ID") == ring.active.id
    assert faults.count("describe_secret") == 1
    assert "serving version" in caplog.text
    assert "unreachable" in caplog.text
    for _ in range(100):  # inside the 1 s backoff: no call at all
        assert source.lookup("JWT_SECRET_ID") == ring.active.id
    assert faults.count("describe_secret") == 1
    mono.advance(1.01)
    source.lookup("JWT_SECRET_ID")
    assert faults.count("describe_secret") == 2
    mono.advance(1.5)  # the second backoff is 2 s
    source.lookup("JWT_SECRET_ID")
    assert faults.count("describe_secret") == 2
    faults.heal()
    mono.advance(0.6)
    source.lookup("JWT_SECRET_ID")
    assert faults.count("describe_secret") == 3
    assert source.cache.stats.failures == 2
    mono.advance(200)  # healthy again: the normal interval applies
    source.lookup("JWT_SECRET_ID")
    assert faults.count("describe_secret") == 3


@pytest.mark.usefixtures("secret_arn")
def test_a_process_that_never_had_a_value_raises_and_does_not_retry_during_backoff(
    faults: Faults, mono: MonotonicClock
) -> None:
    """A first read that fails raises; repeating it inside the backoff sends no request."""
    source = _source(faults, mono)
    faults.fail("get_secret_value", times=1)
    with pytest.raises(AwsUnavailable, match="unreachable"):
        source.lookup("JWT_SECRET_ID")
    with pytest.raises(AwsUnavailable):
        source.lookup("JWT_SECRET_ID")
    assert faults.count("get_secret_value") == 1
    mono.advance(1.01)
    assert source.lookup("JWT_SECRET_ID")
    assert faults.count("get_secret_value") == 2


def test_previous_stage_is_answered_with_the_previous_version_not_the_current(
    sm: Any, secret_arn: str, mono: MonotonicClock, ring: KeyRing, clock: FrozenClock
) -> None:
    """Cache keys include the stage: AWSPREVIOUS never returns AWSCURRENT's value."""
    source = _source(sm, mono)
    assert source.version("AWSCURRENT").ring == ring
    LocalRotationDriver(sm, clock=clock).rotate(secret_arn)
    source.refresh()
    current, previous = source.version("AWSCURRENT"), source.version("AWSPREVIOUS")
    assert previous.ring == ring
    assert current.version_id != previous.version_id
    assert current.ring is not None
    assert current.ring.active.id != ring.active.id


@pytest.mark.usefixtures("secret_arn")
def test_a_stage_no_version_carries_raises_instead_of_returning_none(
    sm: Any, mono: MonotonicClock
) -> None:
    """Asking for AWSPENDING when no rotation runs is an error that says so."""
    source = _source(sm, mono)
    with pytest.raises(StageNotFound, match="AWSPENDING"):
        source.version("AWSPENDING")


@pytest.mark.usefixtures("secret_arn")
def test_forced_refresh_does_not_sleep_and_is_rate_limited(
    sm: Any, counter: CallCounter, mono: MonotonicClock
) -> None:
    """refresh() costs one prompt call at the next read; a second within a second is ignored."""
    source = _source(sm, mono)
    source.lookup("JWT_SECRET_ID")
    assert source.cache.request_refresh()
    assert not source.cache.request_refresh()
    started = time.perf_counter()
    source.lookup("JWT_SECRET_ID")
    assert time.perf_counter() - started < 2.0  # the anchor sleeps 2.5-5 s here
    assert counter.calls == ["GetSecretValue", "DescribeSecret"]
    source.lookup("JWT_SECRET_ID")
    assert counter.total == 2
    mono.advance(1.01)
    assert source.cache.request_refresh()


def test_each_version_is_fetched_once_across_rotations(
    sm: Any, secret_arn: str, counter: CallCounter, mono: MonotonicClock, clock: FrozenClock
) -> None:
    """Versions are immutable, so a VersionId is read once, whatever label it carries later."""
    source = _source(sm, mono)
    source.lookup("JWT_SECRET_ID")
    rotating = LocalRotationDriver(sm, clock=clock)
    for _ in range(2):
        before = counter.total
        rotating.rotate(secret_arn)
        del counter.calls[before:]  # count only the cache's own calls
        mono.advance(301)
        source.lookup("JWT_SECRET_ID")
    fetched = [c for c in counter.calls if c == "GetSecretValue"]
    assert len(fetched) == 3  # the first version, then one per rotation
    assert counter.calls.count("DescribeSecret") == 2


def test_a_malformed_new_version_keeps_the_last_good_one_served(
    sm: Any,
    secret_arn: str,
    mono: MonotonicClock,
    ring: KeyRing,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broken AWSCURRENT written later is logged and ignored; the good ring stays in use."""
    source = _source(sm, mono)
    assert source.jwt_ring() == ring
    sm.put_secret_value(SecretId=secret_arn, SecretString='{"JWT_SECRETS": ')
    mono.advance(301)
    with caplog.at_level(logging.WARNING, logger="erp.aws.cache"):
        assert source.jwt_ring() == ring
        assert source.lookup("JWT_SECRET_ID") == ring.active.id
    assert "not valid JSON" in caplog.text


@pytest.mark.usefixtures("secret_arn")
def test_describe_denied_falls_back_to_reading_awscurrent_only(
    faults: Faults, mono: MonotonicClock, ring: KeyRing, caplog: pytest.LogCaptureFixture
) -> None:
    """Without DescribeSecret permission the cache still follows AWSCURRENT and warns once."""
    source = _source(faults, mono)
    source.lookup("JWT_SECRET_ID")
    faults.fail("describe_secret", client_error("AccessDeniedException", "DescribeSecret"))
    mono.advance(301)
    with caplog.at_level(logging.WARNING, logger="erp.aws.cache"):
        assert source.lookup("JWT_SECRET_ID") == ring.active.id
    assert "DescribeSecret is denied" in caplog.text
    mono.advance(301)
    source.lookup("JWT_SECRET_ID")
    assert faults.count("describe_secret") == 1
    assert faults.count("get_secret_value") == 3


def test_a_bad_value_is_never_echoed_in_the_error(sm: Any, mono: MonotonicClock) -> None:
    """The parse error names the secret, version and position, not the stored text."""
    marker = generate_secret()
    sm.create_secret(Name=SECRET_NAME, SecretString=f"not json {marker}")
    source = _source(sm, mono)
    with pytest.raises(SecretFormatError) as caught:
        source.lookup("JWT_SECRET_ID")
    assert SECRET_NAME in str(caught.value)
    assert marker not in str(caught.value)
    assert label(sm, SECRET_NAME, "AWSCURRENT") is not None


def test_encode_is_stable() -> None:
    """The stored JSON is canonical, so an unchanged ring is recognised as unchanged."""
    ring = make_ring(FrozenClock()())
    assert encode(ring_document(ring)) == encode(ring_document(ring))
