"""Application writes during a re-encryption: none lost, none left under the old key."""

from __future__ import annotations

import random
import threading
from typing import Any

from cryptography.fernet import Fernet

from erp.fernet import FernetKeyRing
from erp.fernet.reencrypt import reencrypt
from erp.store.audit import AuditLog
from erp.store.vault import VaultFile

from .conftest import KeyFactory, TableFactory


def test_writes_between_read_and_write_are_kept_and_rotated(
    any_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """Rows changed after the worker read them fail the compare-and-swap and are redone."""
    old, new = new_key(), new_key()
    table = any_table(240, old)
    ring = FernetKeyRing.from_keys(new, [old])
    app_new, app_stale = Fernet(new), Fernet(old)

    def application_writes(target: Any, rows: list[tuple[Any, Any]]) -> None:
        first, last = rows[0][0], rows[-1][0]
        for pk, fernet in ((first, app_new), (last, app_stale)):
            plain = f"app wrote {pk}".encode()
            table.put(pk, fernet.encrypt(plain).decode())
            table.plain[pk] = plain

    report = reencrypt(
        table.db,
        table.columns,
        ring,
        batch_size=30,
        vault=vault,
        log=log,
        before_write=application_writes,
    )
    assert report.ok
    assert report.columns[0].totals.retried == 16  # two rows in each of the 8 batches
    assert table.under_only(new) == []
    assert table.checksum(FernetKeyRing.from_keys(new)) == table.expected_checksum()


def test_free_running_application_loses_nothing(
    any_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """An application thread updating random rows during the run: its last write wins."""
    old, new = new_key(), new_key()
    table = any_table(400, old)
    ring = FernetKeyRing.from_keys(new, [old])
    app = FernetKeyRing.from_keys(new, [old])  # a redeployed instance: encrypts with new
    done = threading.Event()
    started = threading.Event()
    written: dict[int, bytes] = {}
    rng = random.Random(7)

    def application() -> None:
        conn = table.connect()
        mark = "?" if table.kind == "sqlite" else "%s"
        sql = f"UPDATE secrets SET secret = {mark} WHERE id = {mark}"  # noqa: S608
        try:
            count = 0
            while (not done.is_set() or count < 50) and count < 300:
                pk = rng.randint(1, 400)
                plain = f"update {count} of {pk}".encode()
                conn.cursor().execute(sql, (app.encrypt(plain), pk))
                conn.commit()
                written[pk] = plain
                count += 1
                if count == 10:
                    started.set()
        finally:
            conn.close()

    thread = threading.Thread(target=application)
    thread.start()
    assert started.wait(timeout=60)
    report = reencrypt(table.db, table.columns, ring, batch_size=25, vault=vault, log=log)
    done.set()
    thread.join(timeout=60)
    assert report.ok
    table.plain.update(written)
    assert table.under_only(new) == []
    assert table.checksum(FernetKeyRing.from_keys(new)) == table.expected_checksum()
