"""Fixtures for the alert tests: a local receiver, a down port, instant backoff."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator

import pytest

from erp.alerts.delivery import RetryPolicy, Transport
from erp.testing.alerts import FakeTime, Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP receiver (Slack and PagerDuty stand-in), stopped after the test."""
    with Receiver() as server:
        yield server


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (the receiver is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fake_time() -> FakeTime:
    """A clock that sleeping moves forward; records every sleep."""
    return FakeTime()


@pytest.fixture
def transport(fake_time: FakeTime) -> Transport:
    """Five attempts, 1 s base backoff, short timeouts; waits go to ``fake_time``."""
    return Transport(
        RetryPolicy(
            max_attempts=5,
            base_delay_seconds=1.0,
            max_delay_seconds=30.0,
            timeout_seconds=0.2,
            budget_seconds=120.0,
        ),
        sleep=fake_time.sleep,
        monotonic=fake_time.monotonic,
    )


@pytest.fixture
def routing_key() -> str:
    """A PagerDuty-shaped routing key generated for this test (32 hex characters)."""
    return secrets.token_hex(16)
