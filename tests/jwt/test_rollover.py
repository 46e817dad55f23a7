"""A simulated fleet: an issuer rotating key pairs, three verifiers that know only the JWKS URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from tests.jwt.jwks_helpers import Ticker

from erp.clock import FrozenClock
from erp.errors import InvalidToken
from erp.jwt.jwks import WELL_KNOWN_PATH, JwksPublisher, wsgi_app
from erp.jwt.keyring import KeyRing, KeyState, RotationPolicy, promote, prune, rotate, stage
from erp.jwt.remote import RemoteKeySet
from erp.jwt.tokens import TokenService

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(minutes=5)
TTL = timedelta(minutes=10)
STEP = timedelta(seconds=20)


@dataclass
class Fleet:
    """The issuer's ring, the clocks every party shares, and where the set is served."""

    ring: KeyRing
    clock: FrozenClock
    ticker: Ticker
    url: str = ""
    tokens: list[tuple[str, str, datetime]] = field(default_factory=list)  # token, kid, exp

    def advance(self, delta: timedelta) -> None:
        """Move wall and monotonic time together."""
        self.clock.advance(delta)
        self.ticker.advance(delta.total_seconds())


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    """An HS256 ring whose JWK Set our WSGI app serves on 127.0.0.1 with a 5-minute max-age."""
    clock, ticker = FrozenClock(START), Ticker()
    state = Fleet(rotate(KeyRing(), START, RotationPolicy()).ring, clock, ticker)
    server = make_server(
        "127.0.0.1",
        0,
        wsgi_app(JwksPublisher(lambda: state.ring, max_age=MAX_AGE)),
        handler_class=_Quiet,
    )
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_port}{WELL_KNOWN_PATH}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _run(fleet: Fleet, policy: RotationPolicy, *, minutes: int) -> tuple[int, int, int]:
    """Rotate on schedule, issue a token each step, verify every live one at three verifiers.

    Returns (valid tokens rejected, tokens of pruned keys accepted, verifications). The
    verifiers never refetch on an unknown kid (a day's cooldown): only max-age refreshes
    them, so the schedule alone must keep them ahead of the issuer.
    """
    verifiers = []
    for offset in (0, 97, 211):  # first fetches at different moments: caches out of phase
        fleet.advance(timedelta(seconds=offset))
        keys = RemoteKeySet(
            fleet.url,
            monotonic=fleet.ticker,
            cooldown=timedelta(days=1),
            min_max_age=timedelta(seconds=1),
            timeout_seconds=2.0,
        )
        keys.keys()
        verifiers.append(TokenService(KeyRing, key_source=keys, clock=fleet.clock))
    issuer = TokenService(
        lambda: fleet.ring, clock=fleet.clock, monotonic=fleet.ticker, policy=policy
    )
    pruned: set[str] = set()
    rejected = accepted_pruned = checks = 0
    next_alg = "EdDSA"
    for _ in range(int(timedelta(minutes=minutes) / STEP)):
        now = fleet.clock()
        staged = fleet.ring.staged
        if staged is None:
            fleet.ring = stage(fleet.ring, now, policy.with_alg(next_alg)).ring
            next_alg = "EdDSA" if next_alg == "ES256" else "ES256"
        elif now >= (staged.created_at or now) + policy.min_stage_period:
            fleet.ring = promote(fleet.ring, now, policy).ring
        before = {k.id for k in fleet.ring.keys}
        fleet.ring = prune(fleet.ring, now, policy).ring
        pruned |= before - {k.id for k in fleet.ring.keys}
        active = fleet.ring.active
        if active.private_key is not None:
            token = issuer.issue({"sub": "u"}, ttl=TTL, now=now)
            fleet.tokens.append((token, active.id, now + TTL))
        live = fleet.tokens
        # the newest token (a key just promoted), the oldest (a key about to be pruned), one between
        sample = {0, len(live) // 2, len(live) - 1} if live else set()
        for token, kid, exp in (live[i] for i in sorted(sample)):
            for verifier in verifiers:
                checks += 1
                try:
                    verifier.verify(token, now=now)
                except InvalidToken:
                    if kid not in pruned and now < exp:
                        rejected += 1

                else:
                    if kid in pruned:
                        accepted_pruned += 1
        fleet.tokens = [t for t in fleet.tokens if t[2] + policy.leeway > now]
        fleet.advance(STEP)
    assert KeyState.RETIRING in {k.state for k in fleet.ring.keys} or pruned
    return rejected, accepted_pruned, checks


def test_staged_rollover_from_hs256_rejects_no_valid_token(fleet: Fleet) -> None:
    """HS256 -> EdDSA -> ES256 -> ...: with min stage > max-age, JWKS-only verifiers reject
    no valid token and accept no token of a pruned key."""
    policy = RotationPolicy(
        mode="staged",
        min_stage_period=MAX_AGE + timedelta(seconds=30),
        max_token_ttl=TTL,
        jwks_max_age=MAX_AGE,
    )
    rejected, accepted_pruned, checks = _run(fleet, policy, minutes=180)
    assert (rejected, accepted_pruned) == (0, 0)
    assert checks > 1_000


def test_stage_time_under_max_age_would_reject_tokens(fleet: Fleet) -> None:
    """The check has teeth: promoting sooner than max-age makes a verifier reject tokens
    (the policy here under-reports max-age, as a misconfigured deployment would)."""
    policy = RotationPolicy(
        mode="staged",
        min_stage_period=timedelta(minutes=1),
        max_token_ttl=TTL,
        jwks_max_age=timedelta(seconds=30),  # the server really says 5 minutes
    )
    rejected, _, _ = _run(fleet, policy, minutes=60)
    assert rejected > 0
