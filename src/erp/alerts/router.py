"""Route findings to PagerDuty and Slack with a life cycle: open once, resolve when cleared.

With a state file (the CLI), each destination is told about a condition once; a condition
whose subject was checked again and no longer shows it is resolved; a delivery that failed
is retried at the next run because the state records it as not delivered. Without a state
(the stateless Lambda), PagerDuty gets a ``trigger`` for every open finding on every run,
which its dedup key folds into the one open alert, plus a ``resolve`` for every condition a
checked secret no longer shows; Slack gets one digest message listing the open findings.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from erp._settings import read_path
from erp.alerts.delivery import DeliveryResult
from erp.alerts.findings import Condition, Finding, Report, Severity, dedup_key
from erp.clock import to_iso
from erp.errors import ConfigError
from erp.store.vault import VaultFile

__all__ = [
    "DEFAULT_STATE_FILE",
    "AlertRouter",
    "AlertState",
    "Notifier",
    "default_state_path",
]

DEFAULT_STATE_FILE = "logs/alert_state.json"

RESOLVABLE: Mapping[str, tuple[Condition, ...]] = {
    "aws-secret": (
        Condition.ROTATION_OVERDUE,
        Condition.ROTATION_FAILED,
        Condition.ROTATION_DISABLED,
        Condition.SCHEDULE_INVALID,
        Condition.CHECK_FAILED,
    ),
}
"""Per subject kind, what the stateless router resolves when a check no longer finds it."""


class Notifier(Protocol):
    """A destination: PagerDuty or Slack."""

    name: str

    def open(self, finding: Finding, timestamp: datetime) -> DeliveryResult: ...

    def resolve(
        self, dedup_key: str, finding: Mapping[str, Any] | None, timestamp: datetime
    ) -> DeliveryResult: ...


def default_state_path() -> Path:
    """``$ERP_ALERT_STATE_FILE``, else ``logs/alert_state.json``."""
    return read_path("ERP_ALERT_STATE_FILE", DEFAULT_STATE_FILE)


class AlertState:
    """The open alerts and where each was delivered, in a locked, atomically written file."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.file = VaultFile(path if path is not None else default_state_path())

    @property
    def path(self) -> Path:
        return self.file.path

    def __repr__(self) -> str:
        return f"AlertState({str(self.path)!r})"

    @contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        """The ``open`` map (dedup key -> entry), written back if changed."""
        self._check_kind()
        with self.file.transaction() as doc:
            open_alerts = doc.setdefault("open", {})
            yield open_alerts

    def open_alerts(self) -> dict[str, Any]:
        self._check_kind()
        return dict(self.file.read().get("open") or {})

    def _check_kind(self) -> None:
        """A folder, FIFO or device given as the state file: one sentence, before a lock file
        is made beside it (the vault's own check would call it a vault file)."""
        try:
            mode = os.lstat(self.path).st_mode
        except OSError:
            return  # missing (created on first write) or unreadable (the vault layer says so)
        if stat.S_ISREG(mode):
            return
        kinds = [(stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder")]
        kinds += [(stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket")]
        kind = next((name for test, name in kinds if test(mode)), "a device")
        raise ConfigError(
            f"alert state file {self.path} is {kind}, not a regular file; point "
            "ERP_ALERT_STATE_FILE (or --state) at a file, e.g. logs/alert_state.json"
        )


class AlertRouter:
    """Sends findings to every notifier at or above ``min_severity``."""

    def __init__(
        self,
        notifiers: Sequence[Notifier],
        *,
        state: AlertState | None = None,
        min_severity: Severity = Severity.WARNING,
    ) -> None:
        self.notifiers = list(notifiers)
        self.state = state
        self.min_severity = min_severity

    def __repr__(self) -> str:
        return f"AlertRouter({self.notifiers!r}, state={self.state!r})"

    def process(self, report: Report) -> list[DeliveryResult]:
        """Announce new conditions and resolve cleared ones; return every delivery made."""
        current = {f.dedup_key: f for f in report.at_least(self.min_severity)}
        if self.state is None:
            return self._stateless(report, current)
        results: list[DeliveryResult] = []
        now = report.checked_at
        checked = report.checked_ids()
        with self.state.transaction() as open_alerts:
            for key, finding in current.items():
                entry = open_alerts.get(key) or {"opened_at": to_iso(now), "delivered": {}}
                entry["finding"] = finding.to_dict()
                delivered = entry.setdefault("delivered", {})
                for notifier in self.notifiers:
                    if delivered.get(notifier.name):
                        continue
                    result = notifier.open(finding, now)
                    results.append(result)
                    delivered[notifier.name] = result.ok
                open_alerts[key] = entry
            for key in [k for k in open_alerts if k not in current]:
                entry = open_alerts[key]
                subject = (entry.get("finding") or {}).get("subject") or {}
                if subject.get("id") not in checked:
                    continue  # not looked at this time: the condition may persist
                delivered = entry.setdefault("delivered", {})
                for notifier in self.notifiers:
                    if not delivered.get(notifier.name):
                        continue
                    result = notifier.resolve(key, entry.get("finding"), now)
                    results.append(result)
                    if result.ok:
                        delivered[notifier.name] = False
                if not any(delivered.values()):
                    del open_alerts[key]
        return results

    def _stateless(self, report: Report, current: dict[str, Finding]) -> list[DeliveryResult]:
        results: list[DeliveryResult] = []
        now = report.checked_at
        ordered = sorted(current.values(), key=lambda f: (-f.severity.rank, f.dedup_key))
        for notifier in self.notifiers:
            digest = getattr(notifier, "digest", None)
            if callable(digest):
                if ordered:
                    result = digest(ordered, now)
                    assert isinstance(result, DeliveryResult)
                    results.append(result)
                continue
            for finding in ordered:
                results.append(notifier.open(finding, now))
            for subject in report.subjects:
                if subject.id not in report.checked_ids():
                    continue
                for condition in RESOLVABLE.get(subject.kind, ()):
                    key = dedup_key(subject.id, condition.value)
                    if key not in current:
                        results.append(notifier.resolve(key, None, now))
        return results

    def trigger(self, finding: Finding, timestamp: datetime) -> list[DeliveryResult]:
        """Announce one finding (from an event) on every notifier."""
        if finding.severity < self.min_severity:
            return []
        return [n.open(finding, timestamp) for n in self.notifiers]

    def resolve(
        self, key: str, finding: Finding | None, timestamp: datetime
    ) -> list[DeliveryResult]:
        """Resolve one dedup key (from an event) on every notifier."""
        data = finding.to_dict() if finding else None
        return [n.resolve(key, data, timestamp) for n in self.notifiers]
