"""What a check finds: subjects (the key rings and secrets looked at) and findings about them.

A finding is one *condition* of one *subject*; ``dedup_key`` is stable across runs, so a
condition that persists never pages twice and a condition that clears can be resolved.
Nothing here holds secret material: subjects are named by path, ARN or key id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from erp.clock import from_iso, to_iso

__all__ = [
    "Condition",
    "Finding",
    "Report",
    "Severity",
    "Subject",
    "dedup_key",
]


class Severity(StrEnum):
    """PagerDuty's four severities, ordered: ``Severity.INFO < Severity.CRITICAL``."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2, Severity.CRITICAL: 3}


class Condition(StrEnum):
    """Every condition the check reports; the value is part of the dedup key."""

    ROTATION_DUE = "rotation_due"
    ROTATION_OVERDUE = "rotation_overdue"
    ROTATION_FAILED = "rotation_failed"
    ROTATION_ABANDONED = "rotation_abandoned"
    TEST_ROTATION_FAILED = "test_rotation_failed"
    ROTATION_DISABLED = "rotation_disabled"
    SCHEDULE_INVALID = "schedule_invalid"
    KEY_AGE_UNKNOWN = "key_age_unknown"
    RETIRING_KEY_PRUNABLE = "retiring_key_prunable"
    STAGED_KEY_NOT_PROMOTED = "staged_key_not_promoted"
    OLD_KEYS_NOT_RETIRED = "old_keys_not_retired"
    VAULT_PERMISSIONS = "vault_permissions"
    ROTATION_LOG_BROKEN = "rotation_log_broken"
    CHECK_FAILED = "check_failed"
    ALARM = "alarm"


_TITLES = {
    Condition.ROTATION_DUE: "Rotation due soon",
    Condition.ROTATION_OVERDUE: "Rotation overdue",
    Condition.ROTATION_FAILED: "Rotation failed",
    Condition.ROTATION_ABANDONED: "Rotation abandoned",
    Condition.TEST_ROTATION_FAILED: "Test rotation failed",
    Condition.ROTATION_DISABLED: "Rotation not enabled",
    Condition.SCHEDULE_INVALID: "Rotation schedule invalid",
    Condition.KEY_AGE_UNKNOWN: "Key age unknown",
    Condition.RETIRING_KEY_PRUNABLE: "Retired key still present",
    Condition.STAGED_KEY_NOT_PROMOTED: "Staged key never promoted",
    Condition.OLD_KEYS_NOT_RETIRED: "Old keys not retired",
    Condition.VAULT_PERMISSIONS: "Vault file readable by others",
    Condition.ROTATION_LOG_BROKEN: "Rotation log does not verify",
    Condition.CHECK_FAILED: "Check could not run",
    Condition.ALARM: "Alarm",
}

_MAX_DEDUP = 255  # PagerDuty's limit


def dedup_key(subject_id: str, condition: str) -> str:
    """``erp/<condition>/<subject>``, shortened with a hash when over PagerDuty's 255."""
    key = f"erp/{condition}/{subject_id}"
    if len(key) <= _MAX_DEDUP:
        return key
    digest = hashlib.sha256(subject_id.encode()).hexdigest()[:16]
    head = f"erp/{condition}/"
    room = _MAX_DEDUP - len(head) - len(digest) - 1
    return f"{head}{subject_id[:room]}~{digest}"


@dataclass(frozen=True)
class Subject:
    """One thing the check looked at: a JWT ring, a Fernet ring, an AWS secret."""

    id: str
    kind: str  # "jwt", "fernet", "aws-secret", "aws-alarm"
    name: str
    due_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "due_at": to_iso(self.due_at) if self.due_at else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Subject:
        due = data.get("due_at")
        return cls(str(data["id"]), str(data["kind"]), str(data["name"]), _when(due))


def _when(text: object) -> datetime | None:
    return from_iso(str(text)) if text else None


@dataclass(frozen=True)
class Finding:
    """One condition of one subject, with everything an on-call engineer needs to act."""

    subject: Subject
    condition: Condition
    severity: Severity
    summary: str
    due_at: datetime | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def dedup_key(self) -> str:
        return dedup_key(self.subject.id, self.condition.value)

    @property
    def title(self) -> str:
        return _TITLES[self.condition]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dedup_key": self.dedup_key,
            "subject": self.subject.to_dict(),
            "condition": self.condition.value,
            "severity": self.severity.value,
            "summary": self.summary,
            "due_at": to_iso(self.due_at) if self.due_at else None,
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        return cls(
            subject=Subject.from_dict(data["subject"]),
            condition=Condition(data["condition"]),
            severity=Severity(data["severity"]),
            summary=str(data["summary"]),
            due_at=_when(data.get("due_at")),
            details=dict(data.get("details") or {}),
        )


@dataclass(frozen=True)
class Report:
    """The result of one check: every subject looked at and every finding, at ``checked_at``.

    A subject in ``subjects`` was fully inspected, so any earlier alert about it that has no
    finding now has cleared. A subject that could not be inspected carries a
    ``check_failed`` finding instead and keeps its earlier alerts open.
    """

    checked_at: datetime
    subjects: tuple[Subject, ...] = ()
    findings: tuple[Finding, ...] = ()
    due_within_days: float | None = None

    @property
    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    def at_least(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity >= severity]

    def checked_ids(self) -> set[str]:
        failed = {f.subject.id for f in self.findings if f.condition is Condition.CHECK_FAILED}
        return {s.id for s in self.subjects} - failed

    def merged(self, other: Report) -> Report:
        return Report(
            self.checked_at,
            self.subjects + other.subjects,
            self.findings + other.findings,
            self.due_within_days,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "erp.check",
            "checked_at": to_iso(self.checked_at),
            "due_within_days": self.due_within_days,
            "subjects": [s.to_dict() for s in self.subjects],
            "findings": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        return cls(
            checked_at=from_iso(str(data["checked_at"])),
            subjects=tuple(Subject.from_dict(s) for s in data.get("subjects") or ()),
            findings=tuple(Finding.from_dict(f) for f in data.get("findings") or ()),
            due_within_days=data.get("due_within_days"),
        )

    @classmethod
    def combine(cls, checked_at: datetime, parts: Iterable[Report]) -> Report:
        out = cls(checked_at)
        for part in parts:
            out = out.merged(part)
        return out
