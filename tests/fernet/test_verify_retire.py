"""Verify proves every value opens with the primary alone; retire needs that proof on the
same database state, and every step lands in the rotation log."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

from erp.fernet import FernetKeyRing
from erp.fernet.reencrypt import reencrypt, retire, verify_and_record
from erp.fernet.rotation import RetireRefused, rotate_fernet_key, vault_keys
from erp.secrets import SecretResolver
from erp.store.audit import AuditLog
from erp.store.vault import META_KEY, VaultFile

from .conftest import EncryptedTable, TableFactory
from .test_errors import run_cli


def _ring(vault: VaultFile) -> FernetKeyRing:
    from erp.fernet import load_fernet_ring

    return load_fernet_ring(SecretResolver.from_config(vault.path))


@pytest.fixture
def rotated(
    sqlite_table: TableFactory, vault: VaultFile, log: AuditLog
) -> tuple[EncryptedTable, FernetKeyRing]:
    """A 90-row table under the vault's first key, then a rotation: data still on the old key."""
    rotate_fernet_key(vault=vault, log=log)
    table = sqlite_table(90, _ring(vault).primary.key)
    rotate_fernet_key(vault=vault, log=log)
    return table, _ring(vault)


def test_retire_is_refused_while_one_row_is_under_the_old_key_then_allowed_after_verify(
    rotated: tuple[EncryptedTable, FernetKeyRing], vault: VaultFile, log: AuditLog
) -> None:
    """One row left on the old key: verify names it and retire refuses; fixed, both pass."""
    table, ring = rotated
    old = ring.fallbacks[0].key
    reencrypt(table.db, table.columns, ring, batch_size=20, vault=vault, log=log)
    straggler = Fernet(old).encrypt(b"written by a stale instance").decode()
    table.put(33, straggler)
    table.plain[33] = b"written by a stale instance"
    report = verify_and_record(table.db, table.columns, ring, vault=vault, log=log)
    assert not report.ok
    assert report.failing == [("secrets.secret", 33, ring.fallbacks[0].fingerprint)]
    with pytest.raises(RetireRefused, match=r"secrets.secret pk=33"):
        retire([table.db], vault=vault, log=log)
    assert vault_keys(vault.read(), "vault").fallbacks  # still there
    reencrypt(table.db, table.columns, ring, batch_size=20, vault=vault, log=log)
    assert verify_and_record(table.db, table.columns, ring, vault=vault, log=log).ok
    result = retire([table.db], vault=vault, log=log)
    assert result.event is not None
    assert result.event["retired"] == [ring.fallbacks[0].fingerprint]
    doc = vault.read()
    assert "FERNET_FALLBACK_KEYS" not in doc
    assert doc["FERNET_KEY_META"][ring.fallbacks[0].fingerprint]["state"] == "retired"
    assert table.checksum(FernetKeyRing.from_keys(ring.primary.key)) == table.expected_checksum()
    events = [e["event"] for e in log.entries()]
    assert events[-2:] == ["fernet.verify", "fernet.retire"]
    assert log.verify(doc[META_KEY]["audit"]).ok


def test_retire_without_a_verify_pass_is_refused(
    rotated: tuple[EncryptedTable, FernetKeyRing], vault: VaultFile, log: AuditLog
) -> None:
    """No verify record for the database: refused, saying to run verify."""
    table, ring = rotated
    reencrypt(table.db, table.columns, ring, vault=vault, log=log)
    with pytest.raises(RetireRefused, match="no verify pass recorded"):
        retire([table.db], vault=vault, log=log)


def test_retire_with_no_old_key_is_a_no_op_with_or_without_a_verify_pass(
    sqlite_table: TableFactory, vault: VaultFile, log: AuditLog
) -> None:
    """One key and nothing to retire: the same answer before any verify and after a retire."""
    rotate_fernet_key(vault=vault, log=log)
    table = sqlite_table(5, _ring(vault).primary.key)
    before = log.entries()
    assert retire([table.db], vault=vault, log=log).change is None
    assert log.entries() == before


def test_retire_is_refused_when_the_database_changed_since_verify(
    rotated: tuple[EncryptedTable, FernetKeyRing], vault: VaultFile, log: AuditLog
) -> None:
    """Any change after verify (here a new value) voids the proof; --verify renews it."""
    table, ring = rotated
    reencrypt(table.db, table.columns, ring, vault=vault, log=log)
    verify_and_record(table.db, table.columns, ring, vault=vault, log=log)
    table.put(5, ring.encrypt("new value under the primary"))
    with pytest.raises(RetireRefused, match="changed since the verify pass"):
        retire([table.db], vault=vault, log=log)
    result = retire([table.db], vault=vault, log=log, verify_with=ring)
    assert result.event is not None
    assert result.event["retired"] == [ring.fallbacks[0].fingerprint]


