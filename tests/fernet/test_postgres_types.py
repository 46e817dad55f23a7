"""PostgreSQL columns and keys of other types than ``bigint``/``text`` re-encrypt too.

The batch's rows travel through COPY into a temp table of the column's and the key's own
types, so each pairing here is a real round trip through the server. A text key under a
collation that orders it otherwise than Python does is written in the server's order: no
row takes the slow path kept for rows an application changed mid-pass.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from cryptography.fernet import Fernet

from erp.fernet import FernetKeyRing
from erp.fernet.reencrypt import reencrypt
from erp.store.audit import AuditLog
from erp.store.vault import VaultFile

from .conftest import KeyFactory

Case = tuple[str, str, Callable[[int], Any], bool]

CASES: dict[str, Case] = {
    "uuid key, bytea value": ("uuid", "bytea", lambda i: uuid.UUID(int=i * 7919), True),
    "text key, varchar value": ("text", "varchar(200)", lambda i: f"user-{i:05d}", False),
    "integer key, text value": ("integer", "text", lambda i: i, False),
    "numeric key, character varying": ("numeric(12,2)", "character varying", lambda i: i, False),
    # 'a' < 'B' under ICU's English order, 'B' < 'a' in Python's (code points)
    "text key, ICU collation": (
        'text COLLATE "en-x-icu"',
        "text",
        lambda i: f"{'aB'[i % 2]}{'zY'[i % 3 % 2]}{i:03d}",
        False,
    ),
}


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[str]:
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield admin.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.parametrize("case", list(CASES))
def test_keys_and_values_of_other_types_move_to_the_primary(
    pg_database: str, new_key: KeyFactory, vault: VaultFile, log: AuditLog, case: str
) -> None:
    key_type, value_type, make_key, binary = CASES[case]
    old, new = new_key(), new_key()
    fernet = Fernet(old)
    plain: dict[Any, bytes] = {}
    rows: list[tuple[Any, Any]] = []
    for i in range(1, 181):
        pk = make_key(i)
        plain[pk] = f"row {i} \\ \t ok".encode()
        token = fernet.encrypt(plain[pk])
        rows.append((pk, token if binary else token.decode()))
    with psycopg.connect(pg_database) as conn:
        if (
            "icu" in key_type
            and not conn.execute(
                "SELECT 1 FROM pg_collation WHERE collname = 'en-x-icu'"
            ).fetchone()
        ):
            pytest.skip("this PostgreSQL was built without ICU")
        conn.execute(f"CREATE TABLE vals (id {key_type} PRIMARY KEY, secret {value_type})")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO vals (id, secret) VALUES (%s, %s)", rows)
    ring = FernetKeyRing.from_keys(new, [old])
    report = reencrypt(pg_database, [("vals", "secret")], ring, batch_size=25, vault=vault, log=log)
    assert report.ok
    assert report.columns[0].totals.rotated == 180
    assert report.columns[0].totals.retried == 0  # nothing changed the rows meanwhile
    opened: Callable[[Any], bytes] = Fernet(new).decrypt
    with psycopg.connect(pg_database) as conn:
        stored: dict[Any, Any] = dict(conn.execute("SELECT id, secret FROM vals").fetchall())
    # Decimal("1.00") == 1 and hashes alike, so the numeric keys compare as they are
    assert {pk: opened(bytes(v) if binary else v) for pk, v in stored.items()} == plain
