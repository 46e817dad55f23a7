"""Worker processes of a multi-worker run: started before the set-up checks, reused for
every column, gone when the run ends (set-up errors included)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from erp.fernet import FernetKeyRing
from erp.fernet.errors import TargetNotFound
from erp.fernet.reencrypt import reencrypt
from erp.fernet.reencrypt.jobs import BATCHES
from erp.store.audit import AuditLog
from erp.store.vault import VaultFile

from .conftest import KeyFactory, TableFactory


def test_a_worker_process_without_a_job_exits_quietly() -> None:
    """Input that ends before any spec (the set-up failed): exit 0, nothing written."""
    done = subprocess.run(
        [sys.executable, "-m", "erp.fernet.reencrypt.process"],
        input=b"",
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, b"")


def test_two_workers_take_two_columns_one_after_the_other(
    sqlite_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """The same two worker processes run both columns' jobs; both end under the new key."""
    old, new = new_key(), new_key()
    table = sqlite_table(120, old)
    table.query(f"ALTER TABLE {table.table} ADD COLUMN other TEXT")
    fernet = Fernet(old)
    for pk in range(1, 121):
        table.query(
            f"UPDATE {table.table} SET other = ? WHERE id = ?",  # noqa: S608
            (fernet.encrypt(f"other {pk}".encode()).decode(), pk),
        )
    ring = FernetKeyRing.from_keys(new, [old])
    columns = [*table.columns, (table.table, "other")]
    report = reencrypt(table.db, columns, ring, workers=2, batch_size=10, vault=vault, log=log)
    assert report.ok
    assert [c.this_run.rows for c in report.columns] == [120, 120]
    assert table.under_only(new) == []
    other = table.query(f"SELECT other FROM {table.table}")  # noqa: S608
    assert all(Fernet(new).decrypt(value) for (value,) in other)
    names = {w.rsplit(":", 1)[1] for (w,) in table.query(f"SELECT worker FROM {BATCHES}")}  # noqa: S608
    assert names == {"w1", "w2"}


def test_a_setup_error_with_two_workers_is_raised_and_writes_nothing(
    sqlite_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """A missing column with ``workers=2``: the set-up error, no checkpoint tables."""
    old, new = new_key(), new_key()
    table = sqlite_table(20, old)
    ring = FernetKeyRing.from_keys(new, [old])
    with pytest.raises(TargetNotFound):
        reencrypt(table.db, [(table.table, "nope")], ring, workers=2, vault=vault, log=log)
    assert table.tables() == {table.table}
