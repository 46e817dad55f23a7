"""Hypothesis state machine: random rotate/stage/promote/prune/issue/verify on a moving clock.

An independent model of the key life cycle predicts which operations are refused and what the
ring holds after each step; tokens are judged by the policy alone (valid until exp + leeway).
The real vault file, rotation log and a caching TokenService must agree with the model at
every step: no valid token is ever rejected, no invalid one ever accepted.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from erp.clock import FrozenClock
from erp.errors import InvalidToken, KeyRingError, PolicyViolation, UnknownKeyId
from erp.jwt.keyring import KeyRing, KeyState, RotationPolicy, generate_secret
from erp.jwt.rotation import load_ring, promote_key, prune_keys, rotate_key, stage_key
from erp.security import TokenService
from erp.store.audit import AuditLog
from erp.store.vault import META_KEY, VaultFile

POLICY = RotationPolicy(
    max_token_ttl=timedelta(hours=1),
    leeway=timedelta(seconds=30),
    min_stage_period=timedelta(minutes=10),
)


@dataclass(frozen=True)
class ModelKey:
    """What the model knows of one key."""

    state: KeyState
    created: datetime
    deactivated: datetime | None = None


@dataclass(frozen=True)
class Issued:
    """A token the service issued, with what the policy says about it."""

    token: str
    kid: str
    exp: int
    number: int


Model = dict[str, ModelKey]
_RAM_DIR = "/dev/shm" if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK) else None


def _kid(token: str) -> str:
    head = token.split(".")[0]
    kid = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]
    assert isinstance(kid, str)
    return kid


class JwtRotationMachine(RuleBasedStateMachine):
    """The vault, log and a token service, driven at random and checked against a model."""

    def __init__(self) -> None:
        super().__init__()
        # a RAM-backed folder when there is one: same code path, no disk fsync wait per step
        self.folder = Path(tempfile.mkdtemp(prefix="erp-state-", dir=_RAM_DIR))
        self.vault = VaultFile(self.folder / "jwt_secrets.json")
        self.log = AuditLog(self.folder / "logs" / "jwt_rotation.log")
        self.clock = FrozenClock(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
        # one "app instance": ring from the vault, cached for 1 s of the same moving clock
        self.service = TokenService(
            lambda: load_ring(self.vault),
            policy=POLICY,
            clock=self.clock,
            monotonic=lambda: self.clock().timestamp(),
            check_interval_seconds=1.0,
            reload_interval_seconds=1.0,
        )
        self.model: Model = {}
        self.tokens: list[Issued] = []
        self.issued = 0

    def teardown(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- the model ---------------------------------------------------------------------

    def _active(self, model: Model) -> str | None:
        return next((k for k, v in model.items() if v.state is KeyState.ACTIVE), None)

    def _staged(self, model: Model) -> str | None:
        return next((k for k, v in model.items() if v.state is KeyState.STAGED), None)

    def _demoted(self, model: Model, key_id: str) -> Model:
        now = self.clock()
        return {**model, key_id: replace(model[key_id], state=KeyState.RETIRING, deactivated=now)}

    def _promoted(self, model: Model) -> Model | None:
        staged, active = self._staged(model), self._active(model)
        if staged is None or active is None:
            return None
        if self.clock() < model[staged].created + POLICY.min_stage_period:
            return None
        out = self._demoted(model, active)
        out[staged] = replace(out[staged], state=KeyState.ACTIVE)
        return out

    def _expect_rotate(self, mode: str) -> tuple[Model, KeyState | None] | None:
        """The ring after a rotation and the new key's state, or None if it is refused."""
        active = self._active(self.model)
        if active is None:
            return dict(self.model), KeyState.ACTIVE
        if mode == "immediate":
            return self._demoted(self.model, active), KeyState.ACTIVE
        if self._staged(self.model) is None:
            return dict(self.model), KeyState.STAGED
        promoted = self._promoted(self.model)
        return None if promoted is None else (promoted, KeyState.STAGED)

    def _apply(
        self, run: object, expected: tuple[Model, KeyState | None] | None, refusal: type[Exception]
    ) -> None:
        """Run the operation; check refusal or the resulting ring against the model."""
        assert callable(run)
        before = self.vault.path.read_bytes() if self.vault.exists() else None
        if expected is None:
            with pytest.raises(refusal):
                run()
            assert (self.vault.path.read_bytes() if self.vault.exists() else None) == before
            return
        run()
        model, new_state = expected
        ring = load_ring(self.vault)
        new_ids = [k.id for k in ring.keys if k.id not in self.model]
        assert len(new_ids) == (0 if new_state is None else 1)
        if new_state is not None:
            model[new_ids[0]] = ModelKey(new_state, self.clock())
        self.model = model
        self._compare(ring)

    def _compare(self, ring: KeyRing) -> None:
        actual = {k.id: (k.state, k.deactivated_at) for k in ring.keys}
        expected = {k: (v.state, v.deactivated) for k, v in self.model.items()}
        assert actual == expected

    # -- rules -------------------------------------------------------------------------

    @rule(mode=st.sampled_from(["immediate", "staged"]))
    def rotate(self, mode: str) -> None:
        """Rotate under the immediate or the staged policy."""
        policy = POLICY.with_mode(mode)
        self._apply(
            lambda: rotate_key(vault=self.vault, log=self.log, policy=policy, clock=self.clock),
            self._expect_rotate(mode),
            PolicyViolation,
        )

    @rule()
    def stage(self) -> None:
        """Stage a verify-only key (refused on an empty ring or when one is staged)."""
        refused = self._active(self.model) is None or self._staged(self.model) is not None
        self._apply(
            lambda: stage_key(vault=self.vault, log=self.log, policy=POLICY, clock=self.clock),
            None if refused else (dict(self.model), KeyState.STAGED),
            PolicyViolation,
        )

    @rule()
    def promote(self) -> None:
        """Promote the staged key (refused when none is staged or it is too fresh)."""
        promoted = self._promoted(self.model)
        self._apply(
            lambda: promote_key(vault=self.vault, log=self.log, policy=POLICY, clock=self.clock),
            None if promoted is None else (promoted, None),
            PolicyViolation,
        )

    @rule()
    def prune(self) -> None:
        """Prune: only retiring keys strictly past deactivation + max TTL + leeway go."""
        now = self.clock()
        kept = {
            k: v
            for k, v in self.model.items()
            if not (
                v.state is KeyState.RETIRING
                and v.deactivated is not None
                and v.deactivated + POLICY.max_token_ttl + POLICY.leeway <= now
            )
        }
        self._apply(
            lambda: prune_keys(vault=self.vault, log=self.log, policy=POLICY, clock=self.clock),
            (kept, None),
            PolicyViolation,
        )

    @rule(seconds=st.one_of(st.integers(0, 90), st.integers(0, 7200)))
    def advance(self, seconds: int) -> None:
        """Move the clock forward by whole seconds."""
        self.clock.advance(seconds)

    @precondition(lambda self: bool(self._boundaries()))
    @rule(data=st.data(), offset=st.sampled_from([0, 1]))
    def advance_to_a_boundary(self, data: st.DataObject, offset: int) -> None:
        """Jump exactly onto (or one second past) a token expiry, prune time or promote time."""
        moment = data.draw(st.sampled_from(sorted(self._boundaries())))
        self.clock.now = moment + timedelta(seconds=offset)

    def _boundaries(self) -> set[datetime]:
        now = self.clock()
        found = (
            {datetime.fromtimestamp(t.exp, UTC) + POLICY.leeway for t in self.tokens}
            | {
                v.deactivated + POLICY.max_token_ttl + POLICY.leeway
                for v in self.model.values()
                if v.deactivated is not None
            }
            | {
                v.created + POLICY.min_stage_period
                for v in self.model.values()
                if v.state is KeyState.STAGED
            }
        )
        return {m for m in found if m >= now}

    @rule(ttl_seconds=st.one_of(st.integers(1, 3600), st.just(3600)))
    def issue(self, ttl_seconds: int) -> None:
        """Issue a token; it is signed by the key that is active now."""
        if self._active(self.model) is None:
            with pytest.raises(KeyRingError, match="empty"):
                self.service.issue({}, ttl=timedelta(seconds=ttl_seconds))
            return
        self.issued += 1
        token = self.service.issue({"n": self.issued}, ttl=timedelta(seconds=ttl_seconds))
        kid = _kid(token)
        # the service's ring is at most 1 s stale: a key retired this very second may still sign
        assert kid == self._active(self.model) or self.model[kid].deactivated == self.clock()
        exp = int(self.clock().timestamp()) + ttl_seconds
        self.tokens.append(Issued(token, kid, exp, self.issued))

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def verify_forgery(self, data: st.DataObject) -> None:
        """A token with a real kid but a foreign key, or an unknown kid, is always rejected."""
        kid = data.draw(st.sampled_from([*sorted(self.model), "k-never-issued"]))
        exp = int(self.clock().timestamp()) + 600
        token = jwt.encode({"exp": exp}, generate_secret(), algorithm="HS256", headers={"kid": kid})
        with pytest.raises(UnknownKeyId if kid not in self.model else InvalidToken):
            self.service.verify(token)

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def every_token_verifies_exactly_while_the_policy_says_it_is_valid(self) -> None:
        """Each issued token verifies iff now < exp + leeway; its key is never pruned early."""
        now = self.clock().timestamp()
        for issued in self.tokens:
            if now < issued.exp + POLICY.leeway.total_seconds():
                assert issued.kid in self.model, "a key was pruned while its tokens were valid"
                assert self.service.verify(issued.token)["n"] == issued.number
            else:
                with pytest.raises(InvalidToken):
                    self.service.verify(issued.token)

    @invariant()
    def log_chain_is_intact_and_matches_the_vault(self) -> None:
        """After every step the rotation log verifies against the vault's head."""
        if self.vault.exists():
            head = self.vault.read()[META_KEY]["audit"]
            report = self.log.verify(head)
            assert report.ok, report.problems

    @invariant()
    def at_most_one_active_and_one_staged_key(self) -> None:
        """The model (and hence the vault) never holds two active or two staged keys."""
        states = [v.state for v in self.model.values()]
        assert states.count(KeyState.ACTIVE) == (1 if states else 0)
        assert states.count(KeyState.STAGED) <= 1


def test_random_rotations_never_reject_valid_or_accept_invalid_tokens() -> None:
    """Any sequence of rotate/stage/promote/prune/issue/verify agrees with the policy model."""
    run_state_machine_as_test(  # type: ignore[no-untyped-call,unused-ignore]
        JwtRotationMachine,
        settings=settings(
            max_examples=50,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
