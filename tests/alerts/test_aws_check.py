"""The AWS check: due dates from DescribeSecret, overdue, disabled, failed rotations."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from erp.alerts.aws import AwsCheckOptions, assess_secret, check_aws_secrets
from erp.alerts.findings import Report

ARN = ":".join(["arn", "aws", "secretsmanager", "us-east-1", "1" * 12, "secret:erp/ring-AbCdEf"])
LAST = datetime(2026, 11, 1, 13, 20, tzinfo=UTC)
OPTIONS = AwsCheckOptions(due_within=timedelta(days=7))


def described(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "ARN": ARN,
        "Name": "erp/ring",
        "RotationEnabled": True,
        "RotationRules": {"AutomaticallyAfterDays": 30},
        "LastRotatedDate": LAST,
        "CreatedDate": LAST - timedelta(days=90),
        "VersionIdsToStages": {"v1": ["AWSCURRENT"]},
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def conditions(report: Report) -> list[tuple[str, str]]:
    return sorted((f.condition.value, f.severity.value) for f in report.findings)


def test_secret_rotated_recently_is_fine_and_due_at_window_end() -> None:
    """Rotated Nov 1, 30 days: the window is Dec 1; on Nov 10 nothing to report."""
    report = assess_secret(described(), None, datetime(2026, 11, 10, tzinfo=UTC), OPTIONS)
    assert report.findings == ()
    assert report.subjects[0].due_at == datetime(2026, 12, 2, tzinfo=UTC)


def test_upcoming_automatic_rotation_is_informational() -> None:
    """Within the look-ahead, an auto-rotating secret is reported as info (it rotates itself)."""
    report = assess_secret(described(), None, datetime(2026, 11, 28, tzinfo=UTC), OPTIONS)
    assert conditions(report) == [("rotation_due", "info")]


def test_window_closed_without_rotation_is_overdue() -> None:
    """After the Dec 1 window closed (+1 h grace) with no new rotation: critical."""
    now = datetime(2026, 12, 2, 1, 30, tzinfo=UTC)
    report = assess_secret(described(), None, now, OPTIONS)
    assert conditions(report) == [("rotation_overdue", "critical")]
    assert "closed 2 hours ago" in report.findings[0].summary


def test_within_the_grace_after_the_window_is_not_yet_overdue() -> None:
    """A rotation finishing just after the window does not page."""
    now = datetime(2026, 12, 2, 0, 30, tzinfo=UTC)
    assert conditions(assess_secret(described(), None, now, OPTIONS)) == [("rotation_due", "info")]


def test_next_rotation_date_from_aws_wins_over_the_computed_one() -> None:
    """NextRotationDate is AWS's own schedule; the window is computed from it."""
    desc = described(NextRotationDate=datetime(2026, 11, 20, tzinfo=UTC))
    report = assess_secret(desc, None, datetime(2026, 11, 22, tzinfo=UTC), OPTIONS)
    assert conditions(report) == [("rotation_overdue", "critical")]


def test_cron_schedule_with_duration_from_describe_secret() -> None:
    """DescribeSecret's computed AutomaticallyAfterDays is ignored beside ScheduleExpression."""
    rules = {
        "AutomaticallyAfterDays": 7,
        "ScheduleExpression": "cron(0 4 ? * SUN *)",
        "Duration": "2h",
    }
    desc = described(RotationRules=rules, LastRotatedDate=datetime(2026, 11, 22, 4, 30, tzinfo=UTC))
    report = assess_secret(desc, None, datetime(2026, 11, 29, 7, 30, tzinfo=UTC), OPTIONS)
    assert conditions(report) == [("rotation_overdue", "critical")]
    assert report.findings[0].details["window_end"] == "2026-11-29T06:00:00.000000Z"


def test_rotation_disabled_is_a_warning() -> None:
    """A secret without automatic rotation is reported so someone enables it."""
    report = assess_secret(described(RotationEnabled=False), None, LAST, OPTIONS)
    assert conditions(report) == [("rotation_disabled", "warning")]


def test_invalid_rules_are_reported_not_guessed() -> None:
    """Rules the engine cannot evaluate become a schedule_invalid finding."""
    desc = described(RotationRules={"AutomaticallyAfterDays": 0})
    assert conditions(assess_secret(desc, None, LAST, OPTIONS)) == [("schedule_invalid", "error")]


