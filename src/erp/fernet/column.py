"""A SQLAlchemy column type that encrypts on write and decrypts on read, and discovery.

``Column("ssn", EncryptedType())`` stores Fernet tokens as text; the application sees
plaintext. :func:`encrypted_columns` lists every such column of a ``MetaData`` so that
``erp-secrets fernet reencrypt --metadata app.models:Base`` finds them by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from erp._extras import require

# Before the SQLAlchemy imports: without the [db] extra, one error naming the extra rather
# than a bare ModuleNotFoundError from the first ``from sqlalchemy import``.
require("sqlalchemy")

from sqlalchemy import MetaData, Table, Text  # noqa: E402
from sqlalchemy.engine import Dialect  # noqa: E402
from sqlalchemy.types import TypeDecorator  # noqa: E402

from erp.fernet.keys import FernetKeyRing  # noqa: E402

__all__ = ["EncryptedColumn", "EncryptedType", "encrypted_columns"]

RingProvider = Callable[[], FernetKeyRing]


def _default_ring() -> FernetKeyRing:
    from erp.fernet.field import current_ring

    return current_ring()


class EncryptedType(TypeDecorator[str]):
    """Text encrypted with the primary Fernet key; read with every configured key.

    ``ring`` is a callable returning the :class:`FernetKeyRing` to use (default: the one
    configured through ``FERNET_KEY``/``FERNET_FALLBACK_KEYS``, re-read as it changes).
    ``None`` stays ``NULL``. Equality filters on this column cannot work: every encryption
    of the same value differs.
    """

    impl = Text
    cache_ok = True

    def __init__(self, ring: RingProvider | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ring = ring or _default_ring

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(f"EncryptedType stores str values, not {type(value).__name__}")
        return self._ring().encrypt(value)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return self._ring().decrypt(value)

    def copy(self, **kw: Any) -> EncryptedType:
        return EncryptedType(self._ring)


@dataclass(frozen=True, order=True)
class EncryptedColumn:
    """One encrypted column: ``table`` may carry a schema (``schema.table``)."""

    table: str
    column: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column}"


def _tables(source: object) -> Iterable[Table]:
    if isinstance(source, Table):
        return [source]
    if isinstance(source, MetaData):
        return source.tables.values()
    metadata = getattr(source, "metadata", None)  # a declarative base or a mapped class
    if isinstance(metadata, MetaData):
        return metadata.tables.values()
    raise TypeError(
        f"expected a MetaData, a Table or a declarative base, not {type(source).__name__}"
    )


def encrypted_columns(*sources: object) -> list[EncryptedColumn]:
    """Every column whose type is :class:`EncryptedType` in the given metadata, sorted."""
    found = set()
    for source in sources:
        for table in _tables(source):
            for column in table.columns:
                if isinstance(column.type, EncryptedType):
                    found.add(EncryptedColumn(table.fullname, column.name))
    return sorted(found)
