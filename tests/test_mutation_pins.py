"""Behaviour that mutation testing found unpinned: each test kills a class of surviving mutants.

(``make mutation`` runs mutmut over the key ring, token verification, the audit log and the
vault; see docs/security.md for the scores and the equivalent mutants.)
"""

from __future__ import annotations

import json
import os
import socket
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from erp.clock import FrozenClock, to_iso
from erp.errors import KeyRingError, VaultCorrupt, WeakSecret
from erp.jwt.keyring import (
    KeyRing,
    KeyState,
    RotationPolicy,
    generate_secret,
    promote,
    prune,
    rotate,
    stage,
)
from erp.jwt.rotation import rotate_key
from erp.store.audit import GENESIS, AuditLog, make_entry
from erp.store.vault import VaultFile, VaultReader

POLICY = RotationPolicy()


def test_make_entry_writes_every_field_in_the_documented_shape(clock: FrozenClock) -> None:
    """An entry holds seq, time, actor, host, the event, prev and a hash over all of them."""
    entry = make_entry(
        {"event": "jwt.rotate", "new": {"id": "k2", "fingerprint": "sha256:00"}},
        prev_hash=GENESIS,
        seq=1,
        now=clock(),
        actor="ops",
        host="app-1",
    )
    assert entry == {
        "seq": 1,
        "time": to_iso(clock()),
        "actor": "ops",
        "host": "app-1",
        "event": "jwt.rotate",
        "new": {"id": "k2", "fingerprint": "sha256:00"},
        "prev": GENESIS,
        "hash": entry["hash"],
    }
    assert len(entry["hash"]) == 64
    assert make_entry({"event": "x"}, prev_hash=GENESIS, seq=1, now=clock())["host"] == (
        socket.gethostname()
    )


