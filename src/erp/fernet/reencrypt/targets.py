"""Which database and which encrypted columns: parsing, discovery and validation.

A database is a URL in SQLAlchemy's form (``sqlite:///app.db``, ``postgresql://user@host/db``,
``postgresql+psycopg://...``) or a plain file path (SQLite). Columns come from
``table.column`` options, a config file, or the application's SQLAlchemy metadata; each is
checked against the live schema (table, column, single-column primary key) before anything
is written, through the drivers themselves, so a run does not pay for importing SQLAlchemy.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from erp._extras import require
from erp._io import read_regular_file
from erp.errors import ErpError
from erp.fernet.errors import (
    ColumnsError,
    DatabaseNotFound,
    DatabasePermission,
    DatabaseUnavailable,
    DatabaseUrlError,
    TargetNotFound,
)

__all__ = [
    "DatabaseLike",
    "DatabaseRef",
    "Target",
    "columns_from_config",
    "columns_from_metadata",
    "driver_errors",
    "parse_column",
    "resolve_targets",
]


@dataclass(frozen=True)
class DatabaseRef:
    """A database to work on. ``display`` never contains a password."""

    kind: str  # "sqlite" or "postgresql"
    url: str = ""  # libpq URL for PostgreSQL (may hold a password: never print it)
    path: str = ""  # SQLite file

    @classmethod
    def parse(cls, text: str) -> DatabaseRef:
        """``sqlite:///rel.db``, ``sqlite:////abs.db``, a path, or ``postgresql[+driver]://``."""
        if not text.strip():
            raise DatabaseUrlError(
                "--db (or $ERP_DATABASE_URL) is empty; give a database URL or a SQLite file path"
            )
        if "://" not in text:
            return cls.sqlite(text)
        scheme, rest = text.split("://", 1)
        engine = scheme.split("+", 1)[0].lower()
        if engine == "sqlite":
            path = rest.split("?", 1)[0]
            path = path[1:] if path.startswith("/") else path
            if not path or path == ":memory:":
                raise DatabaseUrlError("--db must name a SQLite file, not an in-memory database")
            return cls.sqlite(path)
        if engine in ("postgresql", "postgres"):
            return cls("postgresql", url=f"postgresql://{rest}")
        raise DatabaseUrlError(
            f"--db uses the {engine!r} engine; re-encryption supports SQLite "
            "(sqlite:///path.db or a file path) and PostgreSQL (postgresql://user@host/db)"
        )

    @classmethod
    def of(cls, value: DatabaseLike) -> DatabaseRef:
        """A ``DatabaseRef`` from a URL, a SQLite file path, or a ``DatabaseRef``."""
        if isinstance(value, DatabaseRef):
            return value
        if isinstance(value, Path):
            return cls.sqlite(value)
        return cls.parse(value)

    @classmethod
    def sqlite(cls, path: str | Path) -> DatabaseRef:
        resolved = Path(path).expanduser().resolve()
        return cls("sqlite", path=str(resolved))

    @property
    def display(self) -> str:
        """The database's identity for output, logs and verify records (no password)."""
        if self.kind == "sqlite":
            return f"sqlite:///{self.path}"
        parts = urlsplit(self.url)
        user = f"{parts.username}@" if parts.username else ""
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"postgresql://{user}{host}{port}{parts.path}"

    def libpq_url(self) -> str:
        """The URL in the form psycopg accepts."""
        return self.url

    def check_reachable(self) -> None:
        """Raise :class:`DatabaseNotFound` or :class:`DatabaseUnavailable` unless the
        database can be opened (no writes)."""
        self.connect_readonly().close()

    def connect_readonly(self) -> Any:
        """A driver connection for schema checks and scans; never creates a SQLite file."""
        if self.kind == "sqlite":
            import sqlite3

            if not Path(self.path).is_file():
                raise DatabaseNotFound(
                    f"SQLite database {_shown_path(self.path)} does not exist; check --db "
                    "(or $ERP_DATABASE_URL; it is never created by re-encryption)"
                )
            try:
                # rw (not ro) so that SQLite can roll back the journal a killed writer left
                # (a read-only handle cannot, and every read then fails); query_only keeps it
                # from writing anything else. A file this user cannot write opens read-only.
                conn = sqlite3.connect(f"{Path(self.path).as_uri()}?mode=rw", uri=True)
                conn.execute("PRAGMA query_only = 1")
                return conn
            except sqlite3.Error as exc:
                raise DatabaseNotFound(f"cannot open {self.display}: {exc}") from None
        psycopg = require("psycopg")  # without the [db] extra: one error naming it

        try:
            return psycopg.connect(self.url, connect_timeout=10)
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DatabaseUnavailable(
                f"cannot connect to {self.display}: {_scrub(reason, self)}; check --db, "
                "that the server runs and accepts connections"
            ) from None


