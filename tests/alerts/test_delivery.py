"""Delivery to a real local HTTP receiver: retries with backoff, then a clear failure."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from erp.alerts.delivery import RetryPolicy, Transport
from erp.testing.alerts import FakeTime, Receiver, Reply


def _timed(fake_time: FakeTime, **policy: Any) -> Transport:
    """A transport on the fake clock (sleeping advances it) with ``policy``'s settings."""
    return Transport(RetryPolicy(**policy), sleep=fake_time.sleep, monotonic=fake_time.monotonic)


def post(transport: Transport, url: str, secrets: list[str] | None = None) -> object:
    return transport.post(
        url, {"hello": "world"}, destination="slack", action="open", secrets=secrets or []
    )


def test_accepted_post_is_one_attempt_with_the_exact_body(
    receiver: Receiver, transport: Transport, fake_time: FakeTime
) -> None:
    """A 2xx answer ends delivery at once; the receiver got the JSON body as sent."""
    result = transport.post(
        receiver.url("/hook"), {"hello": "world"}, destination="slack", action="open"
    )
    assert result.ok
    assert len(result.attempts) == 1
    assert receiver.bodies("/hook") == [{"hello": "world"}]
    assert receiver.requests[0].headers["Content-Type"] == "application/json"
    assert fake_time.sleeps == []


def test_server_errors_are_retried_with_exponential_backoff(
    receiver: Receiver, transport: Transport, fake_time: FakeTime
) -> None:
    """500, 502, 503 then 202: four attempts, waiting 1, 2 and 4 seconds in between."""
    receiver.script.extend([Reply(500), Reply(502), Reply(503)])
    result = transport.post(receiver.url(), {"n": 1}, destination="pagerduty", action="trigger")
    assert result.ok
    assert [a.status for a in result.attempts] == [500, 502, 503, 202]
    assert fake_time.sleeps == [1.0, 2.0, 4.0]
    assert receiver.bodies() == [{"n": 1}] * 4


def test_persistent_500_fails_clearly_after_max_attempts(
    receiver: Receiver, transport: Transport, fake_time: FakeTime
) -> None:
    """Five 500s: the result says not delivered, how often it tried, and the last status."""
    receiver.default = Reply(500, '{"error":"boom"}')
    result = transport.post(receiver.url(), {"n": 1}, destination="pagerduty", action="trigger")
    assert not result.ok
    assert len(receiver.requests) == 5
    assert fake_time.sleeps == [1.0, 2.0, 4.0, 8.0]
    assert result.error == 'HTTP 500 \'{"error":"boom"}\' (after 5 attempts)'
    assert result.describe().startswith("pagerduty trigger: NOT delivered to http://127.0.0.1:")


def test_429_honours_retry_after_seconds(
    receiver: Receiver, transport: Transport, fake_time: FakeTime
) -> None:
    """Rate limited with Retry-After: 7 waits 7 seconds (not the 1-second backoff)."""
    receiver.script.append(Reply(429, "rate_limited", {"Retry-After": "7"}))
    result = post(transport, receiver.url())
    assert result.ok  # type: ignore[attr-defined]
    assert fake_time.sleeps == [7.0]


def test_429_retry_after_as_http_date_is_understood(
    receiver: Receiver, fake_time: FakeTime
) -> None:
    """Retry-After may be an HTTP date: the wait is the time until then."""
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    transport = Transport(
        RetryPolicy(timeout_seconds=1),
        sleep=fake_time.sleep,
        monotonic=fake_time.monotonic,
        wall_clock=lambda: now,
    )
    later = format_datetime(now + timedelta(seconds=12), usegmt=True)
    receiver.script.append(Reply(429, "", {"Retry-After": later}))
    assert post(transport, receiver.url()).ok  # type: ignore[attr-defined]
    assert fake_time.sleeps == [12.0]


def test_retry_after_is_capped_by_the_policy(receiver: Receiver, fake_time: FakeTime) -> None:
    """A server asking for an hour gets the policy's maximum wait instead."""
    transport = _timed(fake_time, max_delay_seconds=30, timeout_seconds=1)
    receiver.script.append(Reply(429, "", {"Retry-After": "3600"}))
    assert post(transport, receiver.url()).ok  # type: ignore[attr-defined]
    assert fake_time.sleeps == [30.0]


def test_rejected_payload_is_not_retried(
    receiver: Receiver, transport: Transport, fake_time: FakeTime
) -> None:
    """400/403/404 cannot get better by retrying: one attempt, a clear failure."""
    receiver.default = Reply(400, "invalid_payload")
    result = post(transport, receiver.url())
    assert not result.ok  # type: ignore[attr-defined]
    assert len(receiver.requests) == 1
    assert fake_time.sleeps == []
    assert result.error == "HTTP 400 'invalid_payload' (after 1 attempt)"  # type: ignore[attr-defined]


