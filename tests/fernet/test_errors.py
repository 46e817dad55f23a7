"""Bad setup gives one clear error and writes nothing: keys, database, table, column."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from erp.cli import main
from erp.store.audit import AuditLog
from erp.store.vault import VaultFile

from .conftest import EncryptedTable, KeyFactory, TableFactory


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``erp-secrets`` in-process as the console script does; (exit code, out, err)."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _state(table: EncryptedTable, vault: VaultFile, log: AuditLog) -> tuple[object, ...]:
    db: object
    if table.kind == "sqlite":
        db = hashlib.sha256(Path(table.dsn).read_bytes()).hexdigest()
    else:
        db = (sorted(table.tables()), table.values())
    return (db, vault.path.exists() and vault.path.read_bytes(), log.path.exists())


@pytest.fixture
def setup(
    any_table: TableFactory, new_key: KeyFactory, monkeypatch: pytest.MonkeyPatch
) -> tuple[EncryptedTable, str]:
    """A 50-row table under ``old`` with FERNET_KEY=new and FERNET_FALLBACK_KEYS=old set."""
    old, new = new_key(), new_key()
    table = any_table(50, old)
    monkeypatch.setenv("FERNET_KEY", new)
    monkeypatch.setenv("FERNET_FALLBACK_KEYS", old)
    return table, old


def _reencrypt(table: EncryptedTable, *extra: str) -> list[str]:
    return ["fernet", "reencrypt", "--db", table.db, "--progress", "none", *extra]


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("missing.secret", "table 'missing' does not exist"),
        ("secrets.nope", "column 'nope' does not exist in table 'secrets'"),
        ("secrets.id", "is the primary key itself"),
        ("secret", "must be written table.column"),
    ],
)
def test_missing_table_or_column_is_one_error_and_nothing_is_written(
    setup: tuple[EncryptedTable, str],
    vault: VaultFile,
    log: AuditLog,
    capsys: pytest.CaptureFixture[str],
    column: str,
    message: str,
) -> None:
    """A table or column that does not exist: one error line naming it, no write anywhere."""
    table, _old = setup
    before = _state(table, vault, log)
    code, _out, err = run_cli(_reencrypt(table, "--column", column), capsys)
    assert code == 1
    assert err.startswith("error: ")
    assert message in err
    assert err.count("\n") == 1
    assert _state(table, vault, log) == before


def test_table_without_primary_key_is_refused(
    sqlite_table: TableFactory,
    new_key: KeyFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Re-encryption needs a single-column primary key to walk the table."""
    table = sqlite_table(5, new_key())
    table.query("CREATE TABLE loose (secret TEXT)")
    monkeypatch.setenv("FERNET_KEY", new_key())
    code, _out, err = run_cli(_reencrypt(table, "--column", "loose.secret"), capsys)
    assert code == 1
    assert "table 'loose' has no primary key" in err


def test_wrong_fernet_key_is_refused_before_any_write(
    setup: tuple[EncryptedTable, str],
    new_key: KeyFactory,
    vault: VaultFile,
    log: AuditLog,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Keys that open none of the data: reencrypt and verify refuse, writing nothing."""
    table, _old = setup
    monkeypatch.setenv("FERNET_FALLBACK_KEYS", new_key())
    before = _state(table, vault, log)
    for command in (
        _reencrypt(table, "--column", table.spec),
        ["fernet", "verify", "--db", table.db, "--column", table.spec],
    ):
        code, _out, err = run_cli(command, capsys)
        assert code == 1
        assert "is FERNET_KEY the key this data was encrypted with?" in err
        assert _state(table, vault, log) == before


def test_missing_fernet_key_is_one_error(
    setup: tuple[EncryptedTable, str],
    vault: VaultFile,
    log: AuditLog,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No FERNET_KEY: the error names it and where it looked."""
    table, _old = setup
    monkeypatch.delenv("FERNET_KEY")
    before = _state(table, vault, log)
    code, _out, err = run_cli(_reencrypt(table, "--column", table.spec), capsys)
    assert code == 1
    assert "secret 'FERNET_KEY' not found" in err
    assert _state(table, vault, log) == before


def test_malformed_fernet_key_is_one_error_without_its_value(
    setup: tuple[EncryptedTable, str],
    vault: VaultFile,
    log: AuditLog,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A malformed FERNET_KEY: named, explained, never echoed."""
    table, old = setup
    monkeypatch.setenv("FERNET_KEY", old[:30])
    before = _state(table, vault, log)
    code, out, err = run_cli(_reencrypt(table, "--column", table.spec), capsys)
    assert code == 1
    assert "environment variable FERNET_KEY is not url-safe base64" in err
    assert "fernet generate" in err
    assert old[:30] not in out + err
    assert _state(table, vault, log) == before


def test_missing_sqlite_file_is_not_created(
    tmp_path: Path,
    new_key: KeyFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A SQLite path that does not exist is an error; the file is not created."""
    monkeypatch.setenv("FERNET_KEY", new_key())
    path = tmp_path / "nowhere.db"
    code, _out, err = run_cli(
        ["fernet", "reencrypt", "--db", str(path), "--column", "secrets.secret"], capsys
    )
    assert code == 1
    assert f"SQLite database {path} does not exist" in err
    assert not path.exists()


def test_unreachable_postgres_is_one_error_without_password(
    new_key: KeyFactory,
    vault: VaultFile,
    log: AuditLog,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A server that does not answer: one error naming the URL without its password."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    monkeypatch.setenv("FERNET_KEY", new_key())
    password = "pw-" + new_key()[:12]
    url = f"postgresql://app:{password}@127.0.0.1:{port}/erp"
    code, out, err = run_cli(
        ["fernet", "reencrypt", "--db", url, "--column", "secrets.secret"], capsys
    )
    assert code == 1
    assert err.startswith(f"error: cannot connect to postgresql://app@127.0.0.1:{port}/erp")
    assert password not in out + err
    assert not vault.path.exists()
    assert not log.path.exists()


def test_columns_must_be_named(
    setup: tuple[EncryptedTable, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --column, --config or --metadata: an error saying how to name them."""
    table, _old = setup
    code, _out, err = run_cli(_reencrypt(table), capsys)
    assert code == 1
    assert "--column table.column" in err


def test_database_lost_during_the_run_is_one_error(
    pg_table: TableFactory, new_key: KeyFactory, vault: VaultFile, log: AuditLog
) -> None:
    """The server going away mid-run: one clear error, the run logged as failed, resumable."""
    from erp.fernet import FernetKeyRing
    from erp.fernet.reencrypt import DatabaseUnavailable, reencrypt

    old, new = new_key(), new_key()
    table = pg_table(120, old)
    ring = FernetKeyRing.from_keys(new, [old])
    writes = 0

    def drop_connections(target: object, rows: object) -> None:
        nonlocal writes
        writes += 1
        if writes == 2:
            table.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

    with pytest.raises(DatabaseUnavailable, match="re-encryption on postgresql://") as caught:
        reencrypt(
            table.db,
            table.columns,
            ring,
            batch_size=30,
            vault=vault,
            log=log,
            before_write=drop_connections,
        )
    assert "rerun to resume" in str(caught.value)
    assert log.entries()[-1]["outcome"] == "failed: DatabaseUnavailable"
    report = reencrypt(table.db, table.columns, ring, batch_size=30, vault=vault, log=log)
    assert report.ok
    assert table.under_only(new) == []