def _shown_path(path: str) -> str:
    # A value that is not a URL is taken as a SQLite file name; if that name looks like a key
    # (a secret pasted into ERP_DATABASE_URL), the message names it by fingerprint only.
    from erp import _settings

    if _settings.looks_like_secret(Path(path).name):
        return f"{_settings.fingerprinted(path)} (is a secret in --db or $ERP_DATABASE_URL?)"
    return path


_MAX_CONFIG_BYTES = 1024 * 1024  # a list of column names; anything larger is a mistake

DatabaseLike = DatabaseRef | str | Path
"""What the functions taking a database accept."""


@contextmanager
def driver_errors(db: DatabaseRef, doing: str) -> Iterator[None]:
    """Turn a driver error (lost connection, lock timeout, ...) into one clear error.

    Only the driver's primary message is kept: details can quote row data.
    """
    import sqlite3

    driver: tuple[type[BaseException], ...] = (sqlite3.Error,)
    if db.kind == "postgresql":
        import psycopg

        driver = (sqlite3.Error, psycopg.Error)
    try:
        yield
    except driver as exc:
        if _permission_problem(exc):
            grant = (
                "grant this user UPDATE on the table and the right to create and write the "
                "erp_fernet_* checkpoint tables (or create them as their owner first)"
                if db.kind == "postgresql"
                else "give this user write access to the file and its folder"
            )
            raise DatabasePermission(
                f"{doing} on {db.display} stopped: {primary_message(exc, db)}; {grant}, "
                "then rerun. Nothing half-done is kept"
            ) from None
        raise DatabaseUnavailable(
            f"{doing} on {db.display} stopped: {primary_message(exc, db)}; nothing half-done "
            "is kept (each range commits on its own), rerun to resume"
        ) from None


def _permission_problem(exc: BaseException) -> bool:
    """A refusal no rerun can cure: PostgreSQL's insufficient_privilege, SQLite read-only."""
    if getattr(exc, "sqlstate", None) == "42501":
        return True
    text = str(exc).lower()
    return "readonly database" in text or "read-only database" in text


def primary_message(exc: BaseException, db: DatabaseRef | None = None) -> str:
    """The first line of a driver error's primary message: its details can quote row data
    (PostgreSQL's ``DETAIL: Failing row contains (...)``), and a URL's password is masked."""
    diag = getattr(exc, "diag", None)
    text = getattr(diag, "message_primary", None) or str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return _scrub(first, db) if db is not None else first


def _scrub(text: str, db: DatabaseRef) -> str:
    password = urlsplit(db.url).password if db.url else None
    return text.replace(password, "***") if password else text


@dataclass(frozen=True)
class Target:
    """One encrypted column and the primary key used to walk its table."""

    table: str  # as given: "users" or "schema.users"
    column: str
    pk: str
    pk_type: str = ""  # PostgreSQL type of the key (for the temp table), e.g. "bigint"
    value_type: str = ""  # PostgreSQL type of the column, e.g. "text"

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"

    def __str__(self) -> str:
        return self.name


def parse_column(text: str) -> tuple[str, str]:
    """``table.column`` or ``schema.table.column`` -> (table, column)."""
    table, dot, column = text.strip().rpartition(".")
    if not dot or not table or not column:
        raise ColumnsError(f"column {text!r} must be written table.column (or schema.table.column)")
    return table, column


