"""Turn Secrets Manager rotation events and CloudWatch alarms into findings and resolves.

EventBridge delivers Secrets Manager's CloudTrail entries: ``RotationFailed``,
``RotationAbandoned`` and ``TestRotationFailed`` open an alert; ``RotationSucceeded`` and
``TestRotationSucceeded`` resolve it. Rotation events name the secret in
``detail.additionalEventData.SecretId``; API-call events in ``responseElements.arn`` - or
``aRN``, a capitalisation some events used (AWS says to match both) - or
``requestParameters.secretId``. The dedup key is the one the scheduled check uses for the
same secret and condition, so an event and a check never page twice for one problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from erp.alerts.aws import aws_subject_id
from erp.alerts.findings import Condition, Finding, Severity, Subject, dedup_key
from erp.clock import from_iso

__all__ = [
    "FAILURE_EVENTS",
    "RESOLVING_EVENTS",
    "EventAction",
    "actions_for_alarm",
    "actions_for_event",
    "event_pattern",
    "is_alarm",
    "is_rotation_event",
    "secret_arn",
]

FAILURE_EVENTS: Mapping[str, tuple[Condition, Severity, str]] = {
    "RotationFailed": (
        Condition.ROTATION_FAILED,
        Severity.CRITICAL,
        "rotation of {name} failed; AWSCURRENT is unchanged. Read the rotation Lambda's logs; "
        "Secrets Manager retries the rotation",
    ),
    "RotationAbandoned": (
        Condition.ROTATION_ABANDONED,
        Severity.WARNING,
        "rotation of {name} was abandoned: a new version was written during the rotation "
        "and Secrets Manager removed AWSPENDING",
    ),
    "TestRotationFailed": (
        Condition.TEST_ROTATION_FAILED,
        Severity.ERROR,
        "test rotation of {name} failed: the rotation Lambda's testSecret step rejected "
        "the pending version",
    ),
}

RESOLVING_EVENTS: Mapping[str, tuple[Condition, ...]] = {
    "RotationSucceeded": (
        Condition.ROTATION_FAILED,
        Condition.ROTATION_ABANDONED,
        Condition.ROTATION_OVERDUE,
    ),
    "TestRotationSucceeded": (Condition.TEST_ROTATION_FAILED,),
}

_DETAIL_TYPES = ("AWS Service Event via CloudTrail", "AWS API Call via CloudTrail")
_EVENT_SOURCE = "secretsmanager.amazonaws.com"


def event_pattern(secret_arns: list[Any] | None = None) -> dict[str, Any]:
    """The EventBridge pattern for these events (optionally for some secrets only).

    Matching one secret across event kinds needs every key that may hold its ARN,
    including both ``arn`` and ``aRN``.
    """
    detail: dict[str, Any] = {
        "eventSource": [_EVENT_SOURCE],
        "eventName": sorted([*FAILURE_EVENTS, *RESOLVING_EVENTS]),
    }
    if secret_arns:
        detail["$or"] = [
            {"additionalEventData": {"SecretId": list(secret_arns)}},
            {"responseElements": {"arn": list(secret_arns)}},
            {"responseElements": {"aRN": list(secret_arns)}},
            {"requestParameters": {"secretId": list(secret_arns)}},
        ]
    return {"source": ["aws.secretsmanager"], "detail-type": list(_DETAIL_TYPES), "detail": detail}


@dataclass(frozen=True)
class EventAction:
    """Open ``finding``, or resolve ``key`` (``finding`` then describes what cleared)."""

    action: str  # "trigger" | "resolve"
    key: str
    finding: Finding | None
    timestamp: datetime


def _arn_in(value: object) -> str | None:
    if isinstance(value, str) and value.startswith("arn:") and ":secretsmanager:" in value:
        return value
    return None


def _get_ci(mapping: object, *names: str) -> object:
    """The first of ``names`` in ``mapping``, compared case-insensitively (arn, aRN, ARN)."""
    if not isinstance(mapping, Mapping):
        return None
    lowered = {str(k).lower(): v for k, v in mapping.items()}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def secret_arn(event: Mapping[str, Any]) -> str | None:
    """The secret an event is about, wherever (and however capitalised) it is named."""
    detail = event.get("detail") or {}
    candidates: list[object] = [
        _get_ci(detail.get("additionalEventData"), "SecretId", "secretArn"),
        _get_ci(detail.get("responseElements"), "arn"),
        _get_ci(detail.get("requestParameters"), "secretId"),
        _get_ci(detail.get("serviceEventDetails"), "secretId", "arn"),
    ]
    for resource in detail.get("resources") or ():
        candidates.append(_get_ci(resource, "arn"))
    candidates.extend(event.get("resources") or ())
    for value in candidates:
        found = _arn_in(value)
        if found:
            return found
    for value in candidates:  # a secret named without its ARN
        if isinstance(value, str) and value:
            return value
    return None


def _event_time(event: Mapping[str, Any]) -> datetime:
    detail = event.get("detail") or {}
    for text in (event.get("time"), detail.get("eventTime")):
        if isinstance(text, str) and text:
            try:
                return from_iso(text)
            except ValueError:
                continue
    return datetime.now(UTC)


def is_rotation_event(message: Mapping[str, Any]) -> bool:
    """A Secrets Manager CloudTrail event: from AWS (source ``aws.secretsmanager``) or a
    rehearsal by ``erp-secrets aws rotate`` (source ``erp.rotation``, the same detail)."""
    detail = message.get("detail")
    return isinstance(detail, Mapping) and detail.get("eventSource") == _EVENT_SOURCE


def actions_for_event(event: Mapping[str, Any]) -> list[EventAction]:
    """What to tell PagerDuty and Slack about one Secrets Manager event (maybe nothing)."""
    detail = event.get("detail") or {}
    name = str(detail.get("eventName") or "")
    arn = secret_arn(event)
    if arn is None or (name not in FAILURE_EVENTS and name not in RESOLVING_EVENTS):
        return []
    when = _event_time(event)
    short = arn.rsplit(":", 1)[-1] if arn.startswith("arn:") else arn
    subject = Subject(aws_subject_id(arn), "aws-secret", f"secret {short}")
    details: dict[str, Any] = {
        "arn": arn,
        "event": name,
        "event_id": detail.get("eventID") or event.get("id"),
        "region": event.get("region") or detail.get("awsRegion"),
    }
    extra = detail.get("erp")  # a rehearsal's failed step and error (ids only, no secrets)
    if isinstance(extra, Mapping):
        details.update({f"rotation_{k}": extra[k] for k in ("step", "error") if k in extra})
    if name in FAILURE_EVENTS:
        condition, severity, text = FAILURE_EVENTS[name]
        finding = Finding(subject, condition, severity, text.format(name=short), None, details)
        return [EventAction("trigger", finding.dedup_key, finding, when)]
    actions = []
    for condition in RESOLVING_EVENTS[name]:
        cleared = Finding(subject, condition, Severity.INFO, f"{name} for {short}", None, details)
        actions.append(
            EventAction("resolve", dedup_key(subject.id, condition.value), cleared, when)
        )
    return actions


def is_alarm(message: Mapping[str, Any]) -> bool:
    return "AlarmName" in message and "NewStateValue" in message


def actions_for_alarm(message: Mapping[str, Any]) -> list[EventAction]:
    """A CloudWatch alarm notification (through SNS): ALARM opens, OK resolves."""
    name = str(message.get("AlarmName"))
    arn = str(message.get("AlarmArn") or name)
    subject = Subject(f"aws-alarm:{arn}", "aws-alarm", f"alarm {name}")
    state = str(message.get("NewStateValue"))
    reason = str(message.get("NewStateReason") or "")
    try:
        when = from_iso(str(message.get("StateChangeTime")).replace("+0000", "+00:00"))
    except ValueError:
        when = datetime.now(UTC)
    finding = Finding(
        subject,
        Condition.ALARM,
        Severity.ERROR,
        f"alarm {name} is {state}: {reason}".strip(),
        None,
        {"alarm": name, "state": state, "description": message.get("AlarmDescription")},
    )
    if state == "ALARM":
        return [EventAction("trigger", finding.dedup_key, finding, when)]
    if state == "OK":
        return [EventAction("resolve", finding.dedup_key, finding, when)]
    return []
