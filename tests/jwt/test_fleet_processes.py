"""Chaos across processes: one issuer rotating HS256 -> EdDSA on a fast injected schedule,
three verifier processes that know only the JWKS URL, thousands of tokens."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from tests.jwt.jwks_helpers import verify_in_process

from erp.clock import FrozenClock
from erp.jwt.jwks import WELL_KNOWN_PATH, JwksPublisher, wsgi_app
from erp.jwt.keyring import KeyRing, RotationPolicy, promote, prune, rotate, stage
from erp.jwt.tokens import TokenService

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(minutes=5)
TTL = timedelta(minutes=10)
STEP = timedelta(seconds=20)
POLICY = RotationPolicy(
    mode="staged",
    min_stage_period=MAX_AGE + timedelta(seconds=30),
    max_token_ttl=TTL,
    jwks_max_age=MAX_AGE,
)


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def issuer() -> Iterator[tuple[list[KeyRing], str]]:
    """The issuer's ring (a one-item list the test replaces) served on 127.0.0.1."""
    rings = [rotate(KeyRing(), START, RotationPolicy()).ring]
    server = make_server(
        "127.0.0.1",
        0,
        wsgi_app(JwksPublisher(lambda: rings[0], max_age=MAX_AGE)),
        handler_class=_Quiet,
    )
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        yield rings, f"http://127.0.0.1:{server.server_port}{WELL_KNOWN_PATH}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_jwks_only_verifiers_in_other_processes_reject_nothing_valid(
    issuer: tuple[list[KeyRing], str],
) -> None:
    """Three verifier processes: no valid token rejected, no token of a pruned key accepted."""
    rings, url = issuer
    clock = FrozenClock(START)
    context = multiprocessing.get_context("spawn")
    outbox = context.Queue()
    inboxes = [context.Queue() for _ in range(3)]
    workers = [
        context.Process(target=verify_in_process, args=(url, inbox, outbox), daemon=True)
        for inbox in inboxes
    ]
    for worker in workers:
        worker.start()
    service = TokenService(lambda: rings[0], clock=clock, policy=POLICY, monotonic=lambda: 0.0)
    live: list[tuple[str, str, datetime]] = []
    pruned_tokens: list[str] = []
    last_of: dict[str, str] = {}  # each key's newest token, to replay once it is pruned
    issued = 0
    try:
        for _ in range(int(timedelta(hours=2) / STEP)):
            now = clock()
            ring = rings[0]
            if ring.staged is None:
                ring = stage(ring, now, POLICY.with_alg("EdDSA")).ring
            elif now >= (ring.staged.created_at or now) + POLICY.min_stage_period:
                ring = promote(ring, now, POLICY).ring
            step = prune(ring, now, POLICY)
            gone = {ref["id"] for ref in step.event.get("removed", [])}
            rings[0] = step.ring
            pruned_tokens += [last_of[kid] for kid in gone if kid in last_of]
            live = [(t, kid, exp) for t, kid, exp in live if kid not in gone and exp > now]
            service.reload()
            if rings[0].active.private_key is not None:
                for n in range(10):
                    token = service.issue({"sub": f"u{n}"}, ttl=TTL, now=now)
                    live.append((token, rings[0].active.id, now + TTL))
                    last_of[rings[0].active.id] = token
                    issued += 1
            batch = [(t, True) for t, _, _ in live[-10:]] + [(t, True) for t, _, _ in live[:5]]
            batch += [(t, False) for t in pruned_tokens[-3:]]
            for inbox in inboxes:
                inbox.put((now.timestamp(), batch))
            for _ in inboxes:  # lockstep: the ring changes only after every verifier checked
                assert outbox.get(timeout=60) is None
            clock.advance(STEP)
        for inbox in inboxes:
            inbox.put(None)
        results = [outbox.get(timeout=120) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    assert [(r[0], r[1]) for r in results] == [(0, 0)] * 3
    assert sum(r[2] for r in results) > 5_000
    assert issued > 1_000
    assert pruned_tokens
