"""Lambda handler: the scheduled check of AWS secrets, publishing its report to SNS.

An EventBridge schedule invokes :func:`handler`; it describes every secret named in
``ERP_CHECK_AWS_SECRET_IDS`` and publishes the report (JSON, ``"type": "erp.check"``) to
the topic ``ERP_ALERT_TOPIC_ARN``, where the notifier picks it up. Reports larger than one
SNS message are split by secret. Nothing here reads a secret value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

from erp._settings import read_pattern, read_text
from erp.alerts.check import CheckConfig, run_check
from erp.alerts.findings import Report
from erp.clock import Clock, system_clock
from erp.errors import ConfigError

__all__ = ["MESSAGE_LIMIT_BYTES", "handler", "report_messages"]

_TOPIC_ARN = (
    r"arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-[0-9]{1,2}:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?"
)

MESSAGE_LIMIT_BYTES = 200_000
"""Under SNS's 256 KiB, leaving room for attributes and the envelope."""


def report_messages(report: Report, limit_bytes: int = MESSAGE_LIMIT_BYTES) -> Iterator[str]:
    """``report`` as one or more JSON messages, split by subject to stay under the limit."""
    whole = json.dumps(report.to_dict(), separators=(",", ":"))
    if len(whole.encode()) <= limit_bytes or len(report.subjects) <= 1:
        yield whole
        return
    half = len(report.subjects) // 2
    for subjects in (report.subjects[:half], report.subjects[half:]):
        ids = {s.id for s in subjects}
        part = Report(
            report.checked_at,
            subjects,
            tuple(f for f in report.findings if f.subject.id in ids),
            report.due_within_days,
        )
        yield from report_messages(part, limit_bytes)


def _sns_client() -> Any:
    from erp.aws.client import AwsSettings, sns_client

    return sns_client(AwsSettings.from_env())


def handler(
    event: Mapping[str, Any],
    context: Any,
    *,
    clock: Clock = system_clock,
    environ: Mapping[str, str] | None = None,
    secretsmanager: Any = None,
    sns: Any = None,
) -> dict[str, Any]:
    """Run the check and publish it; returns counts for the Lambda's log."""
    env = os.environ if environ is None else environ
    if not read_text("ERP_ALERT_TOPIC_ARN", env=env):
        raise ConfigError(
            "environment variable ERP_ALERT_TOPIC_ARN is not set: no topic to publish to"
        )
    config = CheckConfig.from_env(env, vault_paths=[])
    if not config.aws_secret_ids:
        raise ConfigError(
            "environment variable ERP_CHECK_AWS_SECRET_IDS is empty: no secret to check"
        )
    # the shape is checked before any secret is described: a typo is one sentence, not a
    # check that runs and then fails to publish
    topic = read_pattern(
        "ERP_ALERT_TOPIC_ARN",
        _TOPIC_ARN,
        "an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)",
        env=env,
    )
    report = run_check(config, clock=clock, aws_client=secretsmanager)
    client = sns if sns is not None else _sns_client()
    worst = report.worst.value if report.worst else "ok"
    published = 0
    for message in report_messages(report):
        client.publish(
            TopicArn=topic,
            Subject=f"erp-secrets check: {len(report.findings)} finding(s), worst {worst}"[:100],
            Message=message,
            MessageAttributes={
                "type": {"DataType": "String", "StringValue": "erp.check"},
                "severity": {"DataType": "String", "StringValue": worst},
            },
        )
        published += 1
    summary = {
        "subjects": len(report.subjects),
        "findings": len(report.findings),
        "worst": worst,
        "published": published,
    }
    print(json.dumps({"erp": "check", **summary}))
    return summary
