"""The factory of engine back-ends, kept apart from the base class it chooses among.

The base module (:mod:`erp.fernet.reencrypt.backend`) knows no engine, and each engine
module imports only the base: the imports form a tree, not a cycle.
"""

from __future__ import annotations

from erp.fernet.reencrypt.backend import Backend
from erp.fernet.reencrypt.targets import DatabaseRef

__all__ = ["backend_for"]


def backend_for(db: DatabaseRef) -> Backend:
    """The back-end for ``db``'s engine (SQLite or PostgreSQL), imported on first use."""
    if db.kind == "sqlite":
        from erp.fernet.reencrypt.sqlite import SqliteBackend

        return SqliteBackend(db)
    from erp.fernet.reencrypt.postgres import PostgresBackend

    return PostgresBackend(db)
