"""Set-up and packaging: the slim core, the extras, the missing-extra message, the project venv.

The wheel itself is built, installed into a clean venv and smoke-tested by
``make package-check`` (scripts/package_check.py), which CI runs.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from erp._extras import EXTRA_FOR, MissingExtra, extra_for, install_hint, require
from erp.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SCRIPT = ROOT / "scripts" / "rotate_jwt_secret.py"
# Distribution names (lower case) that provide each importable module of EXTRA_FOR.
_DISTRIBUTION = {
    "boto3": "boto3",
    "botocore": "boto3",
    "sqlalchemy": "sqlalchemy",
    "psycopg": "psycopg",
    "detect_secrets": "detect-secrets",
    "yaml": "pyyaml",
    "rich": "rich",
    "prometheus_client": "prometheus-client",
}


def _names(requirements: list[str]) -> set[str]:
    """Lower-case distribution names of requirement strings, without versions or extras."""
    out = set()
    for requirement in requirements:
        name = requirement.split(";")[0]
        for mark in "<>=![ ":
            name = name.split(mark)[0]
        out.add(name.strip().lower())
    return out


def _python(code: str, *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env
    )


def test_core_dependencies_are_the_slim_four() -> None:
    """A plain install brings PyJWT, cryptography, filelock and click, nothing heavier."""
    assert _names(PYPROJECT["dependencies"]) == {"pyjwt", "cryptography", "filelock", "click"}


def test_every_optional_module_is_in_the_extra_its_message_names() -> None:
    """The extra named for a missing module really installs that module's distribution."""
    extras = PYPROJECT["optional-dependencies"]
    for module, extra in EXTRA_FOR.items():
        assert _DISTRIBUTION[module] in _names(extras[extra]), (module, extra)


def test_all_and_dev_pull_every_extra() -> None:
    """[all] lists every feature extra and [dev] pulls [all], so tests see every feature."""
    extras = PYPROJECT["optional-dependencies"]
    assert set(EXTRA_FOR.values()) <= set(extras["all"][0].split("[")[1].rstrip("]").split(","))
    assert "erp-secrets[all]" in extras["dev"]
    assert "build" in _names(extras["dev"])


def test_require_returns_an_installed_module() -> None:
    """require() of an installed module is a plain import."""
    assert require("json").dumps([]) == "[]"


def test_require_names_the_extra_to_install() -> None:
    """A missing module becomes a ConfigError naming the pip install line, not a traceback."""
    with pytest.raises(MissingExtra) as caught:
        require("erp_no_such_module_xyz.sub", "aws")
    assert isinstance(caught.value, ConfigError)
    assert install_hint("aws") in str(caught.value)
    assert "erp_no_such_module_xyz" in str(caught.value)


def test_require_lets_a_broken_install_surface_as_it_is() -> None:
    """A package present but failing on one of its own imports is not called a missing extra."""
    with pytest.raises(ModuleNotFoundError):
        require("erp.no_such_submodule_xyz", "aws")


def test_extra_for_knows_dotted_names() -> None:
    """botocore.exceptions maps to [aws]; a module of no extra maps to None."""
    assert extra_for("botocore.exceptions") == "aws"
    assert extra_for("sqlalchemy.orm") == "db"
    assert extra_for("json") is None


def test_import_erp_security_pulls_no_heavy_dependency() -> None:
    """An application that only issues and verifies tokens never imports boto3, SQLAlchemy, rich."""
    heavy = ("boto3", "botocore", "sqlalchemy", "rich", "psycopg", "yaml", "detect_secrets")
    result = _python(f"import sys, erp.security; print(sorted(set({heavy!r}) & set(sys.modules)))")
    assert result.stdout.strip() == "[]", result.stderr


def test_cli_without_boto3_names_the_aws_extra(tmp_path: Path) -> None:
    """`erp-secrets aws status` without boto3 says which extra to install, exit 1, no traceback."""
    code = (
        "import sys; sys.modules['boto3'] = None; sys.modules['botocore'] = None\n"
        "from erp.cli import main; main(['aws', 'status'])"
    )
    env = {
        **os.environ,
        "ERP_VAULT_FILE": str(tmp_path / "v.json"),
        "AWS_REGION": "eu-west-1",
        "ERP_AWS_SECRET_ID": "erp/jwt-keys",
    }
    result = _python(code, env=env)
    assert result.returncode == 1
    assert "pip install 'erp-secrets[aws]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_rotate_script_finds_the_project_venv_from_another_python(tmp_path: Path) -> None:
    """Started by a python without erp, the rotation script re-runs itself under .venv."""
    venv_bin = ROOT / ".venv" / "bin"
    if not (venv_bin / "python").exists():
        pytest.skip("no project .venv in this checkout (an outside venv is active)")
    bare = Path(getattr(sys, "_base_executable", sys.executable))
    if _python_has_erp(bare):
        pytest.skip(f"{bare} can import erp itself")
    vault, log = tmp_path / "jwt_secrets.json", tmp_path / "rotation.log"
    result = subprocess.run(
        [str(bare), str(SCRIPT), "--vault", str(vault), "--log", str(log)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ERP_SCRIPT_REEXEC")},
    )
    assert result.returncode == 0, result.stderr
    assert "JWT_SECRET_ID is now" in result.stdout
    assert vault.exists()


def _python_has_erp(python: Path) -> bool:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(python), "-c", "import erp"], capture_output=True, check=False, env=env, cwd="/"
    )
    return done.returncode == 0


