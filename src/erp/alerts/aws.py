"""The check of AWS Secrets Manager secrets: rotation enabled, due, overdue, last rotation failed.

AWS emits no event before a rotation is due, so the due date is computed from
``DescribeSecret``: ``NextRotationDate`` when AWS reports it, else the rotation rules applied
to ``LastRotatedDate`` (or ``CreatedDate``), see :mod:`erp.aws.schedule`. A rotation
that failed or hangs leaves ``AWSPENDING`` on a version other than ``AWSCURRENT``; once that
version is older than ``stuck_after`` the next rotation will fail too, so it is reported.
:func:`assess_secret` is pure; :func:`check_aws_secrets` adds the boto3 calls.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from erp.alerts.findings import Condition, Finding, Report, Severity, Subject
from erp.aws import client as aws_client
from erp.aws.client import CURRENT, PENDING, AwsSettings
from erp.aws.errors import ScheduleError
from erp.aws.schedule import parse_rotation_rules
from erp.clock import to_iso
from erp.errors import ErpError

__all__ = [
    "AwsCheckOptions",
    "assess_secret",
    "aws_subject_id",
    "check_aws_secrets",
    "secretsmanager_client",
]


@dataclass(frozen=True)
class AwsCheckOptions:
    """Thresholds of the AWS check (durations as ``timedelta``)."""

    due_within: timedelta = timedelta(days=7)
    grace: timedelta = timedelta(hours=1)
    stuck_after: timedelta = timedelta(hours=1)


def aws_subject_id(arn: str) -> str:
    """The subject id of a secret: ``aws:<ARN>`` (events and the check agree on it)."""
    return f"aws:{arn}"


def _utc(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    return None


def _ago(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if abs(hours) >= 48:
        return f"{hours / 24:.0f} days"
    return f"{hours:.0f} hour" + ("" if round(abs(hours)) == 1 else "s")


def assess_secret(
    description: Mapping[str, Any],
    versions: Sequence[Mapping[str, Any]] | None,
    now: datetime,
    options: AwsCheckOptions,
) -> Report:
    """Findings for one secret from its ``DescribeSecret`` (and ``ListSecretVersionIds``)."""
    arn = str(description.get("ARN") or description.get("Name"))
    name = str(description.get("Name") or arn)
    subject = Subject(aws_subject_id(arn), "aws-secret", f"secret {name}")
    if description.get("DeletedDate"):
        return Report(now, (subject,))
    findings: list[Finding] = []
    details: dict[str, Any] = {"arn": arn}
    findings += _pending_findings(subject, description, versions, now, options, details)
    if not description.get("RotationEnabled"):
        findings.append(
            Finding(
                subject,
                Condition.ROTATION_DISABLED,
                Severity.WARNING,
                f"automatic rotation is not enabled for secret {name}; give it a rotation "
                "schedule (the template's RotationSchedule or 'aws secretsmanager "
                "rotate-secret')",
                None,
                details,
            )
        )
        return Report(now, (subject,), tuple(findings))
    rules = description.get("RotationRules") or {}
    try:
        schedule = parse_rotation_rules(rules, f"secret {name}", described=True)
    except ScheduleError as exc:
        findings.append(
            Finding(
                subject,
                Condition.SCHEDULE_INVALID,
                Severity.ERROR,
                f"{exc}; the due date cannot be computed",
                None,
                {**details, "rotation_rules": dict(rules)},
            )
        )
        return Report(now, (subject,), tuple(findings))
    last = _utc(description.get("LastRotatedDate")) or _utc(description.get("CreatedDate"))
    next_date = _utc(description.get("NextRotationDate"))
    if next_date is not None:
        window = schedule.window_at(next_date)
    elif last is not None:
        window = schedule.next_window(last)
    else:
        return Report(now, (subject,), tuple(findings))
    details = {
        **details,
        "schedule": schedule.describe(),
        "last_rotated": to_iso(last) if last else None,
        "window_start": to_iso(window.start),
        "window_end": to_iso(window.end),
    }
    subject = Subject(subject.id, subject.kind, subject.name, window.end)
    findings = [
        Finding(subject, f.condition, f.severity, f.summary, f.due_at, f.details) for f in findings
    ]
    if now > window.end + options.grace:
        findings.append(
            Finding(
                subject,
                Condition.ROTATION_OVERDUE,
                Severity.CRITICAL,
                f"secret {name} is overdue for rotation: its window ({schedule.describe()}) "
                f"closed {_ago(now - window.end)} ago at {to_iso(window.end)}; last rotated "
                f"{to_iso(last) if last else 'never'}. Check the rotation Lambda's logs",
                window.end,
                details,
            )
        )
    elif window.start - now <= options.due_within:
        findings.append(
            Finding(
                subject,
                Condition.ROTATION_DUE,
                Severity.INFO,
                f"secret {name} rotates automatically in the window {to_iso(window.start)} - "
                f"{to_iso(window.end)} ({schedule.describe()})",
                window.end,
                details,
            )
        )
    return Report(now, (subject,), tuple(findings))


def _pending_findings(
    subject: Subject,
    description: Mapping[str, Any],
    versions: Sequence[Mapping[str, Any]] | None,
    now: datetime,
    options: AwsCheckOptions,
    details: Mapping[str, Any],
) -> list[Finding]:
    stages: dict[str, list[str]] = {}
    created: dict[str, datetime | None] = {}
    if versions is not None:
        for v in versions:
            vid = str(v.get("VersionId"))
            stages[vid] = list(v.get("VersionStages") or ())
            created[vid] = _utc(v.get("CreatedDate"))
    else:
        for vid, labels in (description.get("VersionIdsToStages") or {}).items():
            stages[str(vid)] = list(labels)
    pending = [vid for vid, labels in stages.items() if PENDING in labels and CURRENT not in labels]
    if not pending:
        return []
    vid = pending[0]
    since = created.get(vid)
    if since is not None and now - since < options.stuck_after:
        return []  # a rotation in progress
    name = subject.name
    age = f" since {to_iso(since)}" if since else ""
    return [
        Finding(
            subject,
            Condition.ROTATION_FAILED,
            Severity.CRITICAL if since is not None else Severity.ERROR,
            f"the last rotation of {name} did not finish: AWSPENDING sits on version "
            f"{vid}{age}, not on AWSCURRENT, so the next rotation will fail ('a previous "
            "rotation isn't complete'). Read the rotation Lambda's logs, then remove the "
            "label (aws secretsmanager update-secret-version-stage --version-stage "
            f"AWSPENDING --remove-from-version-id {vid})",
            since,
            {**details, "pending_version": vid},
        )
    ]


def secretsmanager_client(endpoint_url: str | None = None) -> Any:
    """The one Secrets Manager client of :mod:`erp.aws.client` (timeouts, region, credentials)."""
    settings = AwsSettings.from_env().with_overrides(endpoint_url=endpoint_url)
    return aws_client.secretsmanager_client(settings)


def _where() -> str:
    try:
        return AwsSettings.from_env().where()
    except ErpError:  # a malformed ERP_AWS_* setting is reported where the client is built
        return "AWS"


def _error_text(exc: Exception, what: str) -> str:
    """One sentence for a failed call, through :func:`erp.aws.client.translate_error`."""
    if isinstance(exc, ErpError):
        return str(exc)
    import botocore.exceptions as bce

    if not isinstance(exc, (bce.BotoCoreError, bce.ClientError)):
        return f"{type(exc).__name__}: {exc}"
    return str(aws_client.translate_error(exc, what=what, where=_where()))


def _unreadable(secret_id: str, now: datetime, problem: str) -> Report:
    subject = Subject(aws_subject_id(secret_id), "aws-secret", f"secret {secret_id}")
    finding = Finding(
        subject,
        Condition.CHECK_FAILED,
        Severity.ERROR,
        f"could not describe secret {secret_id}: {problem}",
        None,
        {"secret_id": secret_id},
    )
    return Report(now, (subject,), (finding,))


def check_aws_secrets(
    secret_ids: Iterable[str], *, client: Any, now: datetime, options: AwsCheckOptions
) -> Report:
    """Describe each secret and assess it; a secret that cannot be read is a finding.

    ``client`` is a boto3 Secrets Manager client, or a callable returning one (called once,
    here, so a missing region or credentials also become findings).
    """
    ids = list(secret_ids)
    if callable(client) and not hasattr(client, "describe_secret"):
        try:
            client = client()
        except Exception as exc:  # no region, no credentials, no boto3: say so per secret
            problem = _error_text(exc, "creating the Secrets Manager client")
            return Report.combine(now, [_unreadable(i, now, problem) for i in ids])
    parts: list[Report] = []
    where = _where()
    for secret_id in ids:
        try:
            description = aws_client.call(
                client, "describe_secret", where=where, SecretId=secret_id
            )
        except Exception as exc:  # an ErpError, or a client that is not botocore's
            parts.append(_unreadable(secret_id, now, _error_text(exc, "DescribeSecret")))
            continue
        versions: list[Mapping[str, Any]] | None
        try:
            versions = []
            kwargs: dict[str, Any] = {"SecretId": description.get("ARN", secret_id)}
            while True:
                page = aws_client.call(client, "list_secret_version_ids", where=where, **kwargs)
                versions.extend(page.get("Versions") or ())
                token = page.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
        except Exception:  # no ListSecretVersionIds permission: judge from DescribeSecret
            versions = None
        assessed = assess_secret(description, versions, now, options)
        given = Subject(aws_subject_id(secret_id), "aws-secret", f"secret {secret_id}")
        if given.id not in {s.id for s in assessed.subjects}:
            # A secret that could not be read was announced under the id as given (a name);
            # read, it is keyed by its ARN. Looked at under both, so that alert resolves.
            assessed = dataclasses.replace(assessed, subjects=(*assessed.subjects, given))
        parts.append(assessed)
    return Report.combine(now, parts)
