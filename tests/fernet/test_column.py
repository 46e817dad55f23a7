"""The SQLAlchemy column type, discovery of encrypted columns, and the progress output."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from erp.fernet import EncryptedColumn, EncryptedType, FernetKeyRing, encrypted_columns
from erp.fernet.reencrypt import PlainReporter, columns_from_config, columns_from_metadata
from erp.fernet.reencrypt.progress import RichReporter

from .conftest import KeyFactory
from .test_errors import run_cli


def test_column_type_stores_tokens_and_returns_plaintext(
    new_key: KeyFactory, tmp_path: Path
) -> None:
    """Writes go to the database as Fernet tokens; reads come back as plaintext; None stays NULL."""
    key = new_key()
    ring = FernetKeyRing.from_keys(key)
    metadata = MetaData()
    people = Table(
        "people",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("ssn", EncryptedType(lambda: ring)),
    )
    engine = create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(people.insert(), [{"id": 1, "ssn": "123-45-6789"}, {"id": 2, "ssn": None}])
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT ssn FROM people ORDER BY id")).scalars().all()
        assert Fernet(key).decrypt(raw[0]) == b"123-45-6789"
        assert raw[1] is None
        assert conn.execute(select(people.c.ssn).order_by(people.c.id)).scalars().all() == [
            "123-45-6789",
            None,
        ]
    engine.dispose()


def test_column_type_uses_the_configured_key_by_default(
    new_key: KeyFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without a ring argument the type encrypts with FERNET_KEY and reads fallbacks too."""
    old, new = new_key(), new_key()
    monkeypatch.setenv("FERNET_KEY", new)
    monkeypatch.setenv("FERNET_FALLBACK_KEYS", old)

    class Base(DeclarativeBase):
        pass

    class Account(Base):
        __tablename__ = "accounts"
        id: Mapped[int] = mapped_column(primary_key=True)
        iban: Mapped[str] = mapped_column(EncryptedType())

    engine = create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO accounts (id, iban) VALUES (1, :t)"),
            {"t": Fernet(old).encrypt(b"DE00 old").decode()},
        )
    with Session(engine) as session:
        session.add(Account(id=2, iban="DE00 new"))
        session.commit()
        assert [a.iban for a in session.scalars(select(Account).order_by(Account.id))] == [
            "DE00 old",
            "DE00 new",
        ]
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT iban FROM accounts WHERE id = 2")).scalar_one()
    assert Fernet(new).decrypt(stored) == b"DE00 new"
    engine.dispose()


def test_encrypted_columns_are_found_in_metadata() -> None:
    """Discovery lists exactly the EncryptedType columns, schema-qualified, sorted."""
    metadata = MetaData()
    Table(
        "users",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("email", String),
        Column("ssn", EncryptedType()),
    )
    Table(
        "cards",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("pan", EncryptedType()),
        schema="billing",
    )
    assert encrypted_columns(metadata) == [
        EncryptedColumn("billing.cards", "pan"),
        EncryptedColumn("users", "ssn"),
    ]