def test_ensure_venv_refuses_a_python_older_than_3_11(tmp_path: Path) -> None:
    """scripts/ensure_venv.sh names the requirement and the fix when no Python is new enough."""
    old = tmp_path / "python-old"
    old.write_text("#!/bin/sh\nexit 1\n")  # answers "too old" to the version probe
    old.chmod(0o755)
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure_venv.sh"), str(tmp_path / "venv")],
        env={**os.environ, "PYTHON_BOOT": str(old)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Python 3.11 or newer" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_ensure_venv_keeps_a_working_venv(tmp_path: Path) -> None:
    """An existing venv with a new-enough python is used as it is (nothing is recreated)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure_venv.sh"), str(venv)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_makefile_uses_a_venv_never_the_global_python() -> None:
    """`make -n demo` installs with the venv's python, creating .venv when none is active."""
    # not VIRTUAL_ENV, nor the flags of a `make test` this suite may be running under
    outer = ("VIRTUAL_ENV", "MAKELEVEL", "MAKEFLAGS", "MFLAGS")
    env = {k: v for k, v in os.environ.items() if k not in outer}
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", "demo", "VENV=/nonexistent/venv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "bash scripts/ensure_venv.sh /nonexistent/venv" in lines
    assert "/nonexistent/venv/bin/python -m pip install -q -e ." in lines
    assert lines[-1] == "/nonexistent/venv/bin/python scripts/demo.py"


def test_library_without_boto3_names_the_aws_extra() -> None:
    """get_secret with AWS configured but boto3 absent raises a ConfigError naming [aws]."""
    code = (
        "import sys; sys.modules['boto3'] = None\n"
        "from erp._extras import MissingExtra\n"
        "from erp.aws.client import AwsSettings, secretsmanager_client\n"
        "try:\n"
        "    secretsmanager_client(AwsSettings(region='eu-west-1'))\n"
        "except MissingExtra as exc:\n"
        "    print(exc)\n"
    )
    result = _python(code)
    assert "pip install 'erp-secrets[aws]'" in result.stdout, result.stderr


def test_missing_secret_names_the_folder_a_relative_vault_was_looked_for_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service started elsewhere is told where the relative vault path pointed, and the fix."""
    from erp.errors import SecretNotFound
    from erp.secrets import SecretResolver

    monkeypatch.chdir(tmp_path)
    resolver = SecretResolver.from_config("jwt_secrets.json", environ={})
    with pytest.raises(SecretNotFound) as caught:
        resolver.get("JWT_SECRETS")
    assert f"vault file jwt_secrets.json (in {tmp_path}" in str(caught.value)
    assert "ERP_VAULT_FILE to an absolute path" in str(caught.value)


def test_ensure_venv_never_touches_a_folder_it_cannot_use(tmp_path: Path) -> None:
    """A venv of an old or missing Python is reported, not replaced or deleted."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "keep.txt").write_text("mine")
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure_venv.sh"), str(venv)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "no working Python 3.11+" in result.stderr
    assert (venv / "keep.txt").read_text() == "mine"


_BUILTIN_SHA256 = any(importlib.util.find_spec(name) for name in ("_sha2", "_sha256"))
# What the rotation script's start-up must not import: each costs a noticeable share of the
# 3x `python3 -c pass` budget (typing, dataclasses/inspect, pathlib/urllib, secrets/random,
# socket, getpass, threading, contextlib, base64) or belongs to another command (click,
# cryptography, boto3).
_NOT_ON_THE_ROTATION_PATH = (
    "typing",
    "dataclasses",
    "inspect",
    "pathlib",
    "urllib",
    "secrets",
    "random",
    "socket",
    "getpass",
    "threading",
    "contextlib",
    "base64",
    "struct",
    "click",
    "cryptography",
    "jwt",
    "filelock",
    "boto3",
) + (("hashlib", "_hashlib") if _BUILTIN_SHA256 else ())  # OpenSSL's load, when not needed


def test_rotation_script_start_up_imports_only_what_it_uses(tmp_path: Path) -> None:
    """One rotation (the script's code path) loads none of the modules it has no use for."""
    code = (
        "import sys\nfrom erp.scripting import rotate_jwt_main\n"
        "code = rotate_jwt_main()\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {_NOT_ON_THE_ROTATION_PATH!r}),"
        " code, file=sys.stderr)"
    )
    env = {
        **os.environ,
        "ERP_VAULT_FILE": str(tmp_path / "vault.json"),
        "ERP_ROTATION_LOG": str(tmp_path / "logs" / "rotation.log"),
    }
    env.pop("ERP_ACTOR", None)  # the default actor's lookup is on the path too
    for _ in range(2):  # the first rotation creates the files, the second reads them
        done = _python(code, env=env)
        assert done.stderr.strip() == "[] 0", done.stderr
        assert "JWT_SECRET_ID is now" in done.stdout
