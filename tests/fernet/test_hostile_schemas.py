"""Re-encryption against schemas, files and users as they are found, not as they are made.

A table of the user's named like the tool's temp table, rows deleted mid-pass, a journal
left by a killed writer, two commands on one SQLite file, keys that are NULL, columns that
cannot hold a token, and a database user without the rights: each either works or is
refused with one sentence, before anything is written, and nothing is lost.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from erp.errors import ConcurrentChange
from erp.fernet import FernetKeyRing
from erp.fernet.errors import DatabasePermission, TargetNotFound
from erp.fernet.reencrypt import reencrypt
from erp.fernet.reencrypt.claims import sqlite_run_lock
from erp.fernet.reencrypt.targets import primary_message
from erp.store.audit import AuditLog
from erp.store.vault import VaultFile
from erp.testing import run_cli

from .conftest import EncryptedTable, KeyFactory, TableFactory


def test_a_user_table_named_like_the_temp_table_is_left_alone(
    pg_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    old, new = new_key(), new_key()
    table = pg_table(30, old)
    table.query("CREATE TABLE erp_fernet_tmp (id int PRIMARY KEY, note text)")
    table.query("INSERT INTO erp_fernet_tmp VALUES (1, 'kept')")
    reencrypt(table.db, table.columns, FernetKeyRing.from_keys(new, [old]), vault=vault, log=log)
    assert table.query("SELECT note FROM public.erp_fernet_tmp") == [("kept",)]
    assert table.under_only(new) == []


def test_rows_deleted_during_the_pass_are_not_counted_as_rotated(
    any_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    old, new = new_key(), new_key()
    table = any_table(20, old)
    deleted = False

    def application_deletes(_target: Any, _rows: list[tuple[Any, Any]]) -> None:
        nonlocal deleted
        if not deleted:
            deleted = True
            table.query("DELETE FROM secrets WHERE id <= 5")

    report = reencrypt(
        table.db,
        table.columns,
        FernetKeyRing.from_keys(new, [old]),
        batch_size=100,
        vault=vault,
        log=log,
        before_write=application_deletes,
    )
    totals = report.columns[0].totals
    assert len(table.values()) == 15
    assert totals.rotated == 15
    assert totals.retried == 5
    assert table.under_only(new) == []


def test_a_journal_left_by_a_killed_writer_is_rolled_back_and_the_run_goes_on(
    sqlite_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """A read-only handle cannot roll a hot journal back; the set-up checks used one."""
    old, new = new_key(), new_key()
    table = sqlite_table(300, old)
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal, sqlite3, sys\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('PRAGMA cache_size = 1'); c.execute('BEGIN IMMEDIATE')\n"
            "c.execute(\"UPDATE secrets SET secret = secret || 'x'\")\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n",
            table.dsn,
        ],
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL
    assert Path(table.dsn + "-journal").exists()
    report = reencrypt(
        table.db, table.columns, FernetKeyRing.from_keys(new, [old]), vault=vault, log=log
    )
    assert report.columns[0].totals.rotated == 300
    assert table.checksum(FernetKeyRing.from_keys(new)) == table.expected_checksum()


def test_a_second_run_on_the_same_sqlite_file_is_refused_at_once(
    sqlite_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """Its workers would not share the first run's counter and would redo its ranges."""
    old, new = new_key(), new_key()
    table = sqlite_table(50, old)
    link = Path(table.dsn).with_name("same-file.db")
    link.symlink_to(table.dsn)  # the same file by another name is the same file
    with (
        sqlite_run_lock(str(link), "the other run"),
        pytest.raises(ConcurrentChange, match="another 'fernet reencrypt' is running"),
    ):
        reencrypt(
            table.db, table.columns, FernetKeyRing.from_keys(new, [old]), vault=vault, log=log
        )
    assert table.under_only(old) == []  # nothing was written
    reencrypt(table.db, table.columns, FernetKeyRing.from_keys(new, [old]), vault=vault, log=log)
    assert table.under_only(new) == []


def test_null_primary_keys_are_refused_before_anything_is_written(
    tmp_path: Path, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """SQLite allows them in a key other than INTEGER PRIMARY KEY; no key reaches the row."""
    from cryptography.fernet import Fernet

    old, new = new_key(), new_key()
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (k TEXT PRIMARY KEY, ssn TEXT)")
        conn.execute("INSERT INTO users VALUES (NULL, ?)", (Fernet(old).encrypt(b"a").decode(),))
        conn.execute("INSERT INTO users VALUES ('k1', ?)", (Fernet(old).encrypt(b"b").decode(),))
    before = path.read_bytes()
    with pytest.raises(TargetNotFound, match="primary key k is NULL"):
        reencrypt(
            str(path), [("users", "ssn")], FernetKeyRing.from_keys(new, [old]), vault=vault, log=log
        )
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("ddl", "problem"),
    [
        ("CREATE TABLE t (id int PRIMARY KEY, v jsonb)", "of type jsonb"),
        ("CREATE TABLE t (id int PRIMARY KEY, v json)", "of type json"),
        (
            "CREATE TABLE t (id int PRIMARY KEY, s text, v text GENERATED ALWAYS AS (s) STORED)",
            "generated column",
        ),
        ("CREATE TABLE t (id bytea PRIMARY KEY, v text)", "primary key of type bytea"),
    ],
)
def test_columns_that_cannot_be_written_back_are_refused_at_set_up(
    pg_table: TableFactory,
    new_key: KeyFactory,
    vault: VaultFile,
    log: AuditLog,
    ddl: str,
    problem: str,
) -> None:
    old, new = new_key(), new_key()
    table = pg_table(1, old)
    table.query(ddl)
    with pytest.raises(TargetNotFound, match=problem):
        reencrypt(table.db, [("t", "v")], FernetKeyRing.from_keys(new, [old]), vault=vault, log=log)
    assert "erp_fernet_jobs" not in table.tables()  # refused before anything was written