def test_rotation_log_line_records_the_event_and_the_vault(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """The appended line carries the event name, the key ids and fingerprints, and the vault."""
    result = rotate_key(vault=vault, log=log, policy=POLICY, clock=clock, actor="ops")
    (line,) = log.path.read_text().splitlines()
    entry = json.loads(line)
    assert entry["event"] == "jwt.rotate"
    assert entry["action"] == "rotate"
    assert entry["mode"] == "immediate"
    assert entry["vault"] == str(vault.path)
    assert entry["actor"] == "ops"
    assert entry["seq"] == 1
    assert entry["prev"] == GENESIS
    assert entry["new"] == (result.event or {})["new"]
    assert entry["previous"] is None


def test_torn_line_repair_keeps_every_earlier_entry(
    vault: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """Repairing a torn last line removes only that fragment; entries before it stay intact."""
    for _ in range(3):
        clock.advance(60)
        rotate_key(vault=vault, log=log, policy=POLICY, clock=clock)
    before = log.path.read_bytes()
    with log.path.open("ab") as fh:
        fh.write(b'{"seq": 4, "tim')
    rotate_key(vault=vault, log=log, policy=POLICY, clock=clock)
    after = log.path.read_bytes()
    assert after.startswith(before)
    assert len(after.splitlines()) == 4
    assert log.verify().ok


def test_temp_file_is_created_with_the_final_mode_not_only_chmodded_later(
    vault: VaultFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temp file holding secrets is created 0600 (no window where it is world-readable)."""
    seen: list[tuple[str, int]] = []
    real_open = os.open

    def spy(path: Any, flags: int, mode: int = 0o777, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT:
            seen.append((os.fspath(path), mode))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    with vault.locked():
        vault.write({"JWT_SECRETS": {"k1": generate_secret()}, "JWT_SECRET_ID": "k1"})
    temps = [mode for path, mode in seen if path.endswith(".tmp")]
    assert temps == [0o600]
    assert stat.S_IMODE(vault.path.stat().st_mode) == 0o600


def test_reader_backs_off_after_a_broken_file_instead_of_rereading_every_call(
    vault: VaultFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A changed file that no longer parses is re-read at most once per check interval."""
    vault.path.write_text(json.dumps({"A": "1"}))
    now = [0.0]
    errors: list[Exception] = []
    reader = VaultReader(vault.path, monotonic=lambda: now[0], on_error=errors.append)
    assert reader.document() == {"A": "1"}
    vault.path.write_text("{broken")
    os.utime(vault.path, ns=(1, 1))
    reads = []
    real_read = VaultFile.read

    def counting(self: VaultFile) -> dict[str, Any]:
        reads.append(1)
        return real_read(self)

    monkeypatch.setattr(VaultFile, "read", counting)
    now[0] = 5.0
    for _ in range(10):
        assert reader.document() == {"A": "1"}
    assert len(reads) == 1
    assert len(errors) == 1
    now[0] = 6.5
    reader.document()
    assert len(reads) == 2
    assert isinstance(errors[-1], VaultCorrupt)


def test_rotate_and_stage_use_a_callers_secret_and_key_id(clock: FrozenClock) -> None:
    """rotate/stage with secret= and key_id= put exactly those in the ring."""
    secret, staged_secret = generate_secret(), generate_secret()
    ring = rotate(KeyRing(), clock(), POLICY, secret=secret, key_id="first").ring
    assert (ring.active.id, ring.active.secret) == ("first", secret)
    step = stage(ring, clock(), POLICY, secret=staged_secret, key_id="next")
    assert step.ring.staged is not None
    assert (step.ring.staged.id, step.ring.staged.secret) == ("next", staged_secret)
    assert step.ring.get("first") is not None
    assert step.event["staged"] == {"id": "next", "fingerprint": step.ring.staged.fingerprint}


def test_callers_key_id_that_exists_or_is_empty_is_refused(clock: FrozenClock) -> None:
    """A key id already in the ring, or an empty one, is a KeyRingError for rotate and stage."""
    ring = rotate(KeyRing(), clock(), POLICY, key_id="k1").ring
    for bad in ("k1", ""):
        with pytest.raises(KeyRingError):
            rotate(ring, clock(), POLICY, key_id=bad)
        with pytest.raises(KeyRingError):
            stage(ring, clock(), POLICY, key_id=bad)


def test_callers_weak_secret_is_refused(clock: FrozenClock) -> None:
    """A caller-supplied secret goes through the same strength check as a stored one."""
    with pytest.raises(WeakSecret):
        rotate(KeyRing(), clock(), POLICY, secret="short")


def test_empty_key_id_in_a_map_is_refused() -> None:
    """An empty key id in JWT_SECRETS is a KeyRingError."""
    with pytest.raises(KeyRingError, match="empty"):
        KeyRing.from_maps({"": generate_secret(), "k1": generate_secret()}, "k1")


def test_staged_rotation_is_refused_before_the_minimum_stage_period(clock: FrozenClock) -> None:
    """Promotion happens from exactly created_at + min_stage_period, not a microsecond before."""
    staged_policy = RotationPolicy(mode="staged", min_stage_period=timedelta(minutes=10))
    ring = rotate(KeyRing(), clock(), staged_policy).ring
    ring = stage(ring, clock(), staged_policy).ring
    assert ring.staged is not None
    ready = clock() + timedelta(minutes=10)
    from erp.errors import PolicyViolation

    with pytest.raises(PolicyViolation):
        promote(ring, ready - timedelta(microseconds=1), staged_policy)
    promoted = promote(ring, ready, staged_policy).ring
    assert promoted.active.id == ring.staged.id
    assert promoted.get(ring.active.id) is not None
    assert promoted.get(ring.active.id).state is KeyState.RETIRING  # type: ignore[union-attr]


def test_log_is_created_0640_and_a_new_vault_0600(
    vault: VaultFile, log: AuditLog, clock: FrozenClock, tmp_path: Path
) -> None:
    """A first rotation creates the vault 0600 and the log 0640 (no secrets, readable by ops)."""
    rotate_key(vault=vault, log=log, policy=POLICY, clock=clock)
    assert stat.S_IMODE(vault.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.path.stat().st_mode) & 0o777 == 0o640 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- the key ring: boundaries and messages the first mutation run found unpinned ------------


def test_binary_secret_is_unpadded_base64url() -> None:
    """binary_secret writes b64: and unpadded base64url ('-' and '_', never '=')."""
    from erp.jwt.keyring import binary_secret

    assert binary_secret(b"\xfb\xff" + bytes(range(30))) == (
        "b64:-_8AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0"
    )


def test_shown_id_shows_31_characters_and_fingerprints_32() -> None:
    """Ids up to 31 printable characters are shown; longer, unprintable or non-text ones not."""
    from erp.fingerprint import fingerprint
    from erp.jwt.keyring import shown_id

    assert shown_id("k" * 31) == repr("k" * 31)
    assert shown_id("k" * 31, quote=False) == "k" * 31
    assert shown_id("k" * 32) == f"(id {fingerprint('k' * 32)}, not shown: is it a secret?)"
    assert shown_id("k\n") == f"(id {fingerprint('k' + chr(10))}, not shown: is it a secret?)"
    assert shown_id(12345) == f"(id {fingerprint('12345')}, not shown: is it a secret?)"


def test_key_metadata_is_state_fingerprint_and_times(clock: FrozenClock) -> None:
    """metadata() holds exactly the state, the fingerprint and the known times."""
    key = rotate(KeyRing(), clock(), POLICY).ring.active
    assert key.metadata() == {
        "state": "active",
        "fingerprint": key.fingerprint,
        "created_at": to_iso(clock()),
        "activated_at": to_iso(clock()),
    }


def test_policy_accepts_zero_durations_and_switches_modes() -> None:
    """Zero is a valid duration; with_mode switches both ways and None keeps the policy."""
    zero = RotationPolicy(
        max_token_ttl=timedelta(0),
        leeway=timedelta(0),
        min_stage_period=timedelta(0),
        rotation_interval=timedelta(0),
    )
    assert zero.leeway == timedelta(0)
    staged = POLICY.with_mode("staged")
    assert staged.mode == "staged"
    assert staged.with_mode("immediate").mode == "immediate"
    assert staged.with_mode(None) is staged


@pytest.mark.parametrize(
    ("variable", "inside", "outside"),
    [
        ("ERP_JWT_MAX_TOKEN_TTL_SECONDS", ["1", "31622400"], ["0.99", "31622401"]),
        ("ERP_JWT_LEEWAY_SECONDS", ["0", "86400"], ["-0.01", "86401"]),
        ("ERP_JWT_MIN_STAGE_SECONDS", ["0", "31622400"], ["-1", "31622401"]),
        ("ERP_JWT_ROTATION_INTERVAL_DAYS", ["1", "3660"], ["0.99", "3661"]),
    ],
)
def test_policy_settings_ranges_are_inclusive(
    variable: str, inside: list[str], outside: list[str]
) -> None:
    """Each ERP_JWT_* duration accepts both ends of its range and refuses just beyond."""
    from erp.errors import SettingError

    for value in inside:
        RotationPolicy.from_env({variable: value})
    for value in outside:
        with pytest.raises(SettingError, match=variable):
            RotationPolicy.from_env({variable: value})


def test_new_key_id_is_sortable_time_and_six_hex_digits(clock: FrozenClock) -> None:
    """A generated id is k-<UTC time>-<6 hex digits>, sorting by creation time."""
    import re

    from erp.jwt.keyring import new_key_id

    made = new_key_id(clock())
    assert re.fullmatch(r"k-20261125T120000Z-[0-9a-f]{6}", made)


def test_secret_strength_bounds_and_messages() -> None:
    """4096 bytes pass and 4097 fail; a number is named by its type; text counts characters."""
    from erp.jwt.keyring import check_secret_strength

    longest = (generate_secret() * 70)[:4096]
    assert check_secret_strength(longest, "k") == longest
    with pytest.raises(WeakSecret, match="4097 bytes"):
        check_secret_strength(longest + "x", "k")
    with pytest.raises(WeakSecret, match=r"^JWT_SECRETS\['k'\] is a int, not a string secret$"):
        check_secret_strength(5, "JWT_SECRETS['k']")
    # 4 distinct characters, 8 distinct UTF-8 bytes: judged by its characters, so weak
    with pytest.raises(WeakSecret, match="distinct"):
        check_secret_strength("一二三四" * 8, "k")
    for fine in ("{" + generate_secret(), generate_secret() + '"kty"'):
        assert check_secret_strength(fine, "k") == fine


def test_from_maps_messages_name_entries_and_hint_at_a_reversed_map() -> None:
    """Each refusal of from_maps names the entry; a reversed map is called out as such."""
    a, b = generate_secret(), generate_secret()
    assert KeyRing.from_maps({}, None) == KeyRing()
    with pytest.raises(KeyRingError) as caught:
        KeyRing.from_maps({"a": a, "b": b}, "zz")
    assert str(caught.value) == (
        "JWT_SECRET_ID names key 'zz', which is not in JWT_SECRETS (ids: a, b); "
        "set JWT_SECRET_ID to one of those ids"
    )
    with pytest.raises(KeyRingError, match=r"\(JWT_SECRETS looks reversed: secret -> id\) \(ids"):
        KeyRing.from_maps({"a": "k1"}, "k1")
    with pytest.raises(KeyRingError, match=r"^JWT_SECRETS\['a'\] is not a string$"):
        KeyRing.from_maps({"a": 5}, "a", check_strength=False)
    assert KeyRing.from_maps({"a": "short"}, "a", check_strength=False).active.secret == "short"
    with pytest.raises(
        KeyRingError,
        match=r"^JWT_KEYS\['b'\] is not a JSON object; restore the file from its backup or "
        r"remove that entry \(its key then counts as retiring\)$",
    ):
        KeyRing.from_maps({"a": a, "b": b}, "a", {"b": "retiring"})  # type: ignore[dict-item]
    with pytest.raises(KeyRingError, match=r"^JWT_KEYS\['b'\] has a bad timestamp"):
        KeyRing.from_maps({"a": a, "b": b}, "a", {"b": {"created_at": "yesterday"}})
    with pytest.raises(
        KeyRingError,
        match=r"^JWT_KEYS\['b'\] has unknown state 'bogus'; "
        r"use one of 'staged', 'active', 'retiring'$",
    ):
        KeyRing.from_maps({"a": a, "b": b}, "a", {"b": {"state": "bogus"}})


def test_the_active_key_never_keeps_a_deactivation_time(clock: FrozenClock) -> None:
    """JWT_SECRET_ID wins over JWT_KEYS: the active key's deactivated_at is dropped."""
    a = generate_secret()
    when = to_iso(clock())
    ring = KeyRing.from_maps({"a": a}, "a", {"a": {"state": "retiring", "deactivated_at": when}})
    assert ring.active.deactivated_at is None
    assert ring.active.state is KeyState.ACTIVE


def test_a_callers_weak_secret_is_named_as_the_new_key(clock: FrozenClock) -> None:
    """The WeakSecret for a caller's secret names it 'new key'."""
    with pytest.raises(WeakSecret, match=r"^new key is 40 bits long"):
        rotate(KeyRing(), clock(), POLICY, secret="short")


def _ref_of(ring: KeyRing, key_id: str) -> dict[str, str]:
    key = ring.get(key_id)
    assert key is not None
    return {"id": key.id, "fingerprint": key.fingerprint}


def test_every_transition_event_is_exactly_what_the_log_records(clock: FrozenClock) -> None:
    """rotate (both modes, both branches), stage, promote and prune return these events."""
    staged_policy = RotationPolicy(mode="staged", min_stage_period=timedelta(0))
    first = rotate(KeyRing(), clock(), POLICY, key_id="a")
    assert first.event == {
        "action": "rotate",
        "mode": "immediate",
        "new": _ref_of(first.ring, "a"),
        "previous": None,
    }
    second = rotate(first.ring, clock(), POLICY, key_id="b")
    assert second.event == {
        "action": "rotate",
        "mode": "immediate",
        "new": _ref_of(second.ring, "b"),
        "previous": _ref_of(first.ring, "a"),
    }
    only_staged = rotate(second.ring, clock(), staged_policy, key_id="c")
    assert only_staged.event == {
        "action": "rotate",
        "mode": "staged",
        "staged": _ref_of(only_staged.ring, "c"),
        "active": _ref_of(second.ring, "b"),
    }
    rolled = rotate(only_staged.ring, clock(), staged_policy, key_id="d")
    assert rolled.event == {
        "action": "rotate",
        "mode": "staged",
        "new": _ref_of(only_staged.ring, "c"),
        "previous": _ref_of(second.ring, "b"),
        "staged": _ref_of(rolled.ring, "d"),
    }
    promoted = promote(rolled.ring, clock(), staged_policy)
    assert promoted.event == {
        "action": "promote",
        "new": _ref_of(rolled.ring, "d"),
        "previous": _ref_of(rolled.ring, "c"),
    }
    gone = prune(promoted.ring, clock() + timedelta(days=1), POLICY)
    assert gone.event == {
        "action": "prune",
        "removed": [_ref_of(promoted.ring, k) for k in ("a", "b", "c")],
    }
    assert [k.id for k in gone.ring.keys] == ["d"]


def test_staged_rotation_uses_a_callers_secret_and_id_in_both_branches(clock: FrozenClock) -> None:
    """Under the staged policy, secret= and key_id= name the key that gets staged."""
    staged_policy = RotationPolicy(mode="staged", min_stage_period=timedelta(0))
    ring = rotate(KeyRing(), clock(), POLICY).ring
    s1, s2 = generate_secret(), generate_secret()
    ring = rotate(ring, clock(), staged_policy, secret=s1, key_id="n1").ring
    assert ring.staged is not None
    assert (ring.staged.id, ring.staged.secret) == ("n1", s1)
    ring = rotate(ring, clock(), staged_policy, secret=s2, key_id="n2").ring
    assert ring.staged is not None
    assert (ring.staged.id, ring.staged.secret) == ("n2", s2)
    assert ring.active.id == "n1"


def test_promoted_key_loses_any_deactivation_time(clock: FrozenClock) -> None:
    """A staged key carrying a stray deactivated_at (hand-edited JWT_KEYS) is active and clean."""
    a, b = generate_secret(), generate_secret()
    when = to_iso(clock() - timedelta(days=1))
    ring = KeyRing.from_maps(
        {"a": a, "b": b},
        "a",
        {"b": {"state": "staged", "created_at": when, "deactivated_at": when}},
    )
    promoted = promote(ring, clock(), POLICY).ring
    assert promoted.active.id == "b"
    assert promoted.active.deactivated_at is None
    assert promoted.active.activated_at == clock()


def test_ring_and_new_id_refusals_say_what_is_wrong(clock: FrozenClock) -> None:
    """Duplicate ids, an empty new id and a taken new id each have their own message."""
    from erp.jwt.keyring import Key, check_secret_strength

    key = Key("a", generate_secret(), KeyState.ACTIVE)
    with pytest.raises(KeyRingError, match=r"^key ring holds the same key id twice$"):
        KeyRing((key, key))
    ring = KeyRing((key,))
    with pytest.raises(KeyRingError, match=r"^a new key id must be a non-empty string$"):
        rotate(ring, clock(), POLICY, key_id="")
    with pytest.raises(KeyRingError, match=r"^key id 'a' already exists in the ring$"):
        stage(ring, clock(), POLICY, key_id="a")
    with pytest.raises(WeakSecret, match="the text after 'b64:' is not base64url"):
        check_secret_strength("b64:" + "A" * 40 + "!", "k")


def test_stage_event_and_refusal_phrases(clock: FrozenClock) -> None:
    """stage() returns its own event; stage and promote refusals have fixed phrases."""
    from erp.errors import PolicyViolation

    ring = rotate(KeyRing(), clock(), POLICY, key_id="a").ring
    with pytest.raises(PolicyViolation) as caught:
        stage(KeyRing(), clock(), POLICY)
    assert (
        str(caught.value) == "cannot stage into an empty ring: run 'erp-secrets jwt rotate' first"
    )
    with pytest.raises(PolicyViolation) as caught:
        promote(ring, clock(), POLICY)
    assert str(caught.value) == "no key is staged: run 'erp-secrets jwt stage' first"
    step = stage(ring, clock(), POLICY, key_id="b")
    assert step.event == {
        "action": "stage",
        "staged": _ref_of(step.ring, "b"),
        "active": _ref_of(ring, "a"),
    }
    with pytest.raises(PolicyViolation) as caught:
        stage(step.ring, clock(), POLICY)
    assert str(caught.value) == (
        "key 'b' is already staged; promote it before staging another "
        "(staging twice would leave instances unable to verify)"
    )
    with pytest.raises(PolicyViolation, match=r"^key 'b' was staged less than 0:10:00 ago; "):
        promote(step.ring, clock(), POLICY)


def test_immediate_rotation_keeps_older_retirements_and_uses_a_callers_secret(
    clock: FrozenClock,
) -> None:
    """Only the active key is demoted: a key already retiring keeps its deactivation time."""
    ring = rotate(KeyRing(), clock(), POLICY, key_id="a").ring
    first_retired_at = clock.advance(60)
    ring = rotate(ring, clock(), POLICY, key_id="b").ring
    clock.advance(60)
    secret = generate_secret()
    ring = rotate(ring, clock(), POLICY, key_id="c", secret=secret).ring
    a = ring.get("a")
    assert a is not None
    assert a.deactivated_at == first_retired_at
    assert ring.active.secret == secret


def test_binary_form_edge_cases() -> None:
    """An encoding ending in 'X' keeps it; bad base64 length and JWK sets are refused by name."""
    from erp.jwt.keyring import binary_secret, check_secret_strength

    assert binary_secret(b"\x00\x00\x17") == "b64:AAAX"
    with pytest.raises(WeakSecret, match=r"^k: the text after 'b64:' is not base64url\. Remove"):
        check_secret_strength("b64:" + "A" * 41, "k")  # 41 characters cannot be base64
    with pytest.raises(WeakSecret, match=r"^k: the text after 'b64:' is not base64url\. Remove"):
        check_secret_strength("b64:" + "A" * 40 + "!", "k")
    jwk_set = '[{"kty":"oct","k":"' + generate_secret() + '"}]'
    with pytest.raises(WeakSecret, match="PEM, SSH or JWK"):
        check_secret_strength(jwk_set, "k")
