"""Hostile settings and misplaced secrets: every ``ERP_*`` variable of the JWT commands set to
NaN, infinities, negative, huge or text values; a secret pasted into ``JWT_SECRET_ID``; a map
written the wrong way round. Each is one sentence naming the variable (or file), exit code 1,
nothing on disk changed, and no secret in any output; ``python -m erp.cli`` exits as
``erp-secrets`` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from erp.errors import ErpError, KeyRingError, SettingError
from erp.jwt.keyring import RotationPolicy, generate_secret
from erp.jwt.rotation import rotate_key
from erp.secrets import EnvSource, SecretResolver, load_jwt_ring
from erp.security import TokenService
from erp.store.audit import AuditLog, default_actor
from erp.store.vault import VaultFile
from erp.testing import CliResult as Ran

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
