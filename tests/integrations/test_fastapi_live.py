"""A real uvicorn process keeps serving while the vault's JWT key is rotated and pruned."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from tests.integrations.conftest import ROOT, Issue

from erp.audit import AuditLog
from erp.clock import FrozenClock, to_iso
from erp.rotation.jwt import prune_keys, rotate_key
from erp.security import TokenService
from erp.vault import VaultFile

TTL = timedelta(minutes=15)


@dataclass
class Server:
    """A uvicorn process on 127.0.0.1 and what it wrote to stderr."""

    process: subprocess.Popen[str]
    port: int
    clock_file: Path
    log_lines: list[str] = field(default_factory=list)

    def set_clock(self, clock: FrozenClock) -> None:
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(to_iso(clock()))
        tmp.replace(self.clock_file)

    def get(self, token: str, conn: http.client.HTTPConnection | None = None) -> tuple[int, str]:
        own = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        own.request("GET", "/me", headers={"Authorization": f"Bearer {token}"})
        response = own.getresponse()
        body = response.read().decode()
        challenge = response.getheader("WWW-Authenticate") or ""
        if conn is None:
            own.close()
        return response.status, challenge + body


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(
    tmp_path: Path, jwt_vault: VaultFile, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Server]:
    """The example app under uvicorn, reading the test's vault and clock file."""
    clock_file = tmp_path / "clock"
    clock_file.write_text(to_iso(clock()))
    port = _free_port()
    env = {**os.environ, "ERP_TEST_CLOCK_FILE": str(clock_file), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "tests.integrations.live_server:make_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "info",
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert process.stderr is not None
    live = Server(process, port, clock_file)
    for line in process.stderr:  # blocks until uvicorn says it listens; no polling
        live.log_lines.append(line)
        if "Application startup complete" in line:
            break
    else:
        pytest.fail("uvicorn exited before starting: " + "".join(live.log_lines))
    drain = threading.Thread(target=lambda: live.log_lines.extend(process.stderr or []))
    drain.start()
    try:
        yield live
    finally:
        process.terminate()
        process.wait(timeout=30)
        drain.join(timeout=30)
        process.stderr.close()


class Load:
    """A client thread sending requests with the given tokens until stopped; counts outcomes."""

    def __init__(self, server: Server, tokens: list[str]) -> None:
        self.server = server
        self.tokens = tokens
        self.ok: Counter[str] = Counter()
        self.failures: list[tuple[int, str]] = []
        self.changed = threading.Condition()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        i = 0
        while not self.stop.is_set():
            token = self.tokens[i % len(self.tokens)]
            i += 1
            status, text = self.server.get(token, conn)
            with self.changed:
                if status == 200:
                    self.ok[token] += 1
                else:
                    self.failures.append((status, text))
                self.changed.notify_all()
        conn.close()

    def wait_for(self, token: str, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.ok[token] >= count or self.failures, 60)


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def test_rotation_and_prune_under_live_traffic(
    server: Server,
    jwt_vault: VaultFile,
    log: AuditLog,
    clock: FrozenClock,
    service: TokenService,
    issue: Issue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Old tokens work until they expire, new ones use the new key, no request fails."""
    monkeypatch.setenv("ERP_JWT_MAX_TOKEN_TTL_SECONDS", str(int(TTL.total_seconds())))
    pid = server.process.pid
    old = issue("ada", ttl=TTL)
    load = Load(server, [old])
    load.thread.start()
    try:
        load.wait_for(old, 20)
        clock.advance(timedelta(minutes=1))
        server.set_clock(clock)
        rotate_key(vault=jwt_vault, log=log, clock=clock)  # what `erp-secrets jwt rotate` runs
        service.reload()
        new = issue("bo", ttl=TTL)
        assert _kid(new) != _kid(old)
        load.tokens.append(new)
        load.wait_for(new, 50)
        load.wait_for(old, load.ok[old] + 50)  # the old key keeps working after the switch
    finally:
        load.stop.set()
        load.thread.join(timeout=60)
    assert load.failures == []

    clock.advance(timedelta(minutes=9))  # T0+10m: the old token still has 5 minutes
    server.set_clock(clock)
    later = issue("cy", ttl=TTL)
    assert (server.get(old)[0], server.get(later)[0]) == (200, 200)

    clock.advance(
        timedelta(minutes=6, seconds=31)
    )  # past old exp + leeway, and the key's prune time
    server.set_clock(clock)
    pruned = prune_keys(vault=jwt_vault, log=log, clock=clock)
    assert [_kid(old)] == [k["id"] for k in (pruned.event or {})["removed"]]
    status, text = server.get(old)
    assert (status, 'error="invalid_token"' in text) == (401, True)
    service.reload()
    after = issue("di", ttl=TTL)
    assert (server.get(later)[0], server.get(after)[0]) == (200, 200)
    assert server.process.poll() is None
    assert pid == server.process.pid

    secrets = json.loads(jwt_vault.path.read_text())["JWT_SECRETS"].values()
    logged = "".join(server.log_lines)
    assert not [s for s in [*secrets, old, new, later, after] if s in logged]
