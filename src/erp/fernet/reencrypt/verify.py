"""Verify: prove every stored value opens with the primary key alone; the state digest.

The digest is a SHA-256 over every (primary key, stored value) of the verified columns in
key order. ``retire`` recomputes it: the same digest means the same database state as the
verify pass, so the old keys can go.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import InvalidToken

from erp.fernet.errors import WrongKeys
from erp.fernet.keys import FernetKeyRing
from erp.fernet.reencrypt.backend import Backend
from erp.fernet.reencrypt.engines import backend_for
from erp.fernet.reencrypt.jobs import quote, quote_table
from erp.fernet.reencrypt.progress import Reporter, SilentReporter
from erp.fernet.reencrypt.targets import (
    DatabaseLike,
    DatabaseRef,
    Target,
    driver_errors,
    resolve_targets,
)

__all__ = ["ColumnCheck", "VerificationReport", "database_digest", "verify_database"]

_CHUNK = 5000
_LISTED = 1000
_RECORDED = 20


@dataclass
class ColumnCheck:
    """Counts for one column: values under the primary, under an old key, under none."""

    column: str
    rows: int = 0
    nulls: int = 0
    primary: int = 0
    old: dict[str, int] = field(default_factory=dict)
    unreadable: int = 0

    @property
    def failing(self) -> int:
        return sum(self.old.values()) + self.unreadable

    def record(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "nulls": self.nulls,
            "primary": self.primary,
            "old_keys": dict(self.old),
            "unreadable": self.unreadable,
        }


@dataclass
class VerificationReport:
    """What a verify pass found; ``ok`` when every value opens with the primary alone."""

    db: str
    primary: str
    fallbacks: list[str]
    columns: list[ColumnCheck] = field(default_factory=list)
    digest: str = ""
    failing: list[tuple[str, Any, str | None]] = field(default_factory=list)

    @property
    def failing_total(self) -> int:
        return sum(c.failing for c in self.columns)

    @property
    def ok(self) -> bool:
        return self.failing_total == 0

    def record(self) -> dict[str, Any]:
        """What goes into the vault and the rotation log (no values, no keys)."""
        return {
            "db": self.db,
            "ok": self.ok,
            "primary": self.primary,
            "fallbacks": self.fallbacks,
            "columns": {c.column: c.record() for c in self.columns},
            "digest": self.digest,
            "failing": [
                {"column": col, "pk": pk, "opens_with": fp}
                for col, pk, fp in self.failing[:_RECORDED]
            ],
            "failing_total": self.failing_total,
        }


def _scan(backend: Backend, conn: Any, target: Target) -> Iterator[list[tuple[Any, Any]]]:
    t, c, k = quote_table(target.table), quote(target.column), quote(target.pk)
    first = f"SELECT {k}, {c} FROM {t} ORDER BY {k} LIMIT {_CHUNK}"  # noqa: S608
    after = backend.sub(
        f"SELECT {k}, {c} FROM {t} WHERE {k} > {backend.cast(target)} "  # noqa: S608
        f"ORDER BY {k} LIMIT {_CHUNK}"
    )
    cur = conn.cursor()
    cur.execute(first)
    while True:
        rows = cur.fetchall()
        if rows:
            yield rows
        if len(rows) < _CHUNK:
            return
        cur.execute(after, (rows[-1][0],))


def _feed(digest: Any, target: Target, rows: list[tuple[Any, Any]]) -> None:
    parts = []
    for pk, value in rows:
        shown = value.hex() if isinstance(value, (bytes, memoryview)) else value
        parts.append(f"{pk!r}\t{shown}\n")
    digest.update("".join(parts).encode())


def _sorted(targets: Sequence[Target]) -> list[Target]:
    return sorted(targets, key=lambda t: t.name)


def database_digest(db: DatabaseLike, columns: Sequence[tuple[str, str]]) -> str:
    """The state digest of ``columns`` now (a read-only scan, no crypto)."""
    db = DatabaseRef.of(db)
    targets = _sorted(resolve_targets(db, columns))
    backend = backend_for(db)
    digest = hashlib.sha256()
    with driver_errors(db, "reading the state digest"):
        conn = db.connect_readonly()
        try:
            for target in targets:
                digest.update(f"# {target.name}\n".encode())
                for rows in _scan(backend, conn, target):
                    _feed(digest, target, rows)
            conn.rollback()
        finally:
            conn.close()
    return "sha256:" + digest.hexdigest()


def verify_database(
    db: DatabaseLike,
    columns: Sequence[tuple[str, str]],
    ring: FernetKeyRing,
    *,
    reporter: Reporter | None = None,
) -> VerificationReport:
    """Open every value with the primary key alone; count the rest by the key that opens it.

    Raises :class:`WrongKeys` (nothing recorded) when not one value opens with any key.
    """
    db = DatabaseRef.of(db)
    reporter = reporter or SilentReporter()
    targets = _sorted(resolve_targets(db, columns))
    backend = backend_for(db)
    report = VerificationReport(
        db.display, ring.primary.fingerprint, [k.fingerprint for k in ring.fallbacks]
    )
    digest = hashlib.sha256()
    with driver_errors(db, "verification"):
        _verify_scan(backend, db.connect_readonly(), targets, ring, report, digest, reporter)
    opened = sum(c.primary + sum(c.old.values()) for c in report.columns)
    values = sum(c.rows - c.nulls for c in report.columns)
    if values and not opened:
        raise WrongKeys(
            f"not one of the {values} values in {', '.join(t.name for t in targets)} opens with "
            f"FERNET_KEY ({ring.primary.fingerprint}) or a fallback key: is FERNET_KEY the "
            "key this data was encrypted with? Nothing was recorded."
        )
    report.digest = "sha256:" + digest.hexdigest()
    return report


def _verify_scan(
    backend: Backend,
    conn: Any,
    targets: Sequence[Target],
    ring: FernetKeyRing,
    report: VerificationReport,
    digest: Any,
    reporter: Reporter,
) -> None:
    primary = ring.primary.fernet
    try:
        for target in targets:
            check = ColumnCheck(target.name)
            report.columns.append(check)
            digest.update(f"# {target.name}\n".encode())
            reporter.begin(target.name, 0, 0, "verifying with the primary key alone")
            try:
                for rows in _scan(backend, conn, target):
                    _feed(digest, target, rows)
                    for pk, value in rows:
                        if value is None:
                            check.nulls += 1
                            continue
                        try:
                            primary.decrypt(value)
                        except (InvalidToken, TypeError, ValueError):
                            _classify(ring, report, check, pk, value, reporter)
                        else:
                            check.primary += 1
                    check.rows += len(rows)
                    reporter.advance(len(rows))
            finally:
                reporter.end()
        conn.rollback()
    finally:
        conn.close()


def _classify(
    ring: FernetKeyRing,
    report: VerificationReport,
    check: ColumnCheck,
    pk: Any,
    value: Any,
    reporter: Reporter,
) -> None:
    opener = None
    for key in ring.fallbacks:
        try:
            key.fernet.decrypt(value)
        except (InvalidToken, TypeError, ValueError):
            continue
        opener = key.fingerprint
        break
    if opener is None:
        check.unreadable += 1
    else:
        check.old[opener] = check.old.get(opener, 0) + 1
    if len(report.failing) < _LISTED:
        report.failing.append((check.column, pk, opener))
        what = f"under old key {opener}" if opener else "opens with no configured key"
        reporter.warn(f"not under the primary key: {check.column} pk={pk}: {what}")
