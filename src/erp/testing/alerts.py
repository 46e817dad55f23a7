"""Test helpers for alerting code: a real local receiver standing in for Slack and PagerDuty.

Use them to test your own alert routing the way ``erp``'s suite does::

    receiver = Receiver()
    receiver.start()
    ...  # point ERP_PAGERDUTY_EVENTS_URL / the webhook at receiver.url("/pd")
    assert receiver.bodies("/pd")[0]["event_action"] == "trigger"
    receiver.stop()

Only 127.0.0.1 is ever bound. ``FakeTime`` makes retries and backoff instant.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeTime", "Received", "Receiver", "Reply", "pagerduty_pages"]


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

            def log_message(self, format: str, *args: Any) -> None:  # quiet
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

    def __enter__(self) -> Receiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


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
