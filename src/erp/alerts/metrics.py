"""Rotation health as metrics: OpenMetrics text (``erp-secrets check --format openmetrics``,
for node_exporter's textfile collector) and an optional ``prometheus_client`` collector.

Both come from one :func:`collect` over a check :class:`~erp.alerts.findings.Report` plus the
vault files and rotation log it looked at, so they always agree. Labels are bounded: rings
are named by kind (``jwt``, ``fernet``), keys by state, vault files and columns by what is
configured. A key id is never a label, since every rotation would add a series that never
goes away. No secret is read into a metric: only times, counts and states.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from erp.alerts.findings import Condition, Report, Severity
from erp.clock import from_iso

__all__ = ["ErpCollector", "Family", "collect", "render_openmetrics"]

_FAILED = {Condition.ROTATION_FAILED, Condition.ROTATION_ABANDONED, Condition.TEST_ROTATION_FAILED}
_STATES = ("staged", "active", "retiring")


@dataclass
class Family:
    """One gauge metric family: its name (unit suffix included), help text and samples."""

    name: str
    help: str
    unit: str = ""
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> None:
        self.samples.append((labels, float(value)))


def _seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


# name (unit suffix included), unit, help
_SPEC = """
erp_check_subjects||Key rings, files and secrets the check inspected (0: nothing configured).
erp_check_status||Exit status of the check: 0 ok, 3 warning, 4 critical.
erp_check_findings||Findings of the check by severity.
erp_rotation_due_in_seconds|seconds|Seconds until the next rotation is due (negative: overdue).
erp_rotation_failed||1 if the last rotation of the subject failed or was abandoned.
erp_keys||Keys in the ring by state.
erp_key_age_seconds|seconds|Age of the oldest key in each state, since it was created.
erp_key_prunable_in_seconds|seconds|Seconds until the first retiring JWT key may be pruned.
erp_last_rotation_timestamp_seconds|seconds|Unix time of the last rotation in the log.
erp_fernet_values_under_old_keys||Values the last verify found still under an old Fernet key.
erp_fernet_unreadable_values||Values the last verify could open with no configured key.
erp_fernet_verify_timestamp_seconds|seconds|Unix time of the last Fernet verify pass.
"""


def _families() -> dict[str, Family]:
    rows = [line.split("|", 2) for line in _SPEC.strip().splitlines()]
    return {name: Family(name, text, unit) for name, unit, text in rows}


def collect(
    report: Report,
    *,
    exit_status: int,
    vault_paths: Sequence[Path] = (),
    log_path: Path | None = None,
    max_token_ttl_seconds: float = 3600.0,
    leeway_seconds: float = 30.0,
) -> list[Family]:
    """Every metric for ``report``, reading the vault files and the log it was made from."""
    now = report.checked_at
    out = _families()
    out["erp_check_subjects"].add(len(report.subjects))
    out["erp_check_status"].add(exit_status)
    for severity in Severity:
        count = sum(1 for f in report.findings if f.severity is severity)
        out["erp_check_findings"].add(count, severity=severity.value)
    failed = {f.subject.id for f in report.findings if f.condition in _FAILED}
    for subject in report.subjects:
        labels = {"kind": subject.kind, "subject": subject.name}
        if subject.due_at is not None:
            out["erp_rotation_due_in_seconds"].add(_seconds(subject.due_at, now), **labels)
        if subject.kind in ("jwt", "fernet", "aws-secret"):
            out["erp_rotation_failed"].add(1 if subject.id in failed else 0, **labels)
    for path in vault_paths:
        _vault_metrics(out, path, now, max_token_ttl_seconds + leeway_seconds)
    if log_path is not None:
        _log_metrics(out, log_path)
    return list(out.values())


def _vault_metrics(out: dict[str, Family], path: Path, now: datetime, grace: float) -> None:
    from erp.errors import ErpError
    from erp.jwt.codec import ring_from_document
    from erp.store.vault import VaultFile

    try:
        doc = VaultFile(path).read()
        ring = ring_from_document(doc, str(path))
    except (ErpError, OSError):
        return  # the check itself reports an unreadable vault as a finding
    if not doc:
        return
    vault = str(path)
    for state in _STATES:
        keys = [k for k in ring.keys if k.state.value == state]
        out["erp_keys"].add(len(keys), ring="jwt", state=state, vault=vault)
        born = [k.created_at for k in keys if k.created_at is not None]
        if born:
            age = _seconds(now, min(born))
            out["erp_key_age_seconds"].add(age, ring="jwt", state=state, vault=vault)
    ends = [k.deactivated_at for k in ring.keys if k.state.value == "retiring" and k.deactivated_at]
    if ends:
        first = min(_seconds(end, now) for end in ends) + grace
        out["erp_key_prunable_in_seconds"].add(first, ring="jwt", vault=vault)
    _fernet_keys(out, doc, now, vault)


def _fernet_keys(out: dict[str, Family], doc: Mapping[str, Any], now: datetime, vault: str) -> None:
    from erp.alerts.local import FERNET_FALLBACKS, FERNET_META, FERNET_PRIMARY
    from erp.fingerprint import fingerprint

    primary = doc.get(FERNET_PRIMARY)
    if not isinstance(primary, str) or not primary.strip():
        return
    raw = doc.get(FERNET_FALLBACKS)
    old = [p for p in raw.split(",") if p.strip()] if isinstance(raw, str) else []
    out["erp_keys"].add(1, ring="fernet", state="active", vault=vault)
    out["erp_keys"].add(len(old), ring="fernet", state="retiring", vault=vault)
    meta = doc.get(FERNET_META)
    info = meta.get(fingerprint(primary.strip())) if isinstance(meta, dict) else None
    born = info.get("created_at") if isinstance(info, dict) else None
    if born:
        try:
            age = _seconds(now, from_iso(str(born)))
        except ValueError:
            return
        out["erp_key_age_seconds"].add(age, ring="fernet", state="active", vault=vault)


def _log_metrics(out: dict[str, Family], log_path: Path) -> None:
    from erp.errors import ErpError
    from erp.store.audit import AuditLog

    if not log_path.exists():
        return
    try:
        entries = AuditLog(log_path).entries()
    except (ErpError, OSError, ValueError):
        return  # reported by the check as a broken log
    last: dict[str, str] = {}
    verify: Mapping[str, Any] | None = None
    for entry in entries:
        event = str(entry.get("event", ""))
        if event in ("jwt.rotate", "jwt.promote"):
            last["jwt"] = str(entry.get("time"))
        elif event == "fernet.rotate":
            last["fernet"] = str(entry.get("time"))
        elif event == "fernet.verify":
            verify = entry
    for ring, when in sorted(last.items()):
        out["erp_last_rotation_timestamp_seconds"].add(from_iso(when).timestamp(), ring=ring)
    if verify is None:
        return
    out["erp_fernet_verify_timestamp_seconds"].add(from_iso(str(verify["time"])).timestamp())
    columns = verify.get("columns")
    for column, counts in sorted(columns.items() if isinstance(columns, dict) else []):
        old_keys = counts.get("old_keys") or {}
        left = sum(old_keys.values()) if isinstance(old_keys, dict) else 0
        out["erp_fernet_values_under_old_keys"].add(left, column=str(column))
        out["erp_fernet_unreadable_values"].add(counts.get("unreadable") or 0, column=str(column))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def render_openmetrics(families: Iterable[Family]) -> str:
    """OpenMetrics 1.0 text of gauge families (the Prometheus text format reads it too)."""
    lines: list[str] = []
    for family in families:
        if not family.samples:
            continue
        lines.append(f"# HELP {family.name} {_escape(family.help)}")
        lines.append(f"# TYPE {family.name} gauge")
        if family.unit:
            lines.append(f"# UNIT {family.name} {family.unit}")
        for labels, value in family.samples:
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
            lines.append(f"{family.name}{{{text}}} {_number(value)}" if text else
                         f"{family.name} {_number(value)}")  # fmt: skip
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


class ErpCollector:
    """A ``prometheus_client`` collector running the check on every scrape.

    ``REGISTRY.register(ErpCollector(CheckConfig.from_env(include_aws=False)))`` in an
    application that already serves ``/metrics``. Needs ``pip install 'erp-secrets[metrics]'``.
    """

    def __init__(self, config: Any, clock: Any = None) -> None:
        from erp._extras import require

        require("prometheus_client")  # fail at registration, not at the first scrape
        self._config = config
        self._clock = clock

    def families(self) -> list[Family]:
        from erp.alerts.check import exit_code, run_check
        from erp.clock import system_clock

        report = run_check(self._config, clock=self._clock or system_clock)
        policy = self._config.local.policy
        return collect(
            report,
            exit_status=exit_code(report),
            vault_paths=self._config.vault_paths,
            log_path=self._config.log_path,
            max_token_ttl_seconds=policy.max_token_ttl.total_seconds(),
            leeway_seconds=policy.leeway.total_seconds(),
        )

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        for family in self.families():
            if not family.samples:
                continue
            names = sorted({k for labels, _ in family.samples for k in labels})
            gauge = GaugeMetricFamily(family.name, family.help, labels=names, unit=family.unit)
            for labels, value in family.samples:
                gauge.add_metric([labels.get(k, "") for k in names], value)
            yield gauge