def columns_from_config(path: Path) -> list[tuple[str, str]]:
    """Columns listed in a YAML or JSON file: ``columns: [users.ssn, payments.card]``."""
    data = read_regular_file(path, what="columns config file", max_bytes=_MAX_CONFIG_BYTES)
    if data is None:
        raise ColumnsError(f"config file {path} does not exist; check --config")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise ColumnsError(f"config file {path} is not UTF-8 text") from None
    # Outside the try below: a missing PyYAML is a missing extra, not a parse error.
    yaml = None if path.suffix == ".json" else require("yaml", "db")
    try:
        doc = json.loads(text) if yaml is None else yaml.safe_load(text)
    except Exception as exc:  # yaml and json raise different types; the message names the spot
        raise ColumnsError(f"config file {path} does not parse: {exc}") from None
    columns = doc.get("columns") if isinstance(doc, dict) else None
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ColumnsError(
            f"config file {path} must hold 'columns': a list of table.column strings"
        )
    return [parse_column(c) for c in columns]


def _import_from_cwd(module_name: str) -> Any:
    """Import ``module_name`` with the working folder first on the path, as ``python -m`` does.

    A console script's ``sys.path`` starts with its own ``bin`` folder, not the folder the
    operator stands in, so ``--metadata app.models:Base`` from an application's checkout
    would not find ``app``. The folder is on the path for this import only.
    """
    cwd = os.getcwd()
    sys.path.insert(0, cwd)
    importlib.invalidate_caches()  # a module written since the last import must be seen
    try:
        return importlib.import_module(module_name)
    finally:
        # remove() drops the first occurrence: ours, unless the import put one in front.
        with suppress(ValueError):
            sys.path.remove(cwd)


def columns_from_metadata(spec: str) -> list[tuple[str, str]]:
    """Encrypted columns of ``module:attribute`` (a MetaData, Table or declarative base)."""
    from erp.fernet.column import encrypted_columns

    module_name, colon, attr = spec.partition(":")
    if not colon or not module_name or not attr:
        raise ColumnsError(f"--metadata {spec!r} must be module:attribute, e.g. app.models:Base")
    try:
        module = _import_from_cwd(module_name)
    except ImportError as exc:
        raise ColumnsError(f"--metadata: cannot import {module_name!r}: {exc}") from None
    source = module
    for part in attr.split("."):
        if not hasattr(source, part):
            raise ColumnsError(f"--metadata: {module_name!r} has no attribute {attr!r}")
        source = getattr(source, part)
    try:
        found = encrypted_columns(source)
    except TypeError as exc:
        raise ColumnsError(f"--metadata {spec!r}: {exc}") from None
    if not found:
        raise ColumnsError(f"--metadata {spec!r} declares no EncryptedType column")
    return [(c.table, c.column) for c in found]


def _split_table(table: str) -> tuple[str | None, str]:
    schema, dot, name = table.rpartition(".")
    return (schema if dot else None), name


def resolve_targets(db: DatabaseRef, columns: Sequence[tuple[str, str]]) -> list[Target]:
    """Check every column against the live schema; one :class:`TargetNotFound` per problem."""
    if not columns:
        raise ColumnsError(
            "name the encrypted columns: --column table.column (repeatable), --config FILE, "
            "or --metadata module:attribute"
        )
    conn = db.connect_readonly()
    try:
        inspect = _sqlite_schema if db.kind == "sqlite" else _postgres_schema
        targets = []
        for table, column in _unique(columns):
            names, pk, types, kinds = inspect(conn, table)
            if names is None:
                raise TargetNotFound(
                    f"table {table!r} does not exist in {db.display}; check --column"
                )
            target = _target(db, table, column, names, pk, types)
            if kinds:
                _check_writable(target, kinds)
            targets.append(target)
        return targets
    except ErpError:
        raise
    except Exception as exc:  # a driver error while reading the catalog
        reason = _scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else "", db)
        raise DatabaseUnavailable(
            f"cannot read the schema of {db.display}: {type(exc).__name__} {reason}"
        ) from None
    finally:
        conn.close()


