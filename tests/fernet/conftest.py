"""Fixtures for the Fernet tests: fresh keys, and small encrypted tables on SQLite and on a
fresh PostgreSQL database per test (so "nothing was written" can be checked exactly)."""

from __future__ import annotations

import builtins
import hashlib
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.fernet import Fernet

from erp.fernet import FernetKeyRing

KeyFactory = Callable[[], str]


@pytest.fixture
def new_key() -> KeyFactory:
    """Makes fresh Fernet keys (generated at test time, never committed)."""
    return lambda: Fernet.generate_key().decode()


@dataclass
class EncryptedTable:
    """A table ``secrets(id, secret)`` of Fernet tokens, reached through the raw driver."""

    db: str  # what --db takes
    kind: str  # "sqlite" | "postgresql"
    dsn: str  # path or libpq URL
    table: str = "secrets"
    column: str = "secret"
    key: str = field(default="", repr=False)  # the key the rows were first encrypted with
    plain: dict[int, bytes | None] = field(default_factory=dict)

    @property
    def columns(self) -> list[tuple[str, str]]:
        return [(self.table, self.column)]

    @property
    def spec(self) -> str:
        return f"{self.table}.{self.column}"

    def connect(self) -> Any:
        if self.kind == "sqlite":
            return sqlite3.connect(self.dsn)
        return psycopg.connect(self.dsn)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(sql if self.kind == "sqlite" else sql.replace("?", "%s"), params)
            rows = list(cur.fetchall()) if cur.description else []
            conn.commit()
            return rows
        finally:
            conn.close()

    def values(self) -> dict[int, Any]:
        """pk -> stored ciphertext."""
        return dict(self.query(f"SELECT id, {self.column} FROM {self.table} ORDER BY id"))  # noqa: S608

    def put(self, pk: int, value: str | None) -> None:
        self.query(f"UPDATE {self.table} SET {self.column} = ? WHERE id = ?", (value, pk))  # noqa: S608

    def put_new(self, pk: int, value: str | None) -> None:
        """Insert a row (an application adding data during the pass)."""
        self.query(f"INSERT INTO {self.table} (id, {self.column}) VALUES (?, ?)", (pk, value))  # noqa: S608

    def checksum(self, ring: FernetKeyRing) -> str:
        """SHA-256 over every (pk, plaintext) as ``ring`` opens them."""
        digest = hashlib.sha256()
        for pk, value in sorted(self.values().items()):
            plain = b"<null>" if value is None else ring.decrypt_bytes(value)
            digest.update(f"{pk}:".encode() + plain + b"\n")
        return digest.hexdigest()

    def expected_checksum(self) -> str:
        digest = hashlib.sha256()
        for pk, plain in sorted(self.plain.items()):
            digest.update(f"{pk}:".encode() + (b"<null>" if plain is None else plain) + b"\n")
        return digest.hexdigest()

    def under_only(self, key: str) -> list[int]:
        """Primary keys whose value does NOT open with ``key`` alone (nulls excluded)."""
        fernet = Fernet(key)
        bad = []
        for pk, value in self.values().items():
            if value is None:
                continue
            try:
                fernet.decrypt(value)
            except Exception:
                bad.append(pk)
        return bad

    def tables(self) -> builtins.set[str]:
        if self.kind == "sqlite":
            rows = self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            rows = self.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in rows}


TableFactory = Callable[..., EncryptedTable]


def _fill(table: EncryptedTable, rows: int, key: str, nulls: tuple[int, ...]) -> None:
    table.key = key
    fernet = Fernet(key)
    data: list[tuple[int, str | None]] = []
    for pk in range(1, rows + 1):
        if pk in nulls:
            table.plain[pk] = None
            data.append((pk, None))
            continue
        plain = os.urandom(16) + f"row {pk}".encode()
        table.plain[pk] = plain
        data.append((pk, fernet.encrypt(plain).decode()))
    conn = table.connect()
    try:
        cur = conn.cursor()
        pk_type = "INTEGER" if table.kind == "sqlite" else "BIGINT"
        cur.execute(f"CREATE TABLE {table.table} (id {pk_type} PRIMARY KEY, {table.column} TEXT)")
        mark = "?" if table.kind == "sqlite" else "%s"
        cur.executemany(
            f"INSERT INTO {table.table} (id, {table.column}) VALUES ({mark}, {mark})",  # noqa: S608
            data,
        )
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def sqlite_table(tmp_path: Path) -> TableFactory:
    """Creates ``secrets`` in a fresh SQLite file: ``rows`` values under ``key``."""

    def make(rows: int, key: str, *, nulls: tuple[int, ...] = ()) -> EncryptedTable:
        path = tmp_path / f"app-{uuid.uuid4().hex[:6]}.db"
        table = EncryptedTable(str(path), "sqlite", str(path))
        _fill(table, rows, key, nulls)
        return table

    return make


@pytest.fixture
def pg_table(pg_url: str) -> Iterator[TableFactory]:
    """Creates ``secrets`` in a fresh PostgreSQL database (dropped afterwards)."""
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
    made: list[str] = []

    def make(rows: int, key: str, *, nulls: tuple[int, ...] = ()) -> EncryptedTable:
        name = f"t_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        made.append(name)
        dsn = admin.rsplit("/", 1)[0] + f"/{name}"
        table = EncryptedTable(dsn, "postgresql", dsn)
        _fill(table, rows, key, nulls)
        return table

    yield make
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in made:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_table(request: pytest.FixtureRequest) -> TableFactory:
    """Each test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        factory: TableFactory = request.getfixturevalue("sqlite_table")
    else:
        factory = request.getfixturevalue("pg_table")
    return factory
