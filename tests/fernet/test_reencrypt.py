"""Re-encryption on SQLite and PostgreSQL: every row under the new key, plaintexts and
timestamps kept, unreadable rows reported and left alone, checkpoints resumed, workers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from cryptography.fernet import Fernet

from erp.fernet import FernetKeyRing
from erp.fernet.reencrypt import reencrypt
from erp.fernet.reencrypt.jobs import BATCHES
from erp.store.audit import AuditLog
from erp.store.vault import VaultFile

from .conftest import EncryptedTable, KeyFactory, TableFactory


def _timestamps(table: EncryptedTable, key: str) -> dict[int, int]:
    fernet = Fernet(key)
    return {pk: fernet.extract_timestamp(v) for pk, v in table.values().items() if v is not None}


def test_every_row_moves_to_the_primary_with_plaintext_and_timestamp_kept(
    any_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """After a run every value opens with the new key alone; plaintexts and timestamps equal."""
    old, new = new_key(), new_key()
    table = any_table(300, old, nulls=(7, 150))
    stamps = _timestamps(table, old)
    ring = FernetKeyRing.from_keys(new, [old])
    report = reencrypt(table.db, table.columns, ring, batch_size=40, vault=vault, log=log)
    assert report.ok
    assert table.under_only(new) == []
    assert table.checksum(FernetKeyRing.from_keys(new)) == table.expected_checksum()
    assert _timestamps(table, new) == stamps
    column = report.columns[0]
    assert (column.totals.rotated, column.totals.nulls, column.totals.current) == (298, 2, 0)
    assert column.totals.finished
    events = [e["event"] for e in log.entries()]
    assert events == ["fernet.reencrypt.start", "fernet.reencrypt"]
    assert log.entries()[-1]["outcome"] == "complete"


def test_rows_already_under_the_primary_are_not_rewritten(
    any_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """A second pass reads every row and rewrites none."""
    old, new = new_key(), new_key()
    table = any_table(120, old)
    ring = FernetKeyRing.from_keys(new, [old])
    reencrypt(table.db, table.columns, ring, batch_size=50, vault=vault, log=log)
    before = table.values()
    again = reencrypt(table.db, table.columns, ring, batch_size=50, vault=vault, log=log)
    assert table.values() == before
    assert again.columns[0].this_run.rotated == 0
    assert again.columns[0].totals.current == 120
    assert again.columns[0].job_id.endswith("#2")


def test_unreadable_row_is_reported_left_untouched_and_the_rest_finished(
    any_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """A value no key opens is named by table and pk, kept as is; the run ends not ok."""
    old, new, stranger = new_key(), new_key(), new_key()
    table = any_table(100, old)
    foreign = Fernet(stranger).encrypt(b"lost").decode()
    table.put(42, foreign)
    table.put(77, "plain text left in the column")
    ring = FernetKeyRing.from_keys(new, [old])
    report = reencrypt(table.db, table.columns, ring, batch_size=30, vault=vault, log=log)
    assert report.finished
    assert not report.ok
    assert report.unreadable == [("secrets.secret", 42), ("secrets.secret", 77)]
    values = table.values()
    assert values[42] == foreign
    assert values[77] == "plain text left in the column"
    assert sorted(table.under_only(new)) == [42, 77]
    assert log.entries()[-1]["outcome"] == "unreadable rows"


def test_killed_run_resumes_without_redoing_finished_batches(
    any_table: TableFactory,
    new_key: KeyFactory,
    vault: VaultFile,
    log: AuditLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run that stops after some batches resumes the same pass; done batches stay as written."""
    monkeypatch.setenv("ERP_FERNET_MAX_BATCH_ROWS", "50")  # one range a transaction
    old, new = new_key(), new_key()
    table = any_table(200, old)
    ring = FernetKeyRing.from_keys(new, [old])
    writes = 0

    class Stop(Exception):
        pass

    def stop_third_write(target: Any, rows: list[tuple[Any, Any]]) -> None:
        nonlocal writes
        writes += 1
        if writes == 3:
            raise Stop

    with pytest.raises(Stop):
        reencrypt(
            table.db,
            table.columns,
            ring,
            batch_size=50,
            vault=vault,
            log=log,
            before_write=stop_third_write,
            pipeline=False,
        )
    first_pass = table.values()
    done_early = {pk: v for pk, v in first_pass.items() if pk <= 100}
    assert table.under_only(new) == list(range(101, 201))
    assert log.entries()[-1]["outcome"] == "failed: Stop"
    report = reencrypt(table.db, table.columns, ring, batch_size=50, vault=vault, log=log)
    run = report.columns[0]
    assert run.resumed
    assert run.job_id.endswith("#1")
    assert run.this_run.rows == 100
    assert {pk: v for pk, v in table.values().items() if pk <= 100} == done_early
    assert table.under_only(new) == []
    assert table.checksum(FernetKeyRing.from_keys(new)) == table.expected_checksum()


