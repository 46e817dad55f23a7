"""The Fernet key ring's pure transitions: rotate and retire as functions of (ring, now)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from hypothesis import given, settings
from hypothesis import strategies as st

from erp.errors import ConfigError
from erp.fernet import FernetRingKey, parse_key
from erp.fernet.lifecycle import KeyState, Proof, StoredRing, retire, rotate

from .conftest import KeyFactory

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _key(factory: KeyFactory) -> FernetRingKey:
    return parse_key(factory(), "test")


def test_rotate_on_an_empty_ring_makes_the_primary(new_key: KeyFactory) -> None:
    """The first rotation: a primary, no fallbacks, a record stamped now, no previous key."""
    fresh = _key(new_key)
    step = rotate(StoredRing(), NOW, fresh)
    assert step.ring.primary == fresh
    assert step.ring.fallbacks == ()
    assert step.ring.records[fresh.fingerprint].state == KeyState.PRIMARY
    assert step.event.previous is None
    assert step.event.as_dict()["new"] == {"fingerprint": fresh.fingerprint}


def test_rotate_demotes_the_primary_to_newest_fallback(new_key: KeyFactory) -> None:
    """The old primary leads the fallbacks, deactivated now; the input ring is unchanged."""
    first, second, third = _key(new_key), _key(new_key), _key(new_key)
    ring = rotate(rotate(StoredRing(), NOW, first).ring, NOW, second).ring
    step = rotate(ring, LATER, third)
    assert step.ring.fallbacks == (second, first)
    assert step.event.fallbacks == (second.fingerprint, first.fingerprint)
    record = step.ring.records[second.fingerprint]
    assert (record.state, record.deactivated_at) == ("fallback", "2026-11-26T12:00:00.000000Z")
    assert ring.primary == second  # pure: the ring given is not touched


def test_rotate_keeps_a_key_in_use_elsewhere(new_key: KeyFactory) -> None:
    """A key the services use but the ring lacks is kept as the newest fallback."""
    stored, in_use, fresh = _key(new_key), _key(new_key), _key(new_key)
    ring = rotate(StoredRing(), NOW, stored).ring
    step = rotate(ring, LATER, fresh, in_use=in_use)
    assert step.ring.fallbacks == (in_use, stored)
    assert step.event.adopted_from_environment == in_use.fingerprint
    assert rotate(ring, LATER, fresh, in_use=stored).event.adopted_from_environment is None


def test_rotate_refuses_a_key_already_in_the_ring(new_key: KeyFactory) -> None:
    """Rotating to a key the ring holds would retire nothing: refused."""
    key = _key(new_key)
    ring = rotate(StoredRing(), NOW, key).ring
    with pytest.raises(ConfigError, match="already in the ring"):
        rotate(ring, LATER, key)


def test_retire_removes_every_fallback_and_records_the_proof(new_key: KeyFactory) -> None:
    """Retire leaves the primary alone, marks the rest retired, carries the proof."""
    old, new = _key(new_key), _key(new_key)
    ring = rotate(rotate(StoredRing(), NOW, old).ring, NOW, new).ring
    step = retire(ring, LATER, {"db": Proof("2026-11-26T11:00:00Z", "sha256:00")})
    assert step is not None
    assert step.ring.keys == (new,)
    assert step.ring.records[old.fingerprint].state == KeyState.RETIRED
    assert step.event.as_dict()["proof"] == {
        "db": {"verified_at": "2026-11-26T11:00:00Z", "digest": "sha256:00"}
    }
    assert retire(step.ring, LATER, {}) is None  # nothing left to retire


def test_retire_without_a_primary_is_a_setup_error() -> None:
    """A vault with no FERNET_KEY has nothing to retire towards."""
    with pytest.raises(ConfigError, match="no FERNET_KEY"):
        retire(StoredRing(), NOW, {})


@settings(max_examples=50, deadline=None)
@given(steps=st.lists(st.sampled_from(["rotate", "retire"]), min_size=1, max_size=12))
def test_any_sequence_keeps_one_primary_and_every_key_recorded(steps: list[str]) -> None:
    """After any rotate/retire sequence: one primary, fallbacks newest first, all recorded."""
    ring, moment = StoredRing(), NOW
    made: list[FernetRingKey] = []
    for step in steps:
        moment = moment.replace(minute=(moment.minute + 1) % 60)
        if step == "rotate":
            fresh = parse_key(Fernet.generate_key().decode(), "test")
            ring = rotate(ring, moment, fresh).ring
            made.append(fresh)
        elif ring.primary is not None:
            step_done = retire(ring, moment, {})
            ring = step_done.ring if step_done is not None else ring
    if not made:
        assert ring.primary is None
        return
    assert ring.primary == made[-1]
    assert [k.key for k in ring.keys] == list(dict.fromkeys(k.key for k in ring.keys))
    order = [made.index(k) for k in ring.fallbacks]
    assert order == sorted(order, reverse=True)  # newest first
    assert set(ring.records) == {k.fingerprint for k in made}
    states = {fp: r.state for fp, r in ring.records.items()}
    assert states[made[-1].fingerprint] == "primary"
    assert {states[k.fingerprint] for k in ring.fallbacks} <= {"fallback"}