def test_a_column_of_a_domain_over_text_is_judged_by_its_base_type(
    pg_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    from cryptography.fernet import Fernet

    old, new = new_key(), new_key()
    table = pg_table(1, old)
    table.query("CREATE DOMAIN token AS text CHECK (left(VALUE, 6) = 'gAAAAA')")
    table.query("CREATE TABLE d (id int PRIMARY KEY, v token)")
    table.query("INSERT INTO d VALUES (1, ?)", (Fernet(old).encrypt(b"x").decode(),))
    reencrypt(table.db, [("d", "v")], FernetKeyRing.from_keys(new, [old]), vault=vault, log=log)
    assert Fernet(new).decrypt(table.query("SELECT v FROM d")[0][0]) == b"x"


def test_a_user_without_the_rights_is_told_which_grant_is_missing(
    pg_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """Not 'rerun to resume': no rerun cures a missing grant."""
    old, new = new_key(), new_key()
    table = pg_table(10, old)
    role = "erp_reader_" + table.dsn.rsplit("/", 1)[1][-6:]
    table.query(f"CREATE ROLE {role} LOGIN")
    table.query(f"GRANT SELECT ON secrets TO {role}")
    table.query(f"REVOKE CREATE ON SCHEMA public FROM {role}, PUBLIC")
    url = table.dsn.replace("//postgres@", f"//{role}@")
    try:
        with pytest.raises(DatabasePermission, match="grant this user UPDATE"):
            reencrypt(url, table.columns, FernetKeyRing.from_keys(new, [old]), vault=vault, log=log)
    finally:
        table.query(f"DROP OWNED BY {role}")
        table.query(f"DROP ROLE {role}")
    assert table.under_only(old) == []


def test_driver_details_that_quote_row_data_are_cut(
    pg_table: TableFactory, new_key: KeyFactory
) -> None:
    """PostgreSQL's DETAIL repeats the failing row; only the primary message is shown."""
    table = pg_table(1, new_key())
    table.query("CREATE TABLE c (id int PRIMARY KEY, note text CHECK (note <> 'PRIVATE-NOTE'))")
    with psycopg.connect(table.dsn) as conn, pytest.raises(psycopg.Error) as caught:
        conn.execute("INSERT INTO c VALUES (1, 'PRIVATE-NOTE')")
    assert "PRIVATE-NOTE" in str(caught.value)
    assert "PRIVATE-NOTE" not in primary_message(caught.value)


def _stopped_pass(
    table: EncryptedTable, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """A pass interrupted at its first write (Ctrl-C): its job row stays 'running'."""
    old = table.key

    def stop(_target: Any, _rows: list[tuple[Any, Any]]) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reencrypt(
            table.db,
            table.columns,
            FernetKeyRing.from_keys(new_key(), [old]),
            batch_size=10,
            vault=vault,
            log=log,
            before_write=stop,
        )


def test_status_tells_a_stopped_pass_from_a_running_one(
    sqlite_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """A killed or interrupted pass stays 'running' in its table; status says it stopped."""
    table = sqlite_table(100, new_key())
    _stopped_pass(table, new_key, vault, log)
    stopped = run_cli("fernet", "status", "--db", table.db)
    assert "stopped (rerun 'erp-secrets fernet reencrypt' to resume)" in stopped.out
    with sqlite_run_lock(table.dsn, "a run"):
        running = run_cli("fernet", "status", "--db", table.db)
    assert ": running, 0/10 batches done" in running.out


def test_status_on_postgresql_tells_a_stopped_pass_too(
    pg_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    table = pg_table(100, new_key())
    _stopped_pass(table, new_key, vault, log)
    assert "stopped (rerun" in run_cli("fernet", "status", "--db", table.db).out
    with psycopg.connect(table.dsn) as worker:  # a worker holding a claimed range
        worker.execute("SELECT 1 FROM erp_fernet_batches LIMIT 1 FOR UPDATE")
        assert ": running, " in run_cli("fernet", "status", "--db", table.db).out