def test_two_workers_split_the_table(
    any_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """``workers=2``: the coordinator and one worker process; every row under the new key."""
    old, new = new_key(), new_key()
    table = any_table(400, old)
    ring = FernetKeyRing.from_keys(new, [old])
    report = reencrypt(
        table.db, table.columns, ring, workers=2, batch_size=25, vault=vault, log=log
    )
    assert report.ok
    assert report.rows_this_run == 400
    assert table.under_only(new) == []
    assert table.checksum(FernetKeyRing.from_keys(new)) == table.expected_checksum()
    workers = {row[0] for row in table.query(f"SELECT worker FROM {BATCHES}")}  # noqa: S608
    names = {w.rsplit(":", 1)[1] for w in workers}
    assert "w1" in names  # the coordinator starts at once
    assert names <= {"w1", "w2"}  # ranges are taken as they go: a late worker may find none


def test_rows_added_outside_the_planned_span_are_covered(
    sqlite_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """The last range is open above: rows inserted past the planned span are still covered."""
    old, new = new_key(), new_key()
    table = sqlite_table(60, old)
    ring = FernetKeyRing.from_keys(new, [old])
    insert_outside = _inserts_once(table, old, (10_000, 20_000))
    reencrypt(
        table.db,
        table.columns,
        ring,
        batch_size=20,
        vault=vault,
        log=log,
        before_write=insert_outside,
    )
    assert table.under_only(new) == []


def test_coordinators_on_several_machines_share_one_pass_through_skip_locked(
    pg_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """Two independent runs on one PostgreSQL pass claim disjoint ranges; each row once."""
    import threading

    old, new = new_key(), new_key()
    table = pg_table(600, old)
    ring = FernetKeyRing.from_keys(new, [old])
    both_claimed = threading.Barrier(2, timeout=60)
    seen: dict[str, list[Any]] = {}
    reports = {}

    def run(name: str) -> None:
        def hook(target: Any, rows: list[tuple[Any, Any]]) -> None:
            first = not seen.setdefault(name, [])
            seen[name].append(rows[0][0])
            if first:
                both_claimed.wait()  # each holds a claimed range before either writes

        reports[name] = reencrypt(
            table.db,
            table.columns,
            ring,
            batch_size=50,
            vault=vault,
            log=log,
            before_write=hook,
        )

    threads = [threading.Thread(target=run, args=(n,)) for n in ("machine-a", "machine-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    a, b = seen["machine-a"], seen["machine-b"]
    assert a
    assert b
    assert not set(a) & set(b)
    assert sum(r.columns[0].this_run.rotated for r in reports.values()) == 600
    assert {r.columns[0].job_id for r in reports.values()} == {"secrets.secret#1"}
    assert all(r.ok for r in reports.values())  # each returns once the whole pass is done
    assert table.under_only(new) == []
    assert table.checksum(FernetKeyRing.from_keys(new)) == table.expected_checksum()


def test_values_needing_escapes_are_rewritten_too(
    any_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """A token with stray characters base64 ignores (a backslash, a tab) still moves over."""
    old, new = new_key(), new_key()
    table = any_table(40, old)
    token = Fernet(old).encrypt(b"odd").decode()
    table.put(7, token[:20] + "\\" + token[20:40] + "\t" + token[40:])
    table.plain[7] = b"odd"
    ring = FernetKeyRing.from_keys(new, [old])
    report = reencrypt(table.db, table.columns, ring, vault=vault, log=log)
    assert report.ok
    assert table.under_only(new) == []
    assert table.checksum(FernetKeyRing.from_keys(new)) == table.expected_checksum()


def test_a_range_that_grew_past_the_read_cap_is_finished_in_its_batch(
    any_table: TableFactory,
    new_key: KeyFactory,
    vault: VaultFile,
    log: AuditLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows inserted into the open last range after planning: it is read in chunks and
    finished in the same transaction as the whole ranges batched with it."""
    monkeypatch.setenv("ERP_FERNET_TARGET_BATCH_SECONDS", "60")  # batches double each time
    old, new = new_key(), new_key()
    table = any_table(200, old)  # ten ranges of 20: batches of 1, 2, 4 and 3 ranges
    ring = FernetKeyRing.from_keys(new, [old])
    grow_the_last_range = _inserts_once(table, old, range(1_000, 1_100))  # past 2 x 20
    report = reencrypt(
        table.db,
        table.columns,
        ring,
        batch_size=20,
        vault=vault,
        log=log,
        before_write=grow_the_last_range,
    )
    assert report.ok
    assert report.columns[0].totals.rotated == 300
    assert table.under_only(new) == []
    assert table.checksum(FernetKeyRing.from_keys(new)) == table.expected_checksum()


def _inserts_once(
    table: EncryptedTable, key: str, pks: Iterable[int]
) -> Callable[[Any, list[tuple[Any, Any]]], None]:
    """A ``before_write`` hook: the first time it runs, an application inserts ``pks``."""
    done = False

    def insert(target: Any, rows: list[tuple[Any, Any]]) -> None:
        nonlocal done
        if not done:
            done = True
            for pk in pks:
                table.put_new(pk, Fernet(key).encrypt(b"late").decode())
                table.plain[pk] = b"late"

    return insert
