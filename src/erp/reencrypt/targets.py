"""Which database and which encrypted columns: parsing, discovery and validation.

A database is a SQLAlchemy URL (``sqlite:///app.db``, ``postgresql://user@host/db``) or a
plain file path (SQLite). Columns come from ``table.column`` options, a config file, or the
application's SQLAlchemy metadata; each is checked against the live schema (table, column,
single-column primary key) before anything is written.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from erp.errors import ConfigError
from erp.reencrypt.errors import DatabaseUnavailable, TargetNotFound

__all__ = [
    "DatabaseLike",
    "DatabaseRef",
    "Target",
    "columns_from_config",
    "columns_from_metadata",
    "parse_column",
    "resolve_targets",
]


@dataclass(frozen=True)
class DatabaseRef:
    """A database to work on. ``display`` never contains a password."""

    kind: str  # "sqlite" or "postgresql"
    url: str = ""  # full URL (may hold a password: never print it)
    path: str = ""  # SQLite file

    @classmethod
    def parse(cls, text: str) -> DatabaseRef:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        if "://" not in text:
            return cls.sqlite(text)
        try:
            url = make_url(text)
        except ArgumentError:
            raise ConfigError(
                "--db is not a database URL; use sqlite:///path/to/file.db, a file path, or "
                "postgresql://user@host:port/dbname"
            ) from None
        backend = url.get_backend_name()
        if backend == "sqlite":
            if not url.database or url.database == ":memory:":
                raise ConfigError("--db must name a SQLite file, not an in-memory database")
            return cls.sqlite(url.database)
        if backend == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
            return cls("postgresql", url=url.render_as_string(hide_password=False))
        raise ConfigError(
            f"--db uses the {backend!r} engine; re-encryption supports SQLite and PostgreSQL"
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
        return cls("sqlite", url=f"sqlite:///{resolved}", path=str(resolved))

    @property
    def display(self) -> str:
        """The database's identity for output, logs and verify records (no password)."""
        if self.kind == "sqlite":
            return f"sqlite:///{self.path}"
        from sqlalchemy.engine import make_url

        url = make_url(self.url).set(drivername="postgresql", password=None)
        return url.render_as_string(hide_password=True)

    def libpq_url(self) -> str:
        """The URL in the form psycopg accepts."""
        from sqlalchemy.engine import make_url

        return make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)

    def check_reachable(self) -> None:
        """Raise :class:`DatabaseUnavailable` unless the database can be opened (no writes)."""
        if self.kind == "sqlite":
            if not Path(self.path).is_file():
                raise DatabaseUnavailable(
                    f"SQLite database {self.path} does not exist; check --db "
                    "(it is never created by re-encryption)"
                )
            return
        import psycopg

        try:
            psycopg.connect(self.libpq_url(), connect_timeout=10).close()
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DatabaseUnavailable(
                f"cannot connect to {self.display}: {_scrub(reason, self)}; check --db, "
                "that the server runs and accepts connections"
            ) from None

    def engine(self) -> Any:
        """A SQLAlchemy engine (for schema inspection), opened read-only for SQLite."""
        from sqlalchemy import create_engine

        if self.kind == "sqlite":
            uri = Path(self.path).as_uri() + "?mode=ro"
            return create_engine("sqlite://", creator=lambda: _sqlite_ro(uri))
        return create_engine(self.url, connect_args={"connect_timeout": 10})


DatabaseLike = DatabaseRef | str | Path
"""What the functions taking a database accept."""


def _sqlite_ro(uri: str) -> Any:
    import sqlite3

    return sqlite3.connect(uri, uri=True)


def _scrub(text: str, db: DatabaseRef) -> str:
    from sqlalchemy.engine import make_url

    password = make_url(db.url).password if db.url else None
    return text.replace(str(password), "***") if password else text


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
        raise ConfigError(f"column {text!r} must be written table.column (or schema.table.column)")
    return table, column


