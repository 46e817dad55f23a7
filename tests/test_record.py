"""The value objects of the rotation path (erp._record): frozen, comparable, never leaking."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime

import pytest

from erp.errors import KeyRingError, PolicyViolation
from erp.jwt.keyring import Key, KeyRing, KeyState, RotationPolicy, generate_secret
from erp.store.journal import Recorded

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


def _key(key_id: str = "k1", state: KeyState = KeyState.ACTIVE) -> Key:
    return Key(key_id, generate_secret(), state, created_at=NOW)


def test_equal_fields_make_equal_and_hash_equal_values() -> None:
    """Two keys with the same fields are equal and hash alike; another field makes them differ."""
    key = _key()
    twin = Key(key.id, key.secret, key.state, created_at=NOW)
    assert key == twin
    assert hash(key) == hash(twin)
    assert key != key.replace(state=KeyState.RETIRING)
    assert key != (key.id, key.secret)  # not a tuple, unlike a namedtuple


def test_values_are_immutable() -> None:
    """Assigning or deleting a field raises; the value is unchanged."""
    key = _key()
    with pytest.raises(AttributeError, match="immutable"):
        key.state = KeyState.RETIRING
    with pytest.raises(AttributeError):
        del key.id
    with pytest.raises(AttributeError):
        key.extra = 1
    assert key.state is KeyState.ACTIVE


def test_repr_never_shows_a_secret_or_a_document() -> None:
    """repr(Key) names id and state but not the secret; repr(Recorded) omits the document."""
    key = _key()
    assert key.secret not in repr(key)
    assert "k1" in repr(key)
    assert "secret" not in repr(key)
    recorded = Recorded({"action": "rotate"}, None, {"JWT_SECRETS": {"k1": key.secret}})
    assert key.secret not in repr(recorded)
    assert "rotate" in repr(recorded)


def test_replace_validates_again_and_refuses_unknown_fields() -> None:
    """replace() runs the constructor's checks and names a field that does not exist."""
    policy = RotationPolicy()
    assert policy.replace(mode="staged").mode == "staged"
    with pytest.raises(PolicyViolation, match="unknown"):
        policy.replace(mode="sometimes")
    with pytest.raises(TypeError, match="'colour'"):
        policy.replace(colour="blue")
    ring = KeyRing((_key("a"),))
    with pytest.raises(KeyRingError, match="exactly one active"):
        ring.replace(keys=(_key("a"), _key("b")))


@pytest.mark.parametrize("clone", [pickle.loads, copy.deepcopy], ids=["pickle", "deepcopy"])
def test_values_survive_pickling_and_copying(clone: object) -> None:
    """A ring and a policy come back equal through pickle and deepcopy (worker processes)."""
    ring = KeyRing((_key("a"), _key("b", KeyState.RETIRING)))
    policy = RotationPolicy(mode="staged")
    for value in (ring, policy):
        data = pickle.dumps(value) if clone is pickle.loads else value
        assert clone(data) == value  # type: ignore[operator]