def test_reencrypt_discovers_columns_from_the_application_metadata(
    new_key: KeyFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--metadata module:Base`` finds the encrypted columns by itself."""
    (tmp_path / "shop_models.py").write_text(
        textwrap.dedent("""
        from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
        from erp.fernet import EncryptedType

        class Base(DeclarativeBase):
            pass

        class Customer(Base):
            __tablename__ = "customers"
            id: Mapped[int] = mapped_column(primary_key=True)
            tax_id: Mapped[str] = mapped_column(EncryptedType())
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    old, new = new_key(), new_key()
    db = tmp_path / "shop.db"
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE customers (id INTEGER PRIMARY KEY, tax_id TEXT)"))
        conn.execute(
            text("INSERT INTO customers VALUES (1, :t)"),
            {"t": Fernet(old).encrypt(b"T-1").decode()},
        )
    engine.dispose()
    monkeypatch.setenv("FERNET_KEY", new)
    monkeypatch.setenv("FERNET_FALLBACK_KEYS", old)
    code, out, err = run_cli(
        [
            "fernet",
            "reencrypt",
            "--db",
            f"sqlite:///{db}",
            "--metadata",
            "shop_models:Base",
            "--progress",
            "none",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    assert json.loads(out)["columns"]["customers.tax_id"]["rotated"] == 1


def test_metadata_module_is_imported_from_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--metadata`` finds a module in the current folder, as ``python -m`` would; the
    folder is on ``sys.path`` for that import only."""
    (tmp_path / "cwd_shop_models.py").write_text(
        textwrap.dedent("""
        from sqlalchemy import Column, Integer, MetaData, Table
        from erp.fernet import EncryptedType

        metadata = MetaData()
        Table("orders", metadata, Column("id", Integer, primary_key=True),
              Column("card", EncryptedType()))
    """)
    )
    # A console script's path holds its bin folder, never the working folder ("" or ".").
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])
    monkeypatch.delitem(sys.modules, "cwd_shop_models", raising=False)
    monkeypatch.chdir(tmp_path)
    before = list(sys.path)
    try:
        assert columns_from_metadata("cwd_shop_models:metadata") == [("orders", "card")]
    finally:
        sys.modules.pop("cwd_shop_models", None)
    assert sys.path == before


def test_columns_from_a_config_file(tmp_path: Path) -> None:
    """A YAML file lists columns; a malformed one is one error naming the file."""
    good = tmp_path / "columns.yaml"
    good.write_text("columns:\n  - users.ssn\n  - billing.cards.pan\n")
    assert columns_from_config(good) == [("users", "ssn"), ("billing.cards", "pan")]
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: users.ssn\n")
    from erp.errors import ConfigError

    with pytest.raises(ConfigError, match=str(bad)):
        columns_from_config(bad)


def test_yaml_columns_config_without_pyyaml_names_the_db_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without PyYAML, a YAML config names ``[db]`` (not a parse error); JSON still works."""
    from erp._extras import MissingExtra

    monkeypatch.setitem(sys.modules, "yaml", None)
    listed = tmp_path / "columns.yaml"
    listed.write_text("columns:\n  - users.ssn\n")
    with pytest.raises(MissingExtra, match=r"erp-secrets\[db\]"):
        columns_from_config(listed)
    as_json = tmp_path / "columns.json"
    as_json.write_text('{"columns": ["users.ssn"]}')
    assert columns_from_config(as_json) == [("users", "ssn")]


def test_plain_progress_prints_rows_per_second_and_eta() -> None:
    """Without a terminal: one line per interval with rows, percent, rows/s and ETA."""
    now = [100.0]
    out = io.StringIO()
    reporter = PlainReporter(out, interval_seconds=1.0, monotonic=lambda: now[0])
    reporter.begin("users.ssn", 10_000, 2_000, "resuming pass 1")
    now[0] += 2.0
    reporter.advance(4_000)
    reporter.end()
    lines = out.getvalue().splitlines()
    assert lines[0] == "users.ssn: resuming pass 1"
    assert lines[1] == "users.ssn: 6,000/10,000 rows (60.0%), 2,000 rows/s, ETA 2s"
    assert lines[2] == "users.ssn: 6,000/10,000 rows (60.0%), 2,000 rows/s, finished"


def test_rich_progress_bar_shows_rate_and_eta() -> None:
    """On a terminal: a bar with rows done, rows/s and the ETA."""
    from rich.console import Console

    buffer = io.StringIO()
    reporter = RichReporter(Console(file=buffer, force_terminal=True, width=120))
    reporter.begin("users.ssn", 1_000, 0, "pass 1")
    reporter.advance(500)
    reporter._progress.refresh()
    reporter.end()
    shown = buffer.getvalue()
    assert "users.ssn" in shown
    assert "rows/s" in shown
    assert "ETA" in shown
    assert "500/1000" in shown


def test_importing_the_fernet_api_stays_light() -> None:
    """``erp.fernet`` and ``erp.security.encrypt`` do not load SQLAlchemy or rich."""
    code = (
        "import sys, erp.fernet, erp.security; "
        "print(','.join(m for m in ('sqlalchemy', 'rich', 'psycopg') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_encrypted_type_without_sqlalchemy_names_the_db_extra() -> None:
    """Without SQLAlchemy, ``EncryptedType`` raises MissingExtra naming ``[db]``."""
    code = (
        "import sys; sys.modules['sqlalchemy'] = None\n"
        "from erp._extras import MissingExtra\n"
        "try:\n    from erp.fernet import EncryptedType\n"
        "except MissingExtra as exc:\n    print(exc.extra, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("db "), out.stdout + out.stderr
    assert "erp-secrets[db]" in out.stdout


def test_progress_without_rich_falls_back_to_lines_or_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without rich: ``auto`` on a terminal prints plain lines; ``bar`` names ``[rich]``."""
    from erp._extras import MissingExtra
    from erp.fernet.reencrypt.progress import make_reporter

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setitem(sys.modules, "rich", None)
    monkeypatch.setattr(sys, "stderr", Terminal())
    monkeypatch.delenv("CI", raising=False)
    assert isinstance(make_reporter("auto"), PlainReporter)
    with pytest.raises(MissingExtra, match=r"erp-secrets\[rich\]"):
        make_reporter("bar")
