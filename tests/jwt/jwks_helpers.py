"""Test doubles for JWK Set clients: a real local HTTP server and a hand-moved clock."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JwksServer:
    """An HTTP server whose answer tests set: a JWK Set, a status, garbage, silence."""

    def __init__(self) -> None:
        self.mode = "ok"  # ok | slow | dribble | reset | raw
        self.status = 200
        self.body = b'{"keys":[]}'
        self.headers: dict[str, str] = {}
        self.etag: str | None = None
        self.hits = 0
        self.seen_if_none_match: list[str | None] = []
        self.release = threading.Event()  # frees handlers blocked in slow modes at teardown
        self.port = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """The JWK Set's URL."""
        return f"http://127.0.0.1:{self.port}/.well-known/jwks.json"

    def publish(self, jwks: dict[str, Any], *, max_age: int | None = 300) -> None:
        """Serve ``jwks`` with an ETag and (unless ``None``) a max-age."""
        self.mode, self.status = "ok", 200
        self.body = json.dumps(jwks).encode()
        self.etag = f'"{self.hits}-{len(self.body)}-{hash(self.body) & 0xFFFF}"'
        self.headers = {"Content-Type": "application/json", "ETag": self.etag}
        if max_age is not None:
            self.headers["Cache-Control"] = f"public, max-age={max_age}"

    def raw(self, body: bytes, *, status: int = 200) -> None:
        """Serve ``body`` as it is, with ``status``."""
        self.mode, self.status, self.body, self.etag = "raw", status, body, None
        self.headers = {"Content-Type": "application/json"}

    def start(self) -> None:
        """Listen (again, on the same port after a stop)."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.hits += 1
                owner.seen_if_none_match.append(self.headers.get("If-None-Match"))
                if owner.mode == "reset":
                    self.connection.close()
                    return
                if owner.mode == "slow":
                    owner.release.wait(2.0)
                if owner.etag and self.headers.get("If-None-Match") == owner.etag:
                    self.send_response(304)
                    for name, value in owner.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    return
                self.send_response(owner.status)
                for name, value in owner.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                if owner.mode == "dribble":
                    for byte in owner.body:
                        if owner.release.wait(0.02):
                            return
                        try:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                        except OSError:
                            return
                    return
                self.wfile.write(owner.body)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()

    def stop(self) -> None:
        """Stop listening: connections are refused until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class Ticker:
    """An injectable monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``."""
        self.now += seconds


def verify_in_process(url: str, inbox: Any, outbox: Any) -> None:
    """A verifier process that knows only ``url``: verifies what ``inbox`` sends.

    Each message is ``(sim_seconds, [(token, must_verify), ...])`` on the issuer's injected
    clock, or ``None`` to stop; puts ``(valid rejected, invalid accepted, checked)`` on
    ``outbox`` at the end, and ``None`` after each message (the issuer waits for it, so
    every set is fetched at the simulated time of its message). A day's cooldown: only
    max-age refreshes this verifier's set.
    """
    from datetime import UTC, datetime, timedelta

    from erp.errors import InvalidToken
    from erp.jwt.keyring import KeyRing, RotationPolicy
    from erp.jwt.remote import RemoteKeySet
    from erp.jwt.tokens import TokenService

    ticker = Ticker()
    keys = RemoteKeySet(
        url,
        monotonic=ticker,
        cooldown=timedelta(days=1),
        min_max_age=timedelta(seconds=1),
        timeout_seconds=5.0,
    )
    service = TokenService(KeyRing, key_source=keys, policy=RotationPolicy())
    rejected = accepted = checked = 0
    while True:
        message = inbox.get()
        if message is None:
            break
        sim_seconds, batch = message
        ticker.now = sim_seconds
        now = datetime.fromtimestamp(sim_seconds, UTC)
        for token, must_verify in batch:
            checked += 1
            try:
                service.verify(token, now=now)
            except InvalidToken:
                rejected += must_verify
            else:
                accepted += not must_verify
        outbox.put(None)  # done with this step: the issuer may move its clock and ring on
    outbox.put((rejected, accepted, checked))
