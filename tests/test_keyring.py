"""The pure key ring: states, transitions under a policy, parsing of the runbook's maps."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from erp.clock import FrozenClock, to_iso
from erp.errors import KeyRingError, PolicyViolation, SettingError, WeakSecret
from erp.jwt.keyring import (
    MIN_SECRET_BYTES,
    Key,
    KeyRing,
    KeyState,
    RotationPolicy,
    binary_secret,
    check_secret_strength,
    fingerprint,
    generate_secret,
    key_bytes,
    new_key_id,
    promote,
    prune,
    prune_plan,
    rotate,
    stage,
)

POLICY = RotationPolicy(
    max_token_ttl=timedelta(hours=1),
    leeway=timedelta(seconds=30),
    min_stage_period=timedelta(minutes=10),
)
STAGED = POLICY.replace(mode="staged")


def _ring_of(clock: FrozenClock, rotations: int, policy: RotationPolicy = POLICY) -> KeyRing:
    ring = KeyRing()
    for _ in range(rotations):
        ring = rotate(ring, clock(), policy).ring
        clock.advance(60)
    return ring


def test_generated_secrets_are_at_least_256_bits_and_distinct() -> None:
    """generate_secret returns URL-safe text of at least 256 bits, fresh on every call."""
    made = {generate_secret() for _ in range(50)}
    assert len(made) == 50
    assert all(len(s.encode()) >= MIN_SECRET_BYTES for s in made)
    assert all(check_secret_strength(s, "generated") == s for s in made)


def test_short_secret_is_refused_naming_where_it_was_found() -> None:
    """A secret under 256 bits raises WeakSecret naming its source and the fix."""
    with pytest.raises(WeakSecret) as caught:
        check_secret_strength(secrets.token_urlsafe(16), "JWT_SECRETS['k1']")
    text = str(caught.value)
    assert "JWT_SECRETS['k1']" in text
    assert "at least 256 bits" in text
    assert "erp-secrets jwt rotate" in text


def test_low_variety_secret_is_refused() -> None:
    """A long secret made of few distinct characters is refused as guessable."""
    with pytest.raises(WeakSecret, match="distinct characters"):
        check_secret_strength("ab" * 40, "JWT_SECRETS['k1']")


def test_non_string_secret_is_refused() -> None:
    """A secret that is not a string (a number in the JSON) is refused."""
    with pytest.raises(WeakSecret, match="not a string"):
        check_secret_strength(12345, "JWT_SECRETS['k1']")


@pytest.mark.parametrize(
    "shape",
    [
        "-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n",
        "ssh-ed25519 {body} ops@example",
        '{{"kty": "oct", "k": "{body}"}}',
    ],
)
def test_public_key_or_jwk_is_refused_as_an_hmac_secret(shape: str) -> None:
    """PEM, SSH and JWK material is refused as a secret (HMAC/public-key confusion)."""
    with pytest.raises(WeakSecret, match="not an HMAC secret"):
        check_secret_strength(shape.format(body=secrets.token_urlsafe(48)), "JWT_SECRETS['k']")


def test_fingerprint_identifies_without_revealing() -> None:
    """fingerprint is stable, short, differs between secrets and contains no secret text."""
    secret = generate_secret()
    assert fingerprint(secret) == fingerprint(secret)
    assert fingerprint(secret) != fingerprint(generate_secret())
    assert fingerprint(secret).startswith("sha256:")
    assert len(fingerprint(secret)) == len("sha256:") + 16
    assert secret[:8] not in fingerprint(secret)


def test_key_repr_never_shows_the_secret() -> None:
    """repr and str of a Key, a KeyRing and a Transition omit the secret."""
    clock = FrozenClock()
    step = rotate(KeyRing(), clock(), POLICY)
    secret = step.ring.active.secret
    for shown in (repr(step.ring.active), str(step.ring.active), repr(step.ring), repr(step)):
        assert secret not in shown


def test_new_key_ids_sort_by_time_and_do_not_collide() -> None:
    """Key ids carry the creation time (sortable) and a random suffix."""
    clock = FrozenClock()
    first = new_key_id(clock())
    later = new_key_id(clock.advance(3600))
    assert first < later
    assert len({new_key_id(clock()) for _ in range(200)}) == 200


def test_a_clashing_generated_id_is_drawn_again(
    clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If a generated id is already in the ring (same second, same suffix), another is drawn."""
    ring = _ring_of(clock, 1)
    taken = ring.active.id
    draws = iter([taken, taken, "k-fresh"])
    monkeypatch.setattr("erp.jwt.keyring.new_key_id", lambda now: next(draws))
    assert rotate(ring, clock(), POLICY).ring.active.id == "k-fresh"


