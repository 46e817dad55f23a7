"""Django: token auth (decorator, backend, DRF), encrypted fields, column discovery and the
runbook's Fernet cycle through ``manage.py erp_secrets``, on the example project (SQLite)."""

from __future__ import annotations

import importlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import django
import pytest
from tests.integrations.conftest import AUDIENCE, EXAMPLES, Issue
from tests.integrations.contract import (
    Answer,
    BearerContract,
    Call,
    answer_from,
    bearer,
    rotate_and_prune_under_traffic,
)

import erp.secrets
from erp.audit import AuditLog
from erp.clock import FrozenClock
from erp.fernet import generate_key
from erp.security import TokenService
from erp.vault import VaultFile

PROJECT = EXAMPLES / "django_project"


def customers() -> Any:
    """The example's ``Customer.objects`` (the project is importable once set up)."""
    return importlib.import_module("ledger.models").Customer.objects


@pytest.fixture(scope="session", autouse=True)
def django_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project set up once on a fresh SQLite file, migrated."""
    db = tmp_path_factory.mktemp("django") / "db.sqlite3"
    if str(PROJECT) not in sys.path:
        sys.path.insert(0, str(PROJECT))
    saved = dict(os.environ)
    # settings.py reads DJANGO_SECRET_KEY through get_secret; migration 0002 encrypts a default
    os.environ.update(
        DJANGO_EXAMPLE_DB=str(db),
        DJANGO_SETTINGS_MODULE="mysite.settings",
        DJANGO_SECRET_KEY=generate_key(),
        FERNET_KEY=generate_key(),
    )
    try:
        erp.secrets.reset()
        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    finally:
        for name in ("DJANGO_SECRET_KEY", "FERNET_KEY"):
            if name not in saved:
                os.environ.pop(name, None)
        erp.secrets.reset()
    return db


@pytest.fixture
def users(jwt_vault: VaultFile) -> None:
    """The users the tokens name."""
    from django.contrib.auth import get_user_model

    for name in ("ada", "bo", "cy", "di"):
        get_user_model()._default_manager.get_or_create(username=name)


@pytest.fixture
def verifier(service: TokenService, users: None) -> Iterator[TokenService]:
    """ERP_AUTH pointing at the test's token service (frozen clock)."""
    from django.test import override_settings

    with override_settings(ERP_AUTH={"AUDIENCE": AUDIENCE, "VERIFIER": service}):
        yield service


def _caller(path: str) -> Call:
    from django.test import Client

    def call(headers: Mapping[str, str]) -> Answer:
        response = Client().get(path, headers=dict(headers))
        return answer_from(response.status_code, response.headers, response.content.decode())

    return call


class TestTokenRequiredView(BearerContract):
    """A plain Django view under ``@token_required``."""

    @pytest.fixture
    def call(self, verifier: TokenService) -> Call:
        return _caller("/me")


class TestAsyncView(BearerContract):
    """An async Django view under ``@token_required``."""

    @pytest.fixture
    def call(self, verifier: TokenService) -> Call:
        return _caller("/me-async")


class TestRestFramework(BearerContract):
    """A DRF view with ``ErpTokenAuthentication`` and ``IsAuthenticated``."""

    @pytest.fixture
    def call(self, verifier: TokenService) -> Call:
        return _caller("/api/me")

    def test_missing_token_gets_401_bearer_without_error_code(self, call: Call) -> None:
        """No credentials: DRF's own 401, with the bare Bearer challenge."""
        answer = call({})
        assert (answer.status, answer.challenge) == (401, "Bearer")

    def test_other_scheme_counts_as_missing_credentials(self, call: Call) -> None:
        """Basic credentials are left to other classes; none accepts: bare challenge."""
        answer = call({"Authorization": "Basic YWRhOnB3"})
        assert (answer.status, answer.challenge) == (401, "Bearer")

    def test_request_auth_holds_the_claims(self, call: Call, issue: Issue) -> None:
        """request.auth is the claims dict."""
        assert call(bearer(issue("bo"))).body == {"sub": "bo"}


def test_token_for_unknown_user_is_refused(verifier: TokenService, issue: Issue) -> None:
    """A valid token naming no user: 401 invalid_token, the name not echoed."""
    answer = _caller("/me")(bearer(issue("nobody-here")))
    assert answer.status == 401
    assert "nobody-here" not in answer.raw


def test_backend_authenticates_a_token(verifier: TokenService, issue: Issue) -> None:
    """django.contrib.auth.authenticate(token=...) returns the user, or None."""
    from django.contrib.auth import authenticate

    user = authenticate(None, token=issue("cy"))
    assert user is not None
    assert user.get_username() == "cy"
    assert authenticate(None, token=issue("cy") + "x") is None