def test_receiver_down_retries_then_fails(
    closed_port: int, transport: Transport, fake_time: FakeTime
) -> None:
    """Connection refused every time: five attempts with backoff, then 'cannot connect'."""
    result = post(transport, f"http://127.0.0.1:{closed_port}/hook")
    assert not result.ok  # type: ignore[attr-defined]
    assert fake_time.sleeps == [1.0, 2.0, 4.0, 8.0]
    assert "cannot connect" in result.error  # type: ignore[attr-defined]
    assert "(after 5 attempts)" in result.error  # type: ignore[attr-defined]


def test_slow_receiver_times_out_and_is_retried(receiver: Receiver, fake_time: FakeTime) -> None:
    """A receiver that never answers: each attempt times out, then the next one succeeds."""
    transport = _timed(fake_time, max_attempts=3, timeout_seconds=0.1)
    receiver.script.extend([Reply(hold=True), Reply(hold=True)])
    result = post(transport, receiver.url())
    assert result.ok  # type: ignore[attr-defined]
    errors = [a.error for a in result.attempts]  # type: ignore[attr-defined]
    assert errors == ["no answer within 0.1 s", "no answer within 0.1 s", None]
    assert fake_time.sleeps == [1.0, 2.0]


def test_time_budget_stops_retries_early(receiver: Receiver, fake_time: FakeTime) -> None:
    """With a 5-second budget the fourth wait (8 s) would pass it: give up after 3 tries."""
    transport = _timed(fake_time, max_attempts=10, timeout_seconds=1, budget_seconds=5)
    receiver.default = Reply(503)
    result = post(transport, receiver.url())
    assert not result.ok  # type: ignore[attr-defined]
    assert fake_time.sleeps == [1.0, 2.0]
    assert "gave up: the next retry would pass the 5 s budget" in result.error  # type: ignore[attr-defined]


def test_secret_url_path_and_echoed_secrets_never_appear_in_results(
    receiver: Receiver, transport: Transport
) -> None:
    """Results show the host only; echoed text is scrubbed of every secret."""
    token = "T0KEN" + "x7Q9" * 6
    url = receiver.url(f"/services/{token}")
    receiver.default = Reply(404, f"no_service for /services/{token}")
    result = post(transport, url, secrets=[url, token])
    text = repr(result) + result.describe() + str(result.to_dict())  # type: ignore[attr-defined]
    assert token not in text
    assert result.target == f"http://127.0.0.1:{receiver.port}"  # type: ignore[attr-defined]
    assert "no_service for /services/***" in result.error  # type: ignore[attr-defined]


def test_a_redirect_is_not_delivery(receiver: Receiver, transport: Transport) -> None:
    """urllib would re-send the POST as a bodiless GET and call that delivered."""
    receiver.default = Reply(302, "", {"Location": "/login"})
    result = post(transport, receiver.url("/hook"))
    assert not result.ok  # type: ignore[attr-defined]
    assert result.status == 302  # type: ignore[attr-defined]
    assert [r.path for r in receiver.requests] == ["/hook"]  # nothing followed it


def test_an_odd_retry_after_is_a_plain_retry(
    receiver: Receiver, transport: Transport, fake_time: FakeTime
) -> None:
    """'²' is a digit to str.isdigit() but not to float(): the usual backoff, no crash."""
    receiver.script.append(Reply(429, "", {"Retry-After": "²"}))
    result = post(transport, receiver.url())
    assert result.ok  # type: ignore[attr-defined]
    assert fake_time.sleeps == [1.0]


def test_an_echoed_webhook_path_is_scrubbed_without_being_named(
    receiver: Receiver, transport: Transport
) -> None:
    """The URL is secret as a whole and in parts: a 404 may echo just its path."""
    token = "T0KEN" + "x7Q9" * 6
    url = receiver.url(f"/services/T01/B01/{token}")
    receiver.default = Reply(404, f"Cannot POST /services/T01/B01/{token}")
    result = post(transport, url)
    assert token not in result.error  # type: ignore[attr-defined]


class _RawServer:
    """Answers each connection with fixed bytes, then holds it open until closed."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.done = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(self.answer)
                self.done.wait(10)

    def close(self) -> None:
        self.done.set()
        self.sock.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 101 + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
    ],
    ids=["status line", "101 headers", "70 KiB header"],
)
def test_a_garbled_answer_is_a_failed_attempt_not_a_crash(
    fake_time: FakeTime, answer: bytes
) -> None:
    server = _RawServer(answer)
    transport = _timed(fake_time, max_attempts=1, timeout_seconds=5)
    try:
        result = post(transport, server.url)
    finally:
        server.close()
    assert not result.ok  # type: ignore[attr-defined]
    assert "malformed answer" in result.error  # type: ignore[attr-defined]


def test_a_trickling_answer_cannot_outlast_the_budget(fake_time: FakeTime) -> None:
    """The socket timeout is per read; the budget bounds the whole post."""
    server = _RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nx")
    reads = iter(range(1000))

    def clock() -> float:  # every look at the clock is a second later
        return fake_time.now + next(reads)

    transport = Transport(
        RetryPolicy(max_attempts=1, timeout_seconds=5, budget_seconds=2.5),
        sleep=fake_time.sleep,
        monotonic=clock,
    )
    try:
        result = post(transport, server.url)
    finally:
        server.close()
    assert not result.ok  # type: ignore[attr-defined]
