"""Hostile settings and misplaced secrets: every ``ERP_*`` variable of the JWT commands set to
NaN, infinities, negative, huge or text values; a secret pasted into ``JWT_SECRET_ID``; a map
written the wrong way round. Each is one sentence naming the variable (or file), exit code 1,
nothing on disk changed, and no secret in any output; ``python -m erp.cli`` exits as
``erp-secrets`` does.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

import erp.secrets
from erp._settings import looks_like_secret
from erp.errors import ConfigError, ErpError, KeyRingError, SettingError
from erp.jwt.keyring import RotationPolicy, generate_secret
from erp.jwt.rotation import rotate_key
from erp.jwt.tokens import _read_max_token_bytes
from erp.secrets import EnvSource, SecretResolver, load_jwt_ring
from erp.security import TokenService
from erp.store.audit import AuditLog, default_actor
from erp.store.vault import VaultFile
from erp.testing import CliResult as Ran
from erp.testing import run_cli

Cli = Callable[..., Ran]
BAD_NUMBERS = ["nan", "NaN", "inf", "-inf", "Infinity", "-1", "1e300", "1e15", "soon", "0x10"]
NUMBER_SETTINGS = [
    "ERP_JWT_MAX_TOKEN_TTL_SECONDS",
    "ERP_JWT_LEEWAY_SECONDS",
    "ERP_JWT_MIN_STAGE_SECONDS",
    "ERP_JWT_ROTATION_INTERVAL_DAYS",
]
COMMANDS = [("jwt", "rotate"), ("jwt", "status"), ("jwt", "prune", "--dry-run"), ("jwt", "stage")]
SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "rotate_jwt_secret.py"
WINDOW = 12


def _one_clear_line(ran: Ran, *needles: str) -> None:
    assert ran.code == 1, ran
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1, ran.err
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _clean(text: str, *secrets: str) -> None:
    for secret in secrets:
        for start in range(max(1, len(secret) - WINDOW + 1)):
            assert secret[start : start + WINDOW] not in text, "secret material shown"


@pytest.mark.parametrize("variable", NUMBER_SETTINGS)
@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_malformed_number_setting_is_one_sentence_naming_it(
    erp_cli: Cli, monkeypatch: pytest.MonkeyPatch, vault: VaultFile, variable: str, value: str
) -> None:
    """NaN, inf, negative, huge or text in an ERP_JWT_* number: SettingError, exit 1, no file."""
    monkeypatch.setenv(variable, value)
    for args in COMMANDS:
        _one_clear_line(erp_cli(*args), variable, "environment variable")
    assert not vault.path.exists()
    with pytest.raises(SettingError, match=variable):
        RotationPolicy.from_env()


def test_an_out_of_range_number_names_the_exact_limits_and_is_not_echoed_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """1048576 is the limit, not 1.04858e+06 (which reads as if 1048580 were inside)."""
    monkeypatch.setenv("ERP_JWT_MAX_TOKEN_BYTES", "1048580")
    with pytest.raises(SettingError, match="from 256 to 1048576 bytes"):
        _read_max_token_bytes()
    huge = "9" * 200
    monkeypatch.setenv("ERP_JWT_MAX_TOKEN_BYTES", huge)
    with pytest.raises(SettingError) as caught:
        _read_max_token_bytes()
    assert huge not in str(caught.value)


@pytest.mark.parametrize("value", ["weekly", "nan", "1", "staged; rm -rf /"])
def test_unknown_policy_is_a_setting_error(
    erp_cli: Cli, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """ERP_JWT_POLICY outside immediate|staged: SettingError naming it and the choices."""
    monkeypatch.setenv("ERP_JWT_POLICY", value)
    _one_clear_line(erp_cli("jwt", "rotate"), "ERP_JWT_POLICY", "'immediate', 'staged'")


@pytest.mark.parametrize("value", ["x" * 200, "ops\x1b[31m", "line\nbreak"])
def test_unprintable_or_long_actor_is_refused_before_anything_changes(
    erp_cli: Cli, monkeypatch: pytest.MonkeyPatch, vault: VaultFile, value: str
) -> None:
    """ERP_ACTOR that is too long or holds control characters: SettingError, no vault written."""
    monkeypatch.setenv("ERP_ACTOR", value)
    with pytest.raises(SettingError, match="ERP_ACTOR"):
        default_actor()
    _one_clear_line(erp_cli("jwt", "rotate"), "ERP_ACTOR")
    assert not vault.path.exists()


def test_default_actor_is_erp_actor_else_the_login_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """ERP_ACTOR wins when set; unset (or empty), the login name is recorded."""
    import getpass

    monkeypatch.setenv("ERP_ACTOR", "release-bot")
    assert default_actor() == "release-bot"
    monkeypatch.setenv("ERP_ACTOR", "")
    assert default_actor() == getpass.getuser()


def test_settings_of_the_right_shape_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole and fractional numbers inside the ranges are read as given."""
    monkeypatch.setenv("ERP_JWT_LEEWAY_SECONDS", "2.5")
    monkeypatch.setenv("ERP_JWT_MAX_TOKEN_TTL_SECONDS", "86400")
    policy = RotationPolicy.from_env()
    assert policy.leeway == timedelta(seconds=2.5)
    assert policy.max_token_ttl == timedelta(days=1)