def test_rotation_under_traffic(
    verifier: TokenService,
    issue: Issue,
    jwt_vault: VaultFile,
    log: AuditLog,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DRF requests keep succeeding through jwt rotate and prune; no restart."""
    monkeypatch.setenv("ERP_JWT_MAX_TOKEN_TTL_SECONDS", "900")
    rotate_and_prune_under_traffic(
        _caller("/api/me"), service=verifier, issue=issue, vault=jwt_vault, log=log, clock=clock
    )


@pytest.fixture
def fernet_vault(jwt_vault: VaultFile) -> VaultFile:
    """A vault with one Fernet key, through the management command; no customers yet."""
    from django.core.management import call_command

    call_command("erp_secrets", "fernet", "rotate")
    erp.secrets.reset()
    customers().all().delete()
    return jwt_vault


_RAW = {
    "ssn": "SELECT ssn FROM ledger_customer ORDER BY id",
    "profile": "SELECT profile FROM ledger_customer ORDER BY id",
}


def _raw(db: Path, column: str) -> list[str]:
    """What the column holds on disk, read past the ORM."""
    with closing(sqlite3.connect(db)) as conn:
        return [r[0] for r in conn.execute(_RAW[column])]


def test_fields_store_tokens_and_refuse_lookups(
    fernet_vault: VaultFile, django_project: Path
) -> None:
    """The column holds Fernet tokens; the ORM sees plaintext; equality lookups raise."""
    from django.core.exceptions import FieldError

    customers().create(name="ada", ssn="123-45-6789", profile={"tier": "gold"})
    raw = _raw(django_project, "ssn")[0]
    assert raw.startswith("gAAAA")
    assert "123-45-6789" not in raw
    assert customers().get(name="ada").profile == {"tier": "gold"}
    assert customers().filter(ssn__isnull=False).count() == 1
    with pytest.raises(FieldError):
        customers().filter(ssn="123-45-6789").count()


def test_discovery_lists_encrypted_columns(django_project: Path) -> None:
    """The registry yields the columns in the form --column takes; the DB as --db takes."""
    from erp.integrations.django.discovery import (
        columns_from_django_settings,
        database_url,
        encrypted_columns,
    )

    expected = [("ledger_customer", "profile"), ("ledger_customer", "ssn")]
    assert encrypted_columns() == expected
    assert columns_from_django_settings("mysite.settings") == expected
    assert database_url() == str(django_project)


def test_runbook_fernet_cycle_through_manage_py(
    fernet_vault: VaultFile, django_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """rotate, reencrypt (columns discovered), verify, retire: the ORM reads every row."""
    from django.core.management import call_command

    rows = {}
    for i in range(40):
        customer = customers().create(name=f"c{i}", ssn=f"ssn-{i}", profile={"i": i, "tags": ["x"]})
        rows[customer.pk] = (customer.ssn, customer.profile)
    before = _raw(django_project, "ssn")
    call_command("erp_secrets", "fernet", "rotate")
    erp.secrets.reset()  # a running app sees the new key within a second; here at once
    call_command("erp_secrets", "fernet", "reencrypt", "--progress", "none")
    call_command("erp_secrets", "fernet", "verify")
    call_command("erp_secrets", "fernet", "retire")
    erp.secrets.reset()
    shown = capsys.readouterr().out
    doc = json.loads(fernet_vault.path.read_text())
    assert not doc.get("FERNET_FALLBACK_KEYS")
    assert set(_raw(django_project, "ssn")).isdisjoint(before)
    assert {c.pk: (c.ssn, c.profile) for c in customers().all()} == rows
    assert "ledger_customer.ssn: 40 rows this run (40 rewritten)" in shown
    assert doc["FERNET_KEY"] not in shown


def test_verify_failure_is_a_command_error(fernet_vault: VaultFile) -> None:
    """A failing pass surfaces as CommandError with the CLI's exit status."""
    from django.core.management import CommandError, call_command

    customers().create(name="x", ssn="1")
    call_command("erp_secrets", "fernet", "rotate")
    erp.secrets.reset()
    with pytest.raises(CommandError) as failed:
        call_command("erp_secrets", "fernet", "verify")
    assert failed.value.returncode == 1


def test_migration_adds_an_encrypted_field_to_an_existing_table(
    fernet_vault: VaultFile, django_project: Path
) -> None:
    """0002 adds an EncryptedJSONField; old rows get the encrypted default and read back."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from erp.integrations.django.discovery import encrypted_columns

    executor = MigrationExecutor(connection)
    executor.migrate([("ledger", "0001_initial")])
    old_apps = executor.loader.project_state([("ledger", "0001_initial")]).apps
    old_apps.get_model("ledger", "Customer").objects.create(name="old", ssn="42")
    assert encrypted_columns(old_apps) == [("ledger_customer", "ssn")]

    executor = MigrationExecutor(connection)
    executor.migrate([("ledger", "0002_customer_profile")])
    customer = customers().get(name="old")
    assert (customer.ssn, customer.profile) == ("42", {})
    assert _raw(django_project, "profile")[0].startswith("gAAAA")
    assert encrypted_columns() == [("ledger_customer", "profile"), ("ledger_customer", "ssn")]


def test_manage_py_wrapper_fills_in_db_and_columns_unless_given(django_project: Path) -> None:
    """--db and --column come from the project; options given explicitly win."""
    from erp.integrations.django.management.commands.erp_secrets import complete_argv

    db = str(django_project)
    columns = ["--column", "ledger_customer.profile", "--column", "ledger_customer.ssn"]
    assert complete_argv(["fernet", "verify"]) == ["fernet", "verify", "--db", db, *columns]
    assert complete_argv(["fernet", "verify", "--db=other.db", "--column", "t.c"]) == [
        "fernet",
        "verify",
        "--db=other.db",
        "--column",
        "t.c",
    ]
    assert complete_argv(["fernet", "retire"]) == ["fernet", "retire", "--db", db]
    assert complete_argv(["jwt", "rotate"]) == ["jwt", "rotate"]


def test_other_settings_module_is_a_config_error(django_project: Path) -> None:
    """Discovery refuses to switch a process already set up with other settings."""
    from erp.errors import ConfigError
    from erp.integrations.django.discovery import columns_from_django_settings

    with pytest.raises(ConfigError, match="already set up"):
        columns_from_django_settings("othersite.settings")


def test_secret_reads_through_get_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """settings.py's secret() resolves like get_secret; a default covers a missing name."""
    from erp.errors import SecretNotFound
    from erp.integrations.django.conf import secret

    monkeypatch.setenv("DJANGO_SECRET_KEY", "from-the-environment")
    assert secret("DJANGO_SECRET_KEY") == "from-the-environment"
    assert secret("ERP_NOT_CONFIGURED", default=None) is None
    with pytest.raises(SecretNotFound):
        secret("ERP_NOT_CONFIGURED")


def test_postgresql_settings_become_a_libpq_url() -> None:
    """A PostgreSQL DATABASES entry is a postgresql:// URL, odd characters quoted."""
    from erp.integrations.django.discovery import url_from_settings

    conf = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "erp",
        "USER": "app",
        "PASSWORD": "p@ss:w/rd",
        "HOST": "db.internal",
        "PORT": "5433",
    }
    assert url_from_settings(conf) == "postgresql://app:p%40ss%3Aw%2Frd@db.internal:5433/erp"