def _unique(columns: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for item in columns:
        seen.setdefault(item, None)
    return list(seen)


Kind = tuple[str, str, str]
"""PostgreSQL: (``attgenerated``, the base type's ``typcategory``, its ``typname``)."""

Schema = tuple[list[str] | None, list[str], dict[str, str], dict[str, Kind]]
"""(column names or None if the table is missing, primary key columns, column types,
PostgreSQL column kinds; empty on SQLite)."""


def _sqlite_schema(conn: Any, table: str) -> Schema:
    schema, name = _split_table(table)
    prefix = f"{_quote(schema)}." if schema else ""
    rows = conn.execute(f"PRAGMA {prefix}table_info({_quote(name)})").fetchall()
    if not rows:
        return None, [], {}, {}
    keyed = sorted((r[5], r[1]) for r in rows if r[5])
    return [r[1] for r in rows], [n for _i, n in keyed], {r[1]: r[2] for r in rows}, {}


def _postgres_schema(conn: Any, table: str) -> Schema:
    schema, name = _split_table(table)
    rel = f"{_quote(schema)}.{_quote(name)}" if schema else _quote(name)
    cur = conn.cursor()
    cur.execute("SELECT to_regclass(%s)", (rel,))
    if cur.fetchone()[0] is None:
        conn.rollback()
        return None, [], {}, {}
    cur.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attgenerated, "
        "t.typcategory, t.typname FROM pg_attribute a "
        "JOIN pg_type d ON d.oid = a.atttypid "  # a domain is judged by its base type
        "JOIN pg_type t ON t.oid = COALESCE(NULLIF(d.typbasetype, 0), d.oid) "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        (rel,),
    )
    rows = cur.fetchall()
    types = {r[0]: r[1] for r in rows}
    kinds = {r[0]: (r[2], r[3], r[4]) for r in rows}
    cur.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
        "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = %s::regclass AND i.indisprimary",
        (rel,),
    )
    pk = [r[0] for r in cur.fetchall()]
    conn.rollback()
    return list(types), pk, types, kinds


def _check_writable(target: Target, kinds: dict[str, Kind]) -> None:
    """Refuse, before anything is written, a column this tool cannot write back.

    Tokens are text: the column must take text (``text``, ``varchar``, ``char``, ``citext``,
    a domain over one) or bytes (``bytea``), and not be generated; the key must be one whose
    text form round-trips through the checkpoint table (not ``bytea``, ``json``, an array).
    """
    generated, category, type_name = kinds[target.column]
    if generated:
        raise TargetNotFound(
            f"{target} is a generated column: the database computes it, it cannot be "
            "re-encrypted; name the column it is computed from"
        )
    if category != "S" and type_name != "bytea":
        raise TargetNotFound(
            f"{target} is of type {target.value_type}: Fernet tokens are stored as text "
            "(text, varchar) or bytes (bytea); check --column"
        )
    _generated, category, type_name = kinds[target.pk]
    if category == "A" or type_name in ("bytea", "json", "jsonb"):
        raise TargetNotFound(
            f"table {target.table!r} has a primary key of type {target.pk_type}; "
            "re-encryption walks tables by integer, text, uuid, numeric or date/time keys"
        )


def _quote(identifier: str | None) -> str:
    return '"' + str(identifier).replace('"', '""') + '"'


def _target(
    db: DatabaseRef,
    table: str,
    column: str,
    names: list[str],
    pk: list[str],
    types: dict[str, str],
) -> Target:
    if column not in names:
        raise TargetNotFound(
            f"column {column!r} does not exist in table {table!r} of {db.display} "
            f"(columns: {', '.join(names)}); check --column"
        )
    if len(pk) != 1:
        what = "no primary key" if not pk else f"a {len(pk)}-column primary key"
        raise TargetNotFound(
            f"table {table!r} has {what}; re-encryption walks a table by a single-column "
            "primary key"
        )
    if pk[0] == column:
        raise TargetNotFound(f"{table}.{column} is the primary key itself; it cannot be rewritten")
    if db.kind == "postgresql":
        return Target(table, column, pk[0], types[pk[0]], types[column])
    return Target(table, column, pk[0])