def test_rotate_script_gives_the_same_sentence_for_a_bad_setting(tmp_path: Path) -> None:
    """The runbook script: one line naming the variable, exit 1, no traceback."""
    env = {**os.environ, "ERP_JWT_LEEWAY_SECONDS": "nan"}
    env.pop("ERP_VAULT_FILE", None)
    ran = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert ran.returncode == 1
    assert ran.stderr.count("\n") == 1
    assert "ERP_JWT_LEEWAY_SECONDS" in ran.stderr
    assert not (tmp_path / "jwt_secrets.json").exists()


@pytest.mark.parametrize(
    ("args", "setup"),
    [
        (["--version"], None),
        (["jwt", "status"], None),
        (["jwt", "rotate"], "ERP_JWT_LEEWAY_SECONDS=nan"),
        (["jwt", "status"], "corrupt"),
        (["jwt", "nonsense"], None),
    ],
)
def test_python_m_erp_cli_exits_like_erp_secrets(
    tmp_path: Path, args: list[str], setup: str | None
) -> None:
    """`python -m erp.cli ARGS` and `erp-secrets ARGS` give the same exit code and output."""
    env = {**os.environ, "ERP_VAULT_FILE": str(tmp_path / "v.json")}
    env["ERP_ROTATION_LOG"] = str(tmp_path / "r.log")
    if setup == "corrupt":
        (tmp_path / "v.json").write_text("{oops")
    elif setup is not None:
        name, _, value = setup.partition("=")
        env[name] = value
    script = Path(sys.executable).parent / "erp-secrets"
    if not script.exists():
        pytest.skip("the erp-secrets console script is not installed beside this python")
    runs = [
        subprocess.run(cmd + args, env=env, capture_output=True, text=True, cwd=tmp_path)
        for cmd in ([sys.executable, "-m", "erp.cli"], [str(script)])
    ]
    assert runs[0].returncode == runs[1].returncode
    assert runs[0].stderr.replace("python -m erp.cli", "erp-secrets") == runs[1].stderr
    if setup is not None or args[-1] == "nonsense":
        assert runs[0].returncode != 0


# -- secrets in the wrong place ----------------------------------------------------------