def test_unsupported_engine_is_a_config_error() -> None:
    """A MySQL database is named as unsupported, not half-handled."""
    from erp.errors import ConfigError
    from erp.integrations.django.discovery import url_from_settings

    with pytest.raises(ConfigError, match="mysql"):
        url_from_settings({"ENGINE": "django.db.backends.mysql", "NAME": "erp"})


def test_unique_or_indexed_encrypted_field_fails_the_system_checks(django_project: Path) -> None:
    """unique=True or db_index=True on an encrypted field is a check error (erp.E001)."""
    from erp.integrations.django.fields import EncryptedTextField

    for field in (
        EncryptedTextField(unique=True),
        EncryptedTextField(db_index=True),
        EncryptedTextField(primary_key=True),
    ):
        field.set_attributes_from_name("ssn")
        field.model = importlib.import_module("ledger.models").Customer
        assert "erp.E001" in [e.id for e in field.check()]
    plain = EncryptedTextField()
    plain.set_attributes_from_name("ssn")
    plain.model = importlib.import_module("ledger.models").Customer
    assert "erp.E001" not in [e.id for e in plain.check()]


def test_json_field_form_round_trip(fernet_vault: VaultFile) -> None:
    """A ModelForm edits the JSON field as JSON and saves it encrypted."""
    from django.forms import modelform_factory

    model = importlib.import_module("ledger.models").Customer
    form_class = modelform_factory(model, fields=["name", "ssn", "profile"])
    form = form_class(data={"name": "eve", "ssn": "9", "profile": '{"tier": "gold"}'})
    assert form.is_valid(), form.errors
    saved = form.save()
    assert customers().get(pk=saved.pk).profile == {"tier": "gold"}


def test_cli_discovers_columns_with_django_settings(
    fernet_vault: VaultFile, django_project: Path
) -> None:
    """erp-secrets fernet reencrypt|verify --django-settings, run from the project root."""
    from django.core.management import call_command

    for i in range(5):
        customers().create(name=f"c{i}", ssn=f"ssn-{i}", profile={"i": i})
    call_command("erp_secrets", "fernet", "rotate")
    cli = Path(sys.executable).with_name("erp-secrets")
    outputs = []
    for command in ("reencrypt", "verify"):
        args = ["--db", str(django_project), "--django-settings", "mysite.settings"]
        done = subprocess.run(
            [str(cli), "fernet", command, *args, *(["--progress", "none"])],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert (command, done.returncode, done.stderr) == (command, 0, "")
        outputs.append(done.stdout)
    assert "ledger_customer.profile: 5 rows" in outputs[1]
    assert "ledger_customer.ssn: 5 rows" in outputs[1]