def test_pending_label_left_on_another_version_is_a_failed_rotation() -> None:
    """AWSPENDING left on another version for over an hour: the last rotation failed."""
    versions = [
        {"VersionId": "v1", "VersionStages": ["AWSCURRENT"], "CreatedDate": LAST},
        {"VersionId": "v2", "VersionStages": ["AWSPENDING"], "CreatedDate": LAST},
    ]
    report = assess_secret(described(), versions, LAST + timedelta(hours=2), OPTIONS)
    assert conditions(report) == [("rotation_failed", "critical")]
    assert "--remove-from-version-id v2" in report.findings[0].summary


def test_pending_label_of_a_rotation_in_progress_is_not_reported() -> None:
    """A pending version minutes old is a rotation under way."""
    versions = [
        {"VersionId": "v1", "VersionStages": ["AWSCURRENT"], "CreatedDate": LAST},
        {"VersionId": "v2", "VersionStages": ["AWSPENDING"], "CreatedDate": LAST},
    ]
    report = assess_secret(described(), versions, LAST + timedelta(minutes=5), OPTIONS)
    assert report.findings == ()


def test_pending_on_the_current_version_is_the_normal_end_state() -> None:
    """AWSPENDING together with AWSCURRENT is how a finished rotation may look."""
    desc = described(VersionIdsToStages={"v1": ["AWSCURRENT", "AWSPENDING"]})
    assert assess_secret(desc, None, LAST + timedelta(days=2), OPTIONS).findings == ()


def test_deleted_secret_is_not_checked() -> None:
    """A secret scheduled for deletion raises no rotation alarms."""
    desc = described(DeletedDate=LAST, RotationEnabled=False)
    assert assess_secret(desc, None, LAST, OPTIONS).findings == ()


def test_describe_failure_becomes_a_finding_per_secret(aws_env: str) -> None:
    """A secret that does not exist is a check_failed finding naming it; others still run."""
    import boto3

    sm = boto3.client("secretsmanager", endpoint_url=aws_env)
    arn = sm.create_secret(Name="erp/ok", SecretString=json.dumps({"k": secrets.token_hex(8)}))[
        "ARN"
    ]
    report = check_aws_secrets(
        ["erp/missing", arn], client=sm, now=datetime.now(UTC), options=OPTIONS
    )
    assert conditions(report) == [("check_failed", "error"), ("rotation_disabled", "warning")]
    failed = next(f for f in report.findings if f.condition.value == "check_failed")
    assert "erp/missing" in failed.summary
    assert "ResourceNotFoundException" in failed.summary


def test_client_that_cannot_be_built_is_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    """No region or credentials: each secret gets a check_failed finding, no crash."""

    def broken() -> Any:
        raise RuntimeError("You must specify a region.")

    report = check_aws_secrets(["erp/a"], client=broken, now=LAST, options=OPTIONS)
    assert conditions(report) == [("check_failed", "error")]
    assert "must specify a region" in report.findings[0].summary


def test_moto_secret_with_rotation_is_checked_over_http(aws_env: str) -> None:
    """Against the emulator: a 30-day rotation 31 days on is overdue."""
    import boto3

    sm = boto3.client("secretsmanager", endpoint_url=aws_env)
    arn = sm.create_secret(Name="erp/ring", SecretString=json.dumps({"k": secrets.token_hex(8)}))[
        "ARN"
    ]
    sm.rotate_secret(SecretId=arn, RotationRules={"AutomaticallyAfterDays": 30})
    rotated = sm.describe_secret(SecretId=arn)["LastRotatedDate"]
    report = check_aws_secrets([arn], client=sm, now=rotated + timedelta(days=32), options=OPTIONS)
    assert conditions(report) == [("rotation_overdue", "critical")]
    assert report.subjects[0].id == f"aws:{arn}"


def test_a_secret_named_by_name_clears_the_failure_announced_under_that_name(
    aws_env: str,
) -> None:
    """Unreadable, it was keyed by the name given; read, by its ARN: looked at under both."""
    import boto3

    sm = boto3.client("secretsmanager", endpoint_url=aws_env)
    name = "erp/by-name"
    arn = sm.create_secret(Name=name, SecretString=json.dumps({"k": secrets.token_hex(8)}))["ARN"]

    def unreachable() -> Any:
        raise RuntimeError("Could not connect to the endpoint URL")

    failed = check_aws_secrets([name], client=unreachable, now=LAST, options=OPTIONS)
    announced = {f.subject.id for f in failed.findings}
    report = check_aws_secrets([name], client=sm, now=datetime.now(UTC), options=OPTIONS)
    assert announced <= report.checked_ids()
    assert f"aws:{arn}" in report.checked_ids()
