"""Metrics: `check --format openmetrics` and the prometheus_client collector, read back by
prometheus_client's own OpenMetrics parser."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from erp.alerts.check import CheckConfig, exit_code, run_check
from erp.alerts.findings import Report
from erp.alerts.metrics import ErpCollector, collect, render_openmetrics
from erp.cli import main
from erp.clock import FrozenClock
from erp.jwt.keyring import RotationPolicy
from erp.jwt.rotation import rotate_key
from erp.store.audit import AuditLog, make_entry
from erp.store.vault import VaultFile

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
POLICY = RotationPolicy(max_token_ttl=timedelta(hours=1), leeway=timedelta(seconds=30))

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of OpenMetrics ``text`` as {(name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)  # type: ignore[no-untyped-call]
        for s in family.samples
    }


def pick(samples: Samples, name: str, **labels: str) -> float:
    """The one sample of ``name`` whose labels include ``labels``."""
    found = [
        v for (n, ls), v in samples.items() if n == name and labels.items() <= dict(ls).items()
    ]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def check(*args: str) -> int:
    """Run `erp-secrets check ARGS` in-process as the console script does; its exit code."""
    try:
        code = main(["check", *args])
    except SystemExit as exc:
        code = exc.code
    return int(code or 0)


def config_for(vault: VaultFile, log: AuditLog) -> CheckConfig:
    """Check only the temp vault and log, with the test policy."""
    return CheckConfig.from_env(vault_paths=[vault.path], log_path=log.path, include_aws=False)


def metrics_text(config: CheckConfig, now: datetime) -> str:
    """What `check --format openmetrics` prints at ``now``."""
    report = run_check(config, clock=FrozenClock(now))
    policy = config.local.policy
    return render_openmetrics(
        collect(
            report,
            exit_status=exit_code(report),
            vault_paths=config.vault_paths,
            log_path=config.log_path,
            max_token_ttl_seconds=policy.max_token_ttl.total_seconds(),
            leeway_seconds=policy.leeway.total_seconds(),
        )
    )


@pytest.fixture
def rotated(vault: VaultFile, log: AuditLog) -> CheckConfig:
    """Two JWT rotations: one key active since START + 1 day, one retiring since then."""
    rotate_key(vault=vault, log=log, policy=POLICY, clock=FrozenClock(START))
    rotate_key(vault=vault, log=log, policy=POLICY, clock=FrozenClock(START + timedelta(days=1)))
    return config_for(vault, log)


def test_key_age_due_and_prunable_are_exact(rotated: CheckConfig) -> None:
    """Ages, seconds until due and until prunable follow from the rotation times."""
    now = START + timedelta(days=3)
    samples = parse(metrics_text(rotated, now))
    day = 86400.0
    assert pick(samples, "erp_key_age_seconds", ring="jwt", state="active") == 2 * day
    assert pick(samples, "erp_key_age_seconds", ring="jwt", state="retiring") == 3 * day
    assert pick(samples, "erp_keys", ring="jwt", state="retiring") == 1
    prunable = pick(samples, "erp_key_prunable_in_seconds", ring="jwt")
    assert prunable == -(2 * day) + 3600 + 30
    interval = RotationPolicy.from_env().rotation_interval.total_seconds()
    assert pick(samples, "erp_rotation_due_in_seconds", kind="jwt") == interval - 2 * day
    assert pick(samples, "erp_rotation_failed", kind="jwt") == 0
    last = pick(samples, "erp_last_rotation_timestamp_seconds", ring="jwt")
    assert last == (START + timedelta(days=1)).timestamp()


def test_labels_stay_bounded_over_many_rotations(
    vault: VaultFile, log: AuditLog, rotated: CheckConfig
) -> None:
    """No key id becomes a label: twenty more rotations add no series."""
    now = START + timedelta(days=3)
    before = set(parse(metrics_text(rotated, now)))
    for hour in range(20):
        at = START + timedelta(days=2, hours=hour)
        rotate_key(vault=vault, log=log, policy=POLICY, clock=FrozenClock(at))
    after = set(parse(metrics_text(rotated, now)))
    assert before == after


def test_values_under_old_fernet_keys_come_from_the_last_verify(tmp_path: Path) -> None:
    """The last fernet.verify entry gives the values left under old keys, per column."""
    log = AuditLog(tmp_path / "rotation.log")
    verify = {
        "event": "fernet.verify",
        "ok": False,
        "columns": {
            "customers.tax_id": {"old_keys": {"sha256:aa": 7, "sha256:bb": 5}, "unreadable": 1}
        },
    }
    log.append(make_entry(verify, prev_hash="0" * 64, seq=1, now=START))
    samples = parse(render_openmetrics(collect(Report(START), exit_status=0, log_path=log.path)))
    assert pick(samples, "erp_fernet_values_under_old_keys", column="customers.tax_id") == 12
    assert pick(samples, "erp_fernet_unreadable_values", column="customers.tax_id") == 1
    assert pick(samples, "erp_fernet_verify_timestamp_seconds") == START.timestamp()


def test_collector_agrees_with_the_text_output(rotated: CheckConfig) -> None:
    """The prometheus_client collector exposes exactly the samples of --format openmetrics."""
    clock = FrozenClock(START + timedelta(days=3))
    registry = CollectorRegistry()
    registry.register(ErpCollector(rotated, clock=clock))
    exposed = parse(generate_latest(registry).decode())  # type: ignore[no-untyped-call]
    assert exposed == parse(metrics_text(rotated, clock()))


def test_label_values_are_escaped() -> None:
    """A vault path with quotes, backslashes or newlines still parses."""
    family = collect(Report(START), exit_status=3)[0]
    family.samples = [({"vault": 'a "b"\\c\nd'}, 1.0)]
    samples = parse(render_openmetrics([family]))
    assert pick(samples, family.name, vault='a "b"\\c\nd') == 1


def test_cli_openmetrics_parses_and_keeps_the_exit_code(
    rotated: CheckConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """`erp-secrets check --no-aws --format openmetrics` prints parseable text, exit 0."""
    capsys.readouterr()
    code = check("--no-aws", "--format", "openmetrics")
    samples = parse(capsys.readouterr().out)
    assert code == pick(samples, "erp_check_status")
    assert pick(samples, "erp_check_subjects") >= 1


def test_cli_with_nothing_configured_warns_in_metrics_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No vault and no AWS secret: exit 3, erp_check_subjects 0, erp_check_status 3."""
    capsys.readouterr()
    code = check("--no-aws", "--format", "openmetrics", "--vault", str(tmp_path / "no.json"))
    samples = parse(capsys.readouterr().out)
    assert code == 3
    assert pick(samples, "erp_check_subjects") == 0
    assert pick(samples, "erp_check_status") == 3


def test_collector_without_prometheus_client_names_the_metrics_extra() -> None:
    """Registering the collector without prometheus_client is a ConfigError naming [metrics]."""
    code = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "from erp._extras import MissingExtra\n"
        "from erp.alerts.check import CheckConfig\n"
        "from erp.alerts.metrics import ErpCollector\n"
        "try:\n"
        "    ErpCollector(CheckConfig())\n"
        "except MissingExtra as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert "pip install 'erp-secrets[metrics]'" in done.stdout, done.stderr