def test_first_rotation_creates_one_active_key(clock: FrozenClock) -> None:
    """Rotating an empty ring creates a single active key activated now."""
    step = rotate(KeyRing(), clock(), POLICY)
    (key,) = step.ring.keys
    assert key.state is KeyState.ACTIVE
    assert key.created_at == key.activated_at == clock()
    assert step.event["previous"] is None
    assert step.event["new"] == {"id": key.id, "fingerprint": key.fingerprint}


def test_immediate_rotation_demotes_previous_key_to_retiring(clock: FrozenClock) -> None:
    """An immediate rotation adds an active key and the previous one starts retiring now."""
    ring = _ring_of(clock, 1)
    old = ring.active
    step = rotate(ring, clock(), POLICY)
    assert step.ring.active.id != old.id
    demoted = step.ring.get(old.id)
    assert demoted is not None
    assert demoted.state is KeyState.RETIRING
    assert demoted.deactivated_at == clock()
    assert demoted.secret == old.secret
    assert step.event["previous"] == {"id": old.id, "fingerprint": old.fingerprint}


def test_every_key_in_the_ring_verifies_but_only_one_signs(clock: FrozenClock) -> None:
    """verification_keys holds staged, active and retiring keys; exactly one is active."""
    ring = _ring_of(clock, 3)
    ring = stage(ring, clock(), POLICY).ring
    assert set(ring.secrets_map()) == {k.id for k in ring.keys}
    assert [k.state for k in ring.keys].count(KeyState.ACTIVE) == 1
    assert {k.state for k in ring.keys} == set(KeyState)


def test_ring_refuses_two_active_keys_or_duplicate_ids(clock: FrozenClock) -> None:
    """A ring with two active keys, or one id twice, cannot be built."""
    a = Key("a", generate_secret(), KeyState.ACTIVE, clock())
    b = Key("b", generate_secret(), KeyState.ACTIVE, clock())
    with pytest.raises(KeyRingError, match="exactly one active key"):
        KeyRing((a, b))
    with pytest.raises(KeyRingError, match="same key id twice"):
        KeyRing((a, a.replace(state=KeyState.RETIRING)))


def test_empty_ring_has_no_active_key() -> None:
    """Asking an empty ring for its active key says how to create one."""
    with pytest.raises(KeyRingError, match="erp-secrets jwt rotate"):
        _ = KeyRing().active


def test_rotation_refuses_an_existing_key_id(clock: FrozenClock) -> None:
    """Rotating with a key id already in the ring is refused."""
    ring = _ring_of(clock, 1)
    with pytest.raises(KeyRingError, match="already exists"):
        rotate(ring, clock(), POLICY, key_id=ring.active.id)


def test_rotation_refuses_a_weak_supplied_secret(clock: FrozenClock) -> None:
    """A caller-supplied secret must pass the strength check."""
    with pytest.raises(WeakSecret):
        rotate(KeyRing(), clock(), POLICY, secret=secrets.token_urlsafe(8))


def test_stage_adds_a_verify_only_key(clock: FrozenClock) -> None:
    """stage adds a staged key and leaves the active key signing."""
    ring = _ring_of(clock, 1)
    step = stage(ring, clock(), POLICY)
    assert step.ring.active.id == ring.active.id
    staged = step.ring.staged
    assert staged is not None
    assert staged.state is KeyState.STAGED
    assert staged.activated_at is None


def test_staging_twice_is_refused(clock: FrozenClock) -> None:
    """A second stage before promote is refused (Keystone's rotate-twice foot-gun)."""
    ring = stage(_ring_of(clock, 1), clock(), POLICY).ring
    with pytest.raises(PolicyViolation, match="already staged"):
        stage(ring, clock.advance(3600), POLICY)


def test_staging_into_an_empty_ring_is_refused(clock: FrozenClock) -> None:
    """stage needs an active key first."""
    with pytest.raises(PolicyViolation, match="empty ring"):
        stage(KeyRing(), clock(), POLICY)


def test_promote_before_min_stage_period_is_refused_with_the_time_it_is_allowed(
    clock: FrozenClock,
) -> None:
    """Promoting a key staged for less than min_stage_period names when it becomes allowed."""
    ring = stage(_ring_of(clock, 1), clock(), POLICY).ring
    allowed_at = clock() + POLICY.min_stage_period
    clock.advance(POLICY.min_stage_period - timedelta(seconds=1))
    with pytest.raises(PolicyViolation) as caught:
        promote(ring, clock(), POLICY)
    assert to_iso(allowed_at) in str(caught.value)