def columns_from_config(path: Path) -> list[tuple[str, str]]:
    """Columns listed in a YAML or JSON file: ``columns: [users.ssn, payments.card]``."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix == ".json":
            doc = json.loads(text)
        else:
            import yaml

            doc = yaml.safe_load(text)
    except Exception as exc:  # yaml and json raise different types; the message names the spot
        raise ConfigError(f"config file {path} does not parse: {exc}") from None
    columns = doc.get("columns") if isinstance(doc, dict) else None
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ConfigError(f"config file {path} must hold 'columns': a list of table.column strings")
    return [parse_column(c) for c in columns]


def columns_from_metadata(spec: str) -> list[tuple[str, str]]:
    """Encrypted columns of ``module:attribute`` (a MetaData, Table or declarative base)."""
    from erp.fernet.column import encrypted_columns

    module_name, colon, attr = spec.partition(":")
    if not colon or not module_name or not attr:
        raise ConfigError(f"--metadata {spec!r} must be module:attribute, e.g. app.models:Base")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"--metadata: cannot import {module_name!r}: {exc}") from None
    source = module
    for part in attr.split("."):
        if not hasattr(source, part):
            raise ConfigError(f"--metadata: {module_name!r} has no attribute {attr!r}")
        source = getattr(source, part)
    try:
        found = encrypted_columns(source)
    except TypeError as exc:
        raise ConfigError(f"--metadata {spec!r}: {exc}") from None
    if not found:
        raise ConfigError(f"--metadata {spec!r} declares no EncryptedType column")
    return [(c.table, c.column) for c in found]


def _split_table(table: str) -> tuple[str | None, str]:
    schema, dot, name = table.rpartition(".")
    return (schema if dot else None), name


def resolve_targets(db: DatabaseRef, columns: Sequence[tuple[str, str]]) -> list[Target]:
    """Check every column against the live schema; one :class:`TargetNotFound` per problem."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    if not columns:
        raise ConfigError(
            "name the encrypted columns: --column table.column (repeatable), --config FILE, "
            "or --metadata module:attribute"
        )
    db.check_reachable()
    engine = db.engine()
    targets: list[Target] = []
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            for table, column in _unique(columns):
                targets.append(_target(db, inspector, conn, table, column))
    except SQLAlchemyError as exc:
        reason = _scrub(str(getattr(exc, "orig", None) or exc), db)
        raise DatabaseUnavailable(f"cannot read the schema of {db.display}: {reason}") from None
    finally:
        engine.dispose()
    return targets


def _unique(columns: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for item in columns:
        seen.setdefault(item, None)
    return list(seen)


def _target(db: DatabaseRef, inspector: Any, conn: Any, table: str, column: str) -> Target:
    schema, name = _split_table(table)
    if not inspector.has_table(name, schema=schema):
        raise TargetNotFound(f"table {table!r} does not exist in {db.display}; check --column")
    info = {c["name"]: c for c in inspector.get_columns(name, schema=schema)}
    if column not in info:
        raise TargetNotFound(
            f"column {column!r} does not exist in table {table!r} of {db.display} "
            f"(columns: {', '.join(info)}); check --column"
        )
    pk = inspector.get_pk_constraint(name, schema=schema).get("constrained_columns") or []
    if len(pk) != 1:
        what = "no primary key" if not pk else f"a {len(pk)}-column primary key"
        raise TargetNotFound(
            f"table {table!r} has {what}; re-encryption walks a table by a single-column "
            "primary key"
        )
    if pk[0] == column:
        raise TargetNotFound(f"{table}.{column} is the primary key itself; it cannot be rewritten")
    pk_type = value_type = ""
    if db.kind == "postgresql":
        from sqlalchemy import text

        rows = conn.execute(
            text(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = CAST(:rel AS regclass) AND attname IN (:pk, :col)"
            ),
            {"rel": _pg_regclass(table), "pk": pk[0], "col": column},
        ).all()
        types = dict(rows)
        pk_type, value_type = types[pk[0]], types[column]
    return Target(table, column, pk[0], pk_type, value_type)


def _pg_regclass(table: str) -> str:
    schema, name = _split_table(table)
    quoted = '"' + name.replace('"', '""') + '"'
    return ('"' + schema.replace('"', '""') + '".' + quoted) if schema else quoted