def test_retire_is_refused_after_another_rotation(
    rotated: tuple[EncryptedTable, FernetKeyRing], vault: VaultFile, log: AuditLog
) -> None:
    """A verify pass proves one primary; after a new rotation it no longer counts."""
    table, ring = rotated
    reencrypt(table.db, table.columns, ring, vault=vault, log=log)
    verify_and_record(table.db, table.columns, ring, vault=vault, log=log)
    rotate_fernet_key(vault=vault, log=log)
    with pytest.raises(RetireRefused, match="but the primary is now"):
        retire([table.db], vault=vault, log=log)


def test_verify_reports_counts_per_table_and_records_fingerprints_and_digest(
    rotated: tuple[EncryptedTable, FernetKeyRing], vault: VaultFile, log: AuditLog
) -> None:
    """The vault keeps what verify proved: fingerprints, counts, the state digest; no values."""
    table, ring = rotated
    reencrypt(table.db, table.columns, ring, vault=vault, log=log)
    verify_and_record(table.db, table.columns, ring, vault=vault, log=log)
    record = vault.read()["FERNET_VERIFIED"][f"sqlite:///{table.dsn}"]
    assert record["ok"] is True
    assert record["primary"] == ring.primary.fingerprint
    assert record["fallbacks"] == [ring.fallbacks[0].fingerprint]
    assert record["columns"]["secrets.secret"]["primary"] == 90
    assert record["digest"].startswith("sha256:")
    text = log.path.read_text() + vault.path.read_text().replace(ring.primary.key, "")
    for value in table.values().values():
        assert value not in text


def test_cli_walks_the_runbook_rotate_reencrypt_verify_retire(
    rotated: tuple[EncryptedTable, FernetKeyRing],
    vault: VaultFile,
    log: AuditLog,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The commands in order, as an operator types them; exit codes and output lines."""
    table, ring = rotated
    base = ["--vault", str(vault.path), "--log", str(log.path)]
    code, out, _err = run_cli(["fernet", "retire", "--db", table.db, *base], capsys)
    assert code == 1
    code, out, err = run_cli(
        ["fernet", "verify", "--db", table.db, "--column", table.spec, *base], capsys
    )
    assert code == 1
    assert "not verified: secrets.secret pk=1: still under old key" in out
    # a screenful, not one line per row: 20 named, the other 70 counted
    assert out.count("not verified: secrets.secret") == 20
    assert "... 70 more" in out
    code, out, err = run_cli(
        [
            "fernet",
            "reencrypt",
            "--db",
            table.db,
            "--column",
            table.spec,
            "--progress",
            "plain",
            "--json",
            *base,
        ],
        capsys,
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["outcome"] == "complete"
    assert summary["columns"]["secrets.secret"]["rotated"] == 90
    assert "secrets.secret: pass 1: 90 rows in 1 batches" in err
    code, out, _err = run_cli(
        ["fernet", "verify", "--db", table.db, "--column", table.spec, *base], capsys
    )
    assert code == 0
    assert "90 open with the primary key alone" in out
    code, out, _err = run_cli(["fernet", "retire", "--db", table.db, *base], capsys)
    assert code == 0
    assert f"retired 1 key(s): {ring.fallbacks[0].fingerprint}" in out
    for text in (out, log.path.read_text()):
        assert ring.primary.key not in text
        assert ring.fallbacks[0].key not in text


def test_status_says_when_a_retired_key_was_removed(
    rotated: tuple[EncryptedTable, FernetKeyRing],
    vault: VaultFile,
    log: AuditLog,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """After retire, ``fernet status`` shows the key as removed from the vault at a time."""
    table, ring = rotated
    reencrypt(table.db, table.columns, ring, vault=vault, log=log)
    assert verify_and_record(table.db, table.columns, ring, vault=vault, log=log).ok
    retire([table.db], vault=vault, log=log)
    old = ring.fallbacks[0].fingerprint
    retired_at = vault.read()["FERNET_KEY_META"][old]["retired_at"]
    code, out, _err = run_cli(["fernet", "status", "--vault", str(vault.path)], capsys)
    assert code == 0
    line = next(x for x in out.splitlines() if old in x)
    assert line.startswith("retired")
    assert f"removed from the vault at {retired_at}" in line
    assert "from -" not in out
    code, out, _err = run_cli(["fernet", "status", "--vault", str(vault.path), "--json"], capsys)
    retired = [k for k in json.loads(out)["keys"] if k["fingerprint"] == old]
    assert retired[0]["source"] == "removed from the vault"