def test_promote_after_min_stage_period_swaps_active_and_staged(clock: FrozenClock) -> None:
    """After the staging period the staged key signs and the old active key retires."""
    ring = _ring_of(clock, 1)
    old = ring.active
    ring = stage(ring, clock(), POLICY).ring
    staged = ring.staged
    assert staged is not None
    clock.advance(POLICY.min_stage_period)
    step = promote(ring, clock(), POLICY)
    assert step.ring.active.id == staged.id
    assert step.ring.active.activated_at == clock()
    retired = step.ring.get(old.id)
    assert retired is not None
    assert retired.state is KeyState.RETIRING
    assert retired.deactivated_at == clock()
    assert step.ring.staged is None


def test_promote_with_nothing_staged_is_refused(clock: FrozenClock) -> None:
    """promote without a staged key says to stage first."""
    with pytest.raises(PolicyViolation, match="no key is staged"):
        promote(_ring_of(clock, 1), clock(), POLICY)


def test_staged_policy_rotation_stages_first_then_promotes_and_stages_next(
    clock: FrozenClock,
) -> None:
    """Staged policy: rotate stages a key; the next rotate promotes it and stages another."""
    ring = _ring_of(clock, 1, STAGED)
    first = ring.active
    ring = rotate(ring, clock(), STAGED).ring
    staged = ring.staged
    assert staged is not None
    assert ring.active.id == first.id
    with pytest.raises(PolicyViolation):
        rotate(ring, clock.advance(60), STAGED)
    clock.advance(STAGED.min_stage_period)
    step = rotate(ring, clock(), STAGED)
    assert step.ring.active.id == staged.id
    assert step.ring.staged is not None
    assert step.ring.staged.id not in (first.id, staged.id)
    assert step.event["new"] == {"id": staged.id, "fingerprint": staged.fingerprint}
    assert step.event["previous"] == {"id": first.id, "fingerprint": first.fingerprint}


def test_prune_removes_only_keys_whose_tokens_have_all_expired(clock: FrozenClock) -> None:
    """A retiring key goes from exactly deactivated_at + max_token_ttl + leeway, not before."""
    ring = _ring_of(clock, 1)
    old = ring.active
    ring = rotate(ring, clock(), POLICY).ring
    deadline = clock() + POLICY.max_token_ttl + POLICY.leeway
    clock.now = deadline - timedelta(microseconds=1)
    assert old.id in prune(ring, clock(), POLICY).ring  # a token is still valid just before
    clock.now = deadline  # tokens are refused from exactly exp + leeway (RFC 7519 4.1.4)
    step = prune(ring, clock(), POLICY)
    assert old.id not in step.ring
    assert step.ring.active.id == ring.active.id
    assert step.event["removed"] == [{"id": old.id, "fingerprint": old.fingerprint}]


def test_prune_never_removes_active_or_staged_keys(clock: FrozenClock) -> None:
    """Active and staged keys survive any prune, however old."""
    ring = stage(_ring_of(clock, 1), clock(), POLICY).ring
    clock.advance(timedelta(days=365))
    assert prune(ring, clock(), POLICY).ring == ring


def test_retiring_key_of_unknown_age_is_never_pruned_automatically(clock: FrozenClock) -> None:
    """A retiring key without deactivated_at has no prune time and stays."""
    ring = KeyRing.from_maps({"old": generate_secret(), "new": generate_secret()}, "new")
    plan = prune_plan(ring, POLICY)
    assert [(k.id, when) for k, when in plan] == [("old", None)]
    assert "old" in prune(ring, clock.advance(timedelta(days=999)), POLICY).ring


def test_policy_refuses_unknown_mode_and_negative_durations() -> None:
    """RotationPolicy validates its mode and durations."""
    with pytest.raises(PolicyViolation, match="unknown"):
        RotationPolicy(mode="sometimes")  # type: ignore[arg-type]
    with pytest.raises(PolicyViolation, match="leeway"):
        RotationPolicy(leeway=timedelta(seconds=-1))
    with pytest.raises(PolicyViolation, match="unknown"):
        POLICY.with_mode("weekly")


def test_policy_reads_its_settings_from_the_environment() -> None:
    """ERP_JWT_* variables set the mode and durations; unset ones keep their defaults."""
    policy = RotationPolicy.from_env(
        {
            "ERP_JWT_POLICY": "Staged",
            "ERP_JWT_MAX_TOKEN_TTL_SECONDS": "900",
            "ERP_JWT_LEEWAY_SECONDS": "5",
            "ERP_JWT_MIN_STAGE_SECONDS": "60",
            "ERP_JWT_ROTATION_INTERVAL_DAYS": "7",
        }
    )
    assert policy == RotationPolicy(
        mode="staged",
        max_token_ttl=timedelta(seconds=900),
        leeway=timedelta(seconds=5),
        min_stage_period=timedelta(seconds=60),
        rotation_interval=timedelta(days=7),
    )
    assert RotationPolicy.from_env({}) == RotationPolicy()


