"""The Fernet specification's vectors through ``erp.security`` and the re-encryption path."""

from __future__ import annotations

import base64
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

import erp.secrets
from erp import security
from erp.clock import FrozenClock
from erp.errors import InvalidToken
from erp.fernet import (
    FernetKeyRing,
    FernetTokenExpired,
    NoKeyOpens,
    TimestampInFuture,
)
from erp.fernet.reencrypt import reencrypt
from erp.store.audit import AuditLog
from erp.store.vault import VaultFile

from .spec_vectors import GENERATE, INVALID, SPEC_SECRET, VERIFY

EXPECTED_ERROR = {
    "far-future TS (unacceptable clock skew)": TimestampInFuture,
    "expired TTL": FernetTokenExpired,
}


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _header(token: str) -> bytes:
    """Version byte and timestamp: the part of a token that does not depend on the IV."""
    return base64.urlsafe_b64decode(token)[:9]


@pytest.fixture
def spec_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The vectors' key as FERNET_KEY, as an application would configure it."""
    monkeypatch.setenv("FERNET_KEY", SPEC_SECRET)
    erp.secrets.reset()


@pytest.mark.parametrize("vector", GENERATE, ids=["generate"])
def test_generate_vector_round_trips_at_its_time(spec_key: None, vector: dict[str, object]) -> None:
    """A token made at the vector's time has its header and length, and opens to its source."""
    now = _moment(str(vector["now"]))
    ring = FernetKeyRing.from_keys(SPEC_SECRET)
    made = ring.encrypt_at_time(str(vector["src"]), now)
    assert _header(made) == _header(str(vector["token"]))
    assert len(made) == len(str(vector["token"]))
    assert security.decrypt_at_time(made, ttl=60, current_time=now) == vector["src"]
    assert security.decrypt_at_time(str(vector["token"]), ttl=60, current_time=now) == "hello"


@pytest.mark.parametrize("vector", VERIFY, ids=["verify"])
def test_verify_vector_opens_within_its_ttl(spec_key: None, vector: dict[str, object]) -> None:
    """The spec's valid token opens at its ``now`` with its ttl, and without any ttl."""
    token, now = str(vector["token"]), _moment(str(vector["now"]))
    ttl = int(str(vector["ttl_sec"]))
    assert security.decrypt_at_time(token, ttl=ttl, current_time=now) == vector["src"]
    assert security.decrypt_bytes_at_time(token, ttl=ttl, current_time=now) == b"hello"
    assert security.decrypt(token) == vector["src"]


@pytest.mark.parametrize("vector", INVALID, ids=[str(v["desc"]) for v in INVALID])
def test_invalid_vector_is_refused_with_the_library_error(
    spec_key: None, vector: dict[str, object]
) -> None:
    """Every invalid token raises an erp InvalidToken subclass naming what failed."""
    token, now = str(vector["token"]), _moment(str(vector["now"]))
    expected = EXPECTED_ERROR.get(str(vector["desc"]), NoKeyOpens)
    with pytest.raises(expected) as caught:
        security.decrypt_at_time(token, ttl=int(str(vector["ttl_sec"])), current_time=now)
    assert isinstance(caught.value, InvalidToken)
    assert SPEC_SECRET not in str(caught.value)


def test_reencryption_rotates_valid_vectors_and_refuses_the_rest(
    tmp_path: Path, vault: VaultFile, log: AuditLog
) -> None:
    """Valid vectors move to the new key, timestamps kept; bad or future-stamped rows stay."""
    rows = [VERIFY[0]["token"], *(v["token"] for v in INVALID)]
    path = tmp_path / "vectors.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE secrets (id INTEGER PRIMARY KEY, secret TEXT)")
        conn.executemany(
            "INSERT INTO secrets VALUES (?, ?)", [(i, t) for i, t in enumerate(rows, 1)]
        )
    conn.close()
    new = Fernet.generate_key().decode()
    ring = FernetKeyRing.from_keys(new, [SPEC_SECRET])
    clock = FrozenClock(_moment(str(VERIFY[0]["now"])))
    report = reencrypt(path, [("secrets", "secret")], ring, vault=vault, log=log, clock=clock)
    with sqlite3.connect(path) as conn:
        stored = dict(conn.execute("SELECT id, secret FROM secrets"))
    conn.close()
    rotated = {pk for pk, token in stored.items() if token != rows[pk - 1]}
    by_desc = {str(v["desc"]): i + 2 for i, v in enumerate(INVALID)}
    # Storage has no ttl: the expired-TTL token is authentic and moves like the valid one.
    assert rotated == {1, by_desc["expired TTL"]}
    for pk in rotated:
        assert Fernet(new).decrypt(stored[pk]) == Fernet(SPEC_SECRET).decrypt(rows[pk - 1])
        assert _header(stored[pk]) == _header(rows[pk - 1])
    assert report.unreadable_total == len(INVALID) - 1
    assert by_desc["far-future TS (unacceptable clock skew)"] in [
        pk for _c, pk in report.unreadable
    ]
    assert not report.ok