def test_secret_pasted_into_jwt_secret_id_is_never_shown(
    erp_cli: Cli, vault: VaultFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JWT_SECRET_ID holding a secret: the error names its fingerprint, never the value."""
    real, pasted = generate_secret(), generate_secret()
    vault.path.write_text(json.dumps({"JWT_SECRETS": {"k1": real}, "JWT_SECRET_ID": pasted}))
    for args in COMMANDS:
        ran = erp_cli(*args)
        assert ran.code == 1, ran
        _clean(ran.out + ran.err, real, pasted)
    ran = erp_cli("audit", "verify")  # reads the log, not the ring: fine, and clean
    _clean(ran.out + ran.err, real, pasted)
    assert "sha256:" in erp_cli("jwt", "status").err
    env = EnvSource({"JWT_SECRETS": json.dumps({"k1": real}), "JWT_SECRET_ID": real})
    with pytest.raises(KeyRingError) as caught:
        load_jwt_ring(SecretResolver([env]))
    _clean(str(caught.value) + repr(caught.value), real)
    assert "is it a secret?" in str(caught.value)


def test_short_unknown_key_id_is_still_named(vault: VaultFile) -> None:
    """An id too short to be a secret is shown, so a typo is easy to fix."""
    vault.path.write_text(
        json.dumps({"JWT_SECRETS": {"k1": generate_secret()}, "JWT_SECRET_ID": "k2"})
    )
    env = EnvSource({})
    with pytest.raises(KeyRingError, match=r"names key 'k2'.*ids: k1"):
        load_jwt_ring(SecretResolver([env, *SecretResolver.from_config(vault.path).sources[1:]]))


def test_map_written_the_wrong_way_round_never_shows_the_secret(
    erp_cli: Cli, vault: VaultFile, tmp_path: Path
) -> None:
    """{"<secret>": "k1"}: every command, the script and the library name fingerprints only."""
    secret = generate_secret()
    vault.path.write_text(json.dumps({"JWT_SECRETS": {secret: "k1"}, "JWT_SECRET_ID": "k1"}))
    before = vault.path.read_bytes()
    for args in [*COMMANDS, ("audit", "verify"), ("audit", "repair")]:
        ran = erp_cli(*args)
        _clean(ran.out + ran.err, secret)
    assert "reversed" in erp_cli("jwt", "status").err
    script = subprocess.run(
        [sys.executable, str(SCRIPT), "--vault", str(vault.path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert script.returncode == 1
    _clean(script.stdout + script.stderr, secret)
    env = EnvSource({"JWT_SECRETS": json.dumps({secret: "k1"}), "JWT_SECRET_ID": "k1"})
    with pytest.raises(ErpError) as caught:
        TokenService(lambda: load_jwt_ring(SecretResolver([env]))).verify("a.b.c")
    _clean(str(caught.value) + repr(caught.value), secret)
    assert vault.path.read_bytes() == before


def test_weak_key_named_by_a_secret_shaped_id_shows_only_a_fingerprint(
    vault: VaultFile, log: AuditLog
) -> None:
    """A weak value under a long id: WeakSecret names the entry by the id's fingerprint."""
    long_id = generate_secret()
    vault.path.write_text(json.dumps({"JWT_SECRETS": {long_id: "short"}, "JWT_SECRET_ID": long_id}))
    with pytest.raises(ErpError) as caught:
        rotate_key(vault=vault, log=log)
    _clean(str(caught.value), long_id)
    assert "sha256:" in str(caught.value)


# -- the matrix: every environment variable erp reads -------------------------------------
#
# One row per variable: the entry point a user reaches it through and the hostile values it
# must refuse. Every refusal is checked the same way: one sentence naming the variable (or the
# flag/secret it stands for), exit 1 or erp's ConfigError, no traceback, nothing on disk
# changed, and the secret-looking value never shown (12-character windows).
#
# Variables boto3 reads itself (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
# AWS_CONFIG_FILE, AWS_MAX_ATTEMPTS, ...) are boto3's business and not in the matrix; erp
# interprets AWS_REGION/AWS_DEFAULT_REGION and AWS_PROFILE, and checks AWS_ENDPOINT_URL and
# AWS_ENDPOINT_URL_SECRETS_MANAGER so a malformed one is a sentence, not boto3's traceback.
# ERP_AUTH, ERP_JWT_AUDIENCE and ERP_JWT_ISSUER are Django/Flask settings, not environment
# variables (tests/integrations covers them).

SECRET = "<secret>"  # placeholder in the table: replaced by a fresh random secret per run
CRED_URL = "<credentials-url>"  # https://user:<secret>@example.com/x
HUGE_INT = str(10**30)
NUMBERS = ("nan", "inf", "-inf", "-1", "1e300", HUGE_INT, "soon", SECRET)
NUMBERS_NO_ZERO = (*NUMBERS, "0")
WHOLE = (*NUMBERS_NO_ZERO, "2.5")
URLS = ("nan", "1e300", "ftp://example.com/x", "file:///etc/passwd", "https://", CRED_URL, SECRET)
REGIONS = ("nan", "-1", HUGE_INT, "us-east-1/../x", "https://example.com", SECRET)
SECRET_IDS = ("https://example.com/x", "a b", "name\tsplit", CRED_URL, SECRET)
REQUIRED_ID = (*SECRET_IDS, "   ")  # blank is "empty", refused, where an id is required
PATHS = ("<folder>", "<fifo>")
LINK = "<link>"  # a symbolic link to a regular file elsewhere


@dataclass(frozen=True)
class Row:
    """A variable, the entry point that reads it, the values it refuses and what names it."""

    variable: str
    entry: str
    bad: tuple[str, ...]
    needle: str = ""


AWS_STATUS = "aws status"
ROWS = [
    # the JWT policy, through the rotate command (jwt rotate) and the rotation check (check)
    *(
        Row(v, "jwt rotate", NUMBERS_NO_ZERO)
        for v in ("ERP_JWT_MAX_TOKEN_TTL_SECONDS", "ERP_JWT_ROTATION_INTERVAL_DAYS")
    ),
    *(
        Row(v, "jwt rotate", NUMBERS)
        for v in ("ERP_JWT_LEEWAY_SECONDS", "ERP_JWT_MIN_STAGE_SECONDS")
    ),
    Row("ERP_JWKS_MAX_AGE_SECONDS", "jwt rotate", NUMBERS_NO_ZERO),
    Row("ERP_JWT_ALG", "jwt rotate", ("nan", "none", "HS1", "RS256; rm -rf /", SECRET)),
    Row("ERP_JWT_POLICY", "check", ("weekly", "nan", "1", SECRET)),
    Row("ERP_JWT_MAX_TOKEN_BYTES", "verify", WHOLE),
    Row("ERP_ACTOR", "jwt rotate", ("x" * 200, "ops\x1b[31m", "line\nbreak")),
    # the rotation check and its alerts
    Row("ERP_CHECK_DUE_WITHIN_DAYS", "check", NUMBERS),
    Row("ERP_FERNET_ROTATION_INTERVAL_DAYS", "check", NUMBERS_NO_ZERO),
    Row("ERP_CHECK_AWS_SECRET_IDS", "check aws", SECRET_IDS, "ERP_CHECK_AWS_SECRET_IDS"),
    Row("ERP_ALERT_MIN_SEVERITY", "notify", ("loud", "nan", "1", SECRET)),
    Row("ERP_ALERT_MAX_ATTEMPTS", "notify", WHOLE),
    Row("ERP_ALERT_TIMEOUT_SECONDS", "notify", NUMBERS_NO_ZERO),
    Row("ERP_ALERT_BUDGET_SECONDS", "notify", NUMBERS),
    Row("ERP_PAGERDUTY_EVENTS_URL", "notify", (*URLS, "http://example.com/v2/enqueue")),
    Row("ERP_PAGERDUTY_ROUTING_KEY", "notify", ("nan", "a b c", "https://example.com/x")),
    Row("ERP_SLACK_WEBHOOK_URL", "notify", (*URLS, "http://hooks.example.com/x")),
    Row("ERP_ALERT_STATE_FILE", "notify", (*PATHS, LINK)),
    Row("ERP_ALERT_TOPIC_ARN", "check lambda", ("nan", "arn:aws:sns:us-east-1:1:t", SECRET)),
    # AWS: settings read before any request is made
    Row("ERP_AWS_CONNECT_TIMEOUT_SECONDS", AWS_STATUS, NUMBERS_NO_ZERO),
    Row("ERP_AWS_READ_TIMEOUT_SECONDS", AWS_STATUS, NUMBERS_NO_ZERO),
    Row("ERP_AWS_MAX_ATTEMPTS", AWS_STATUS, WHOLE),
    Row("ERP_AWS_ENDPOINT_URL", AWS_STATUS, URLS),
    Row("AWS_ENDPOINT_URL", AWS_STATUS, URLS),
    Row("AWS_ENDPOINT_URL_SECRETS_MANAGER", AWS_STATUS, URLS),
    Row("AWS_REGION", AWS_STATUS, REGIONS),
    Row("AWS_DEFAULT_REGION", AWS_STATUS, REGIONS),
    Row("AWS_PROFILE", AWS_STATUS, (SECRET,), "AWS_PROFILE"),
    Row("ERP_AWS_SECRET_ID", AWS_STATUS, REQUIRED_ID, "ERP_AWS_SECRET_ID"),
    Row("ERP_AWS_SECRET_ID", "get_secret", SECRET_IDS, "ERP_AWS_SECRET_ID"),  # blank: unset
    Row("ERP_AWS_REFRESH_SECONDS", "get_secret", NUMBERS),
    Row("ERP_AWS_EVENT_BUS", "aws rotate", ("a b", "https://example.com", SECRET), "event-bus"),
    Row("SECRETS_MANAGER_ENDPOINT", "rotation lambda", URLS),
    Row("ERP_ROTATION_REQUIRE_ENABLED", "rotation lambda", ("nan", "2", "maybe", SECRET)),
    # files
    Row("ERP_VAULT_FILE", "jwt status", PATHS, "vault file"),
    Row("ERP_VAULT_FILE", "jwt rotate", PATHS, "vault file"),
    Row("ERP_ROTATION_LOG", "jwt rotate", PATHS, "rotation log"),
    # the secrets themselves, in their environment forms
    Row("JWT_SECRETS", "issue", ("nan", "", "   ", "[]", "{}", '{"k1": 5}', "1e300", SECRET)),
    Row("JWT_SECRET_ID", "issue", ("nan", "", "   ", HUGE_INT, SECRET)),
    Row("FERNET_KEY", "encrypt", ("nan", "", "   ", "1e300", SECRET)),
    Row("FERNET_FALLBACK_KEYS", "decrypt", ("nan", "inf", SECRET)),
    # Fernet re-encryption (erp.fernet.reencrypt)
    Row("ERP_FERNET_MAX_BATCH_ROWS", "batch sizer", WHOLE),
    Row("ERP_FERNET_TARGET_BATCH_SECONDS", "batch sizer", NUMBERS),
    Row(
        "ERP_DATABASE_URL",
        "fernet verify",
        ("nan", "   ", "ftp://x.example/x", "mysql://h/db", SECRET),
        "--db",
    ),
]
XFAIL_ROWS: list[Any] = []  # known defects, each with a reason: none left


def _secret_like() -> str:
    """A fresh random secret that erp's heuristic calls secret-looking (1 in 3,000 is not)."""
    while not looks_like_secret(candidate := secrets.token_urlsafe(32)):
        pass
    return candidate


@dataclass
class World:
    """The values a row's entry point needs, made fresh per test (nothing secret on disk)."""

    root: Path
    secret: str
    jwt_secret: str = field(default_factory=generate_secret)
    fernet_key: str = field(default_factory=lambda: Fernet.generate_key().decode())


def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials and an endpoint that nothing is listening on: a refused setting never calls."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ERP_AWS_MAX_ATTEMPTS", "1")


