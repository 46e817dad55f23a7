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
from erp.jwt.keyring import KeyRing, KeyState, RotationPolicy, generate_secret, rotate, stage
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
    from erp.jwt.keyring import promote

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