def test_policy_names_the_variable_that_is_not_a_number() -> None:
    """A non-numeric ERP_JWT_* variable is a SettingError naming it (not a PolicyViolation)."""
    with pytest.raises(SettingError, match="ERP_JWT_LEEWAY_SECONDS"):
        RotationPolicy.from_env({"ERP_JWT_LEEWAY_SECONDS": "soon"})


def test_policy_names_an_unknown_erp_jwt_policy() -> None:
    """An unknown ERP_JWT_POLICY is refused naming the variable and the allowed values."""
    with pytest.raises(SettingError, match=r"ERP_JWT_POLICY is 'weekly'.*'immediate', 'staged'"):
        RotationPolicy.from_env({"ERP_JWT_POLICY": "weekly"})


def test_from_maps_reads_the_runbook_names_without_metadata() -> None:
    """JWT_SECRETS + JWT_SECRET_ID alone: the named key is active, the others retire."""
    ring = KeyRing.from_maps({"a": generate_secret(), "b": generate_secret()}, "b")
    assert ring.active.id == "b"
    a = ring.get("a")
    assert a is not None
    assert a.state is KeyState.RETIRING


def test_from_maps_round_trips_metadata(clock: FrozenClock) -> None:
    """secrets_map + metadata_map rebuild the same ring (states and times)."""
    ring = stage(_ring_of(clock, 3), clock(), POLICY).ring
    again = KeyRing.from_maps(ring.secrets_map(), ring.active.id, ring.metadata_map())
    assert again == ring


def test_from_maps_refuses_a_secret_id_naming_no_key() -> None:
    """JWT_SECRET_ID naming no key is refused with the ids present and the fix."""
    with pytest.raises(KeyRingError) as caught:
        KeyRing.from_maps({"a": generate_secret()}, "zzz", source="JWT_SECRETS in vault file v")
    text = str(caught.value)
    assert "JWT_SECRET_ID names key 'zzz'" in text
    assert "ids: a" in text
    assert "set JWT_SECRET_ID to one of those ids" in text


def test_from_maps_refuses_secrets_without_secret_id() -> None:
    """JWT_SECRETS without JWT_SECRET_ID is refused, saying what to set."""
    with pytest.raises(KeyRingError, match="JWT_SECRET_ID is not"):
        KeyRing.from_maps({"a": generate_secret()}, None)


def test_from_maps_refuses_an_empty_map_with_an_id() -> None:
    """An empty JWT_SECRETS with a JWT_SECRET_ID is refused."""
    with pytest.raises(KeyRingError, match="non-empty"):
        KeyRing.from_maps({}, "a")


def test_from_maps_refuses_a_weak_key_naming_its_entry() -> None:
    """A short key in JWT_SECRETS is refused, naming the entry."""
    with pytest.raises(WeakSecret, match=r"JWT_SECRETS\['short'\]"):
        KeyRing.from_maps({"short": secrets.token_urlsafe(8), "b": generate_secret()}, "b")


def test_from_maps_refuses_bad_metadata() -> None:
    """An unknown state or a bad timestamp in JWT_KEYS is refused, naming the key."""
    secrets_map = {"a": generate_secret(), "b": generate_secret()}
    with pytest.raises(KeyRingError, match="unknown state"):
        KeyRing.from_maps(secrets_map, "b", {"a": {"state": "zombie"}})
    with pytest.raises(KeyRingError, match="bad timestamp"):
        KeyRing.from_maps(secrets_map, "b", {"a": {"created_at": "yesterday"}})


def test_secret_id_wins_over_a_stale_active_state() -> None:
    """When JWT_SECRET_ID was flipped by hand, the key it names is active and no other is."""
    secrets_map = {"a": generate_secret(), "b": generate_secret()}
    ring = KeyRing.from_maps(
        secrets_map, "b", {"a": {"state": "active"}, "b": {"state": "retiring"}}
    )
    assert ring.active.id == "b"
    a = ring.get("a")
    assert a is not None
    assert a.state is KeyState.RETIRING


def test_secret_pasted_into_secret_id_is_not_echoed() -> None:
    """JWT_SECRET_ID holding a secret (ids and values swapped) is refused without showing it."""
    secret = generate_secret()
    with pytest.raises(KeyRingError) as caught:
        KeyRing.from_maps({"a": secret}, secret)
    assert secret not in str(caught.value)
    assert "not shown: is it a secret?" in str(caught.value)


@given(st.binary(min_size=1, max_size=512))
def test_binary_secret_form_is_base64url_and_round_trips(raw: bytes) -> None:
    """binary_secret writes unpadded base64url (as base64 does) and key_bytes reads it back."""
    import base64

    text = binary_secret(raw)
    assert text == "b64:" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    assert key_bytes(text) == raw
    assert key_bytes(text + "=" * (-len(text[4:]) % 4)) == raw  # padding optional
