"""A small end-to-end run on SQLite for ``scripts/demo.py``: encrypt, rotate, re-encrypt,
verify, retire. Returns the lines to print; uses the configured vault and rotation log.

It lives beside the demo script, not in the ``erp`` package: it is a show, not an API.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

from erp.fernet.keys import load_fernet_ring
from erp.fernet.reencrypt.retire import retire, verify_and_record
from erp.fernet.reencrypt.runner import reencrypt
from erp.fernet.rotation import rotate_fernet_key
from erp.secrets import SecretResolver
from erp.store.audit import AuditLog
from erp.store.vault import VaultFile

__all__ = ["demo"]

_TABLE = "customers"
_COLUMN = "tax_id"


def _checksum(path: Path, resolver: SecretResolver) -> str:
    ring = load_fernet_ring(resolver)
    digest = hashlib.sha256()
    with sqlite3.connect(path) as conn:
        for pk, value in conn.execute(f"SELECT id, {_COLUMN} FROM {_TABLE} ORDER BY id"):  # noqa: S608
            digest.update(f"{pk}:{ring.decrypt(value)}\n".encode())
    return digest.hexdigest()[:16]


def demo(
    db_path: str | Path = "demo.db",
    *,
    vault: VaultFile | None = None,
    log: AuditLog | None = None,
    rows: int = 2000,
) -> list[str]:
    """Rotate the Fernet key over a SQLite table of ``rows`` encrypted values; report lines.

    Creates ``db_path`` (replacing a previous demo table) and a first ``FERNET_KEY`` in the
    vault when there is none. ``FERNET_KEY`` set in the environment would override the
    vault, so the demo refuses to run with it set.
    """
    if os.environ.get("FERNET_KEY") or os.environ.get("FERNET_FALLBACK_KEYS"):
        return ["skipped: FERNET_KEY/FERNET_FALLBACK_KEYS are set in the environment"]
    vault, log = vault or VaultFile(), log or AuditLog()
    resolver = SecretResolver.from_config(vault.path)
    path = Path(db_path)
    lines: list[str] = []
    if vault.read().get("FERNET_KEY") is None:
        rotate_fernet_key(vault=vault, log=log)
        lines.append(f"created FERNET_KEY in {vault.path}")
    ring = load_fernet_ring(resolver)
    with sqlite3.connect(path) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {_TABLE}")
        conn.execute(f"CREATE TABLE {_TABLE} (id INTEGER PRIMARY KEY, {_COLUMN} TEXT)")
        conn.executemany(
            f"INSERT INTO {_TABLE} (id, {_COLUMN}) VALUES (?, ?)",  # noqa: S608
            [(i, ring.encrypt(f"TAX-{i:08d}")) for i in range(1, rows + 1)],
        )
    conn.close()
    before = _checksum(path, resolver)
    lines.append(
        f"{path}: {rows} rows of {_TABLE}.{_COLUMN} encrypted with {ring.primary.fingerprint}"
    )
    result = rotate_fernet_key(vault=vault, log=log)
    new = result.change.new if result.change else None
    lines.append(f"erp-secrets fernet rotate: new primary {new}, old key kept for reading")
    resolver.refresh()
    ring = load_fernet_ring(resolver)
    columns = [(_TABLE, _COLUMN)]
    report = reencrypt(path, columns, ring, vault=vault, log=log)
    lines.append(
        f"erp-secrets fernet reencrypt: {report.rows_this_run} rows, "
        f"{sum(c.this_run.rotated for c in report.columns)} rewritten, outcome {report.outcome()}"
    )
    check = verify_and_record(path, columns, ring, vault=vault, log=log)
    lines.append(
        f"erp-secrets fernet verify: {check.columns[0].primary}/{check.columns[0].rows} values "
        f"open with the primary key alone ({'ok' if check.ok else 'FAILED'})"
    )
    retired = retire([path], vault=vault, log=log)
    gone = list(retired.change.retired) if retired.change else []
    lines.append(f"erp-secrets fernet retire: removed {len(gone)} old key(s) {', '.join(gone)}")
    resolver.refresh()
    after = _checksum(path, resolver)
    lines.append(
        f"plaintext checksum before {before}, after {after}: "
        f"{'identical' if before == after else 'DIFFERENT'}"
    )
    return lines