def _prepare(row: Row, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything but the variable under test, so the run reaches the code that reads it."""
    if row.entry.startswith(("aws", "check aws", "get_secret", "rotation", "check lambda")):
        _aws_env(monkeypatch)
    if row.entry == "notify":
        monkeypatch.setenv("ERP_PAGERDUTY_ROUTING_KEY", "r" * 32)
    if row.entry == "get_secret":
        monkeypatch.setenv("ERP_AWS_SECRET_ID", "erp/jwt-keys")
    if row.entry == "check lambda":
        monkeypatch.setenv("ERP_CHECK_AWS_SECRET_IDS", "erp/jwt-keys")
    if row.entry in ("verify", "issue"):
        monkeypatch.setenv("JWT_SECRETS", json.dumps({"k1": world.jwt_secret}))
        monkeypatch.setenv("JWT_SECRET_ID", "k1")
    if row.entry in ("encrypt", "decrypt", "fernet verify"):
        monkeypatch.setenv("FERNET_KEY", world.fernet_key)


def _entry(row: Row) -> Callable[[], Ran | None]:
    """The call a user makes: a CLI run (its result) or a library call (None, or it raises)."""
    import erp.security

    cli = {
        "jwt rotate": ("jwt", "rotate"),
        "jwt status": ("jwt", "status"),
        "check": ("check", "--no-aws"),
        "check aws": ("check",),
        "notify": ("check", "--notify", "--no-aws"),
        AWS_STATUS: ("aws", "status"),
        "aws rotate": ("aws", "rotate", "--driver", "local", "--secret-id", "erp/jwt-keys"),
        "fernet verify": ("fernet", "verify", "--column", "t.c"),
    }
    if row.entry in cli:
        args = cli[row.entry]
        if row.entry == AWS_STATUS and row.variable != "ERP_AWS_SECRET_ID":
            args = (*args, "--secret-id", "erp/jwt-keys")
        return lambda: run_cli(*args)

    def library() -> None:
        if row.entry == "verify":
            erp.security.verify_token("a.b.c")
        elif row.entry == "issue":
            erp.security.issue_token({"sub": "u"})
        elif row.entry == "encrypt":
            erp.security.encrypt("x")
        elif row.entry == "decrypt":
            erp.security.decrypt(Fernet(Fernet.generate_key()).encrypt(b"x"))
        elif row.entry == "get_secret":
            erp.secrets.get_secret("JWT_SECRETS")
        elif row.entry == "rotation lambda":
            from erp.aws.lambda_rotation import RotationHandler

            RotationHandler.from_env()
        elif row.entry == "check lambda":
            from erp.alerts.lambda_check import handler

            handler({}, None)
        elif row.entry == "batch sizer":
            from erp.fernet.reencrypt.sizing import sizer_from_env

            sizer_from_env(10)
        else:  # pragma: no cover - a typo in the table
            raise AssertionError(f"no entry point {row.entry!r}")

    return library


def _value(template: str, world: World, variable: str) -> str:
    """The table's placeholders made real: a fresh secret, a URL holding it, a folder, a FIFO."""
    if template == SECRET:
        return world.secret
    if template == CRED_URL:
        return f"https://erp:{world.secret}@example.com/x"
    if template == LINK:
        elsewhere = world.root / "elsewhere.json"
        elsewhere.write_text("{}")
        link = world.root / f"{variable.lower()}-link"
        if not link.is_symlink():
            link.symlink_to(elsewhere)
        return str(link)
    if template in PATHS:
        target = world.root / f"{variable.lower()}-{template.strip('<>')}"
        if not target.exists():
            if template == "<folder>":
                target.mkdir()
            else:
                os.mkfifo(target)
        return str(target)
    return template


def _tree(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry under ``root``: kind bits, size and modification time.

    New empty ``*.lock`` files are left out: the vault takes its lock before a setting of the
    command is read; :func:`test_a_refused_setting_leaves_no_lock_file` pins that apart.
    """
    found = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.suffix == ".lock" and st.st_size == 0:
            continue
        found[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return found


def _refused(row: Row, value: str, world: World) -> str | None:
    """Run the row's entry point with ``value``; the problem with its refusal, or None."""
    before = _tree(world.root)
    erp.secrets.reset()
    text = ""
    ran: Ran | None = None
    try:
        ran = _entry(row)()
    except ErpError as exc:
        if not isinstance(exc, ConfigError):
            return f"{type(exc).__name__} is not a ConfigError: {exc}"
        text = "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])
        sentence = str(exc)
    except Exception as exc:  # anything else is the defect being looked for
        return f"raised {type(exc).__name__}: {str(exc)[:200]}"
    else:
        if ran is None:
            return "accepted"
        text = ran.out + ran.err
        if ran.code != 1:
            return f"exit {ran.code}: {text[:300]}"
        lines = ran.err.strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("error: "):
            return f"not one error line: {ran.err[:300]}"
        sentence = lines[0]
    if "Traceback" in (ran.err if ran is not None else ""):
        return "traceback"
    needle = row.needle or row.variable
    if needle not in sentence:
        return f"does not name {needle}: {sentence}"
    for secret in (world.secret, world.jwt_secret, world.fernet_key):
        for start in range(max(1, len(secret) - WINDOW + 1)):
            if secret[start : start + WINDOW] in text:
                return f"secret material shown: {sentence}"
    if _tree(world.root) != before:
        return f"files changed: {sorted(set(_tree(world.root)) ^ set(before))}"
    return None


@pytest.mark.parametrize(
    "row", [pytest.param(r, id=f"{r.variable}-{r.entry}") for r in ROWS] + XFAIL_ROWS
)
def test_every_variable_refuses_hostile_values_in_one_sentence(
    row: Row, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each hostile value of each variable: one sentence naming it, nothing written, no secret."""
    world = World(tmp_path / "world", _secret_like())
    world.root.mkdir()
    monkeypatch.chdir(world.root)
    monkeypatch.setenv("ERP_VAULT_FILE", str(world.root / "jwt_secrets.json"))
    monkeypatch.setenv("ERP_ROTATION_LOG", str(world.root / "logs" / "jwt_rotation.log"))
    _prepare(row, world, monkeypatch)
    problems = {}
    for template in row.bad:
        value = _value(template, world, row.variable)
        monkeypatch.setenv(row.variable, value)
        problem = _refused(row, value, world)
        if problem is not None:
            problems[template if template != SECRET else "<secret>"] = problem
    assert not problems, problems


@pytest.mark.parametrize(
    ("variable", "value"),
    [("ERP_ACTOR", "x" * 200), ("ERP_VAULT_FILE", "<folder>"), ("ERP_ROTATION_LOG", "<folder>")],
)
def test_a_refused_setting_leaves_no_lock_file(
    erp_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """`jwt rotate` refusing a setting or a file kind leaves nothing behind, not even a lock."""
    if value == "<folder>":
        (tmp_path / "folder").mkdir()
        value = str(tmp_path / "folder")
    monkeypatch.setenv(variable, value)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert erp_cli("jwt", "rotate").code == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize(
    "row",
    [pytest.param(r, id=f"{r.variable}-{r.entry}") for r in ROWS if not {"", "   "} & set(r.bad)],
)
def test_a_blank_variable_is_unset(
    row: Row, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Empty or blank, every variable behaves exactly as if it were not set at all."""
    world = World(tmp_path, _secret_like())
    monkeypatch.chdir(tmp_path)
    _prepare(row, world, monkeypatch)

    def outcome() -> object:
        erp.secrets.reset()
        if row.entry == AWS_STATUS and row.variable != "ERP_AWS_SECRET_ID":
            from erp.aws.client import AwsSettings

            return AwsSettings.from_env()  # what aws status builds its client from
        try:
            ran = _entry(row)()
        except Exception as exc:  # the same exception class either way is the point
            return type(exc)
        return None if ran is None else ran.code

    monkeypatch.delenv(row.variable, raising=False)
    unset = outcome()
    for blank in ("", "   "):
        monkeypatch.setenv(row.variable, blank)
        assert outcome() == unset, (row.variable, repr(blank))


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [
        ("--endpoint-url", "ftp://example.com/x", "'ftp://'"),
        ("--endpoint-url", CRED_URL, "user name or password"),
        ("--endpoint-url", "nan", "no scheme"),
        ("--region", "nan", "--region"),
        ("--region", SECRET, "--region"),
        ("--profile", SECRET, "AWS_PROFILE or --profile"),
        ("--secret-id", SECRET, "--secret-id"),
        ("--secret-id", "a b", "--secret-id"),
    ],
)
def test_aws_flags_get_the_checks_of_their_variables(
    erp_cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flag: str,
    value: str,
    needle: str,
) -> None:
    """`aws status --endpoint-url/--region/--profile/--secret-id`: one sentence, no secret."""
    world = World(tmp_path, _secret_like())
    _aws_env(monkeypatch)
    value = _value(value, world, flag)
    args = ["aws", "status", flag, value]
    if flag != "--secret-id":
        args += ["--secret-id", "erp/jwt-keys"]
    ran = erp_cli(*args)
    _one_clear_line(ran, needle)
    _clean(ran.out + ran.err, world.secret)


@pytest.mark.parametrize(
    "value",
    [
        "erp/jwt-keys",
        "ProdJwtKeysForTheErpServiceBackend",
        "erp-platform-production-jwt-keys-01",
        "ERP_PRODUCTION_JWT_SIGNING_KEYS_EU_WEST_1",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:erp/jwt-keys-AbCdEf",
    ],
)
def test_names_are_not_mistaken_for_secrets(value: str) -> None:
    """Secret names in the usual shapes (paths, CamelCase, kebab, ARNs) are accepted as given."""
    from erp.aws.client import check_secret_id

    assert not looks_like_secret(value)
    assert check_secret_id(f"  {value} ") == value


def test_settings_of_the_right_shape_reach_aws_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regions of every partition and http(s) endpoints with a port are accepted unchanged."""
    from erp.aws.client import AwsSettings

    for region in ("us-east-1", "us-gov-west-1", "cn-northwest-1", "eu-central-2", "il-central-1"):
        assert AwsSettings.from_env({"AWS_REGION": region}).region == region
    for url in ("http://localstack:4566", "https://vpce-1.secretsmanager.us-east-1.vpce.example"):
        assert AwsSettings.from_env({"ERP_AWS_ENDPOINT_URL": url}).endpoint_url == url


def test_the_arn_of_a_name_of_the_longest_length_is_accepted() -> None:
    """AWS allows 512-character names; the ARN adds '-' and six random characters."""
    from erp.aws.client import check_secret_id

    name = ("erp/" + "jwt-keys/" * 60)[:512]
    arn = f"arn:aws:secretsmanager:eu-west-1:123456789012:secret:{name}-AbCdEf"
    assert check_secret_id(arn) == arn


@pytest.mark.parametrize(("value", "shown"), [("HS512", True), ("hs-384", True), ("x" * 40, False)])
def test_a_short_unknown_choice_is_shown_as_typed(
    monkeypatch: pytest.MonkeyPatch, value: str, shown: bool
) -> None:
    """A typo such as HS512 is named, so it can be seen; a long value only by fingerprint."""
    monkeypatch.setenv("ERP_JWT_ALG", value)
    with pytest.raises(SettingError) as caught:
        RotationPolicy.from_env()
    assert (repr(value) in str(caught.value)) is shown
