"""A real HTTP receiver on 127.0.0.1 standing in for Slack and PagerDuty, and delivery helpers."""

from __future__ import annotations

import json
import secrets
import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from erp.alerts.delivery import RetryPolicy, Transport


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    """A scripted answer: status, body, headers; ``hold`` makes the receiver stall."""

    status: int = 202
    body: str = '{"status":"success","message":"Event processed"}'
    headers: dict[str, str] = field(default_factory=dict)
    hold: bool = False


class Receiver:
    """A threaded HTTP server that records every POST and answers from a script.

    ``script`` is consumed one reply per request; when it is empty ``default`` answers.
    A reply with ``hold=True`` blocks its handler until the test ends (``release``), so
    the client's timeout fires without anyone sleeping.
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: deque[Reply] = deque()
        self.default = Reply()
        self.released = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers), body))
                    reply = receiver.script.popleft() if receiver.script else receiver.default
                if reply.hold:
                    receiver.released.wait(10)
                    return
                data = reply.body.encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path: str | None = None) -> list[Any]:
        with self._lock:
            return [r.body for r in self.requests if path is None or r.path == path]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP receiver (Slack and PagerDuty stand-in), stopped after the test."""
    server = Receiver()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (the receiver is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeTime:
    """Injectable ``sleep`` and ``monotonic``: sleeping advances the clock, instantly."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


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


def pagerduty_pages(bodies: list[Any]) -> list[str]:
    """The dedup keys that would page, modelling PagerDuty: a trigger pages only when its
    dedup key has no open alert; a resolve closes the alert."""
    open_keys: set[str] = set()
    pages: list[str] = []
    for body in bodies:
        key = body["dedup_key"]
        if body["event_action"] == "trigger":
            if key not in open_keys:
                pages.append(key)
                open_keys.add(key)
        elif body["event_action"] == "resolve":
            open_keys.discard(key)
    return pages
