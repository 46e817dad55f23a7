"""The Lambda handlers: scheduled check -> SNS -> notifier -> PagerDuty/Slack, and events."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from erp.alerts.config import AlertSettings
from erp.alerts.delivery import DeliveryFailed, RetryPolicy, Transport
from erp.alerts.events import event_pattern, secret_arn
from erp.alerts.findings import Condition, Finding, Report, Severity, Subject
from erp.alerts.lambda_check import handler as check_handler
from erp.alerts.lambda_check import report_messages
from erp.alerts.lambda_notify import UnknownMessage, messages_of
from erp.alerts.lambda_notify import handler as notify_handler
from erp.clock import FrozenClock
from erp.errors import ConfigError
from erp.testing.alerts import Receiver, Reply, pagerduty_pages

ACCOUNT = "1" * 12


def arn_of(name: str) -> str:
    return ":".join(["arn", "aws", "secretsmanager", "us-east-1", ACCOUNT, f"secret:{name}-AbCdEf"])


ARN = arn_of("erp/ring")


@pytest.fixture
def settings(receiver: Receiver, routing_key: str) -> AlertSettings:
    """PagerDuty and Slack both pointing at the local receiver."""
    return AlertSettings(
        routing_key,
        receiver.url("/slack"),
        pagerduty_url=receiver.url("/pd"),
        retry=RetryPolicy(max_attempts=2, timeout_seconds=1),
    )


def notify(event: dict[str, Any], settings: AlertSettings, transport: Transport) -> dict[str, Any]:
    return notify_handler(event, None, settings=settings, transport=transport)


def cloudtrail_event(
    name: str, *, where: str = "additionalEventData", key: str = "SecretId", arn: str = ARN
) -> dict[str, Any]:
    """A Secrets Manager CloudTrail entry as EventBridge delivers it."""
    service = name.startswith(("Rotation", "TestRotation"))
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS Service Event via CloudTrail"
        if service
        else "AWS API Call via CloudTrail",
        "source": "aws.secretsmanager",
        "account": ACCOUNT,
        "time": "2026-11-25T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "eventSource": "secretsmanager.amazonaws.com",
            "eventName": name,
            "awsRegion": "us-east-1",
            "eventID": "e-" + name,
            "eventType": "AwsServiceEvent" if service else "AwsApiCall",
            where: {key: arn},
        },
    }


@pytest.mark.parametrize(
    ("where", "key"),
    [("additionalEventData", "SecretId"), ("responseElements", "arn"), ("responseElements", "aRN")],
)
def test_rotation_failed_pages_with_the_checks_dedup_key_wherever_the_arn_is(
    receiver: Receiver, settings: AlertSettings, transport: Transport, where: str, key: str
) -> None:
    """RotationFailed with SecretId, arn or aRN pages under the check's dedup key."""
    notify(cloudtrail_event("RotationFailed", where=where, key=key), settings, transport)
    (body,) = receiver.bodies("/pd")
    assert body["event_action"] == "trigger"
    assert body["dedup_key"] == f"erp/rotation_failed/aws:{ARN}"
    assert body["payload"]["severity"] == "critical"
    assert body["payload"]["source"] == ARN
    assert receiver.bodies("/slack")[0]["blocks"][0]["text"]["text"] == (
        "Rotation failed: secret erp/ring-AbCdEf"
    )


def test_rotation_succeeded_resolves_failed_abandoned_and_overdue(
    receiver: Receiver, settings: AlertSettings, transport: Transport
) -> None:
    """A later RotationSucceeded resolves the page under the same dedup key."""
    notify(cloudtrail_event("RotationFailed"), settings, transport)
    notify(cloudtrail_event("RotationSucceeded"), settings, transport)
    bodies = receiver.bodies("/pd")
    assert [(b["event_action"], b["dedup_key"].split("/")[1]) for b in bodies] == [
        ("trigger", "rotation_failed"),
        ("resolve", "rotation_failed"),
        ("resolve", "rotation_abandoned"),
        ("resolve", "rotation_overdue"),
    ]
    assert pagerduty_pages(bodies) == [f"erp/rotation_failed/aws:{ARN}"]


@pytest.mark.parametrize(
    ("name", "condition", "severity"),
    [
        ("TestRotationFailed", "test_rotation_failed", "error"),
        ("RotationAbandoned", "rotation_abandoned", "warning"),
    ],
)
def test_other_failure_events_open_their_own_alert(
    receiver: Receiver,
    settings: AlertSettings,
    transport: Transport,
    name: str,
    condition: str,
    severity: str,
) -> None:
    """TestRotationFailed and RotationAbandoned each page under their own condition."""
    notify(cloudtrail_event(name), settings, transport)
    (body,) = receiver.bodies("/pd")
    assert (body["dedup_key"], body["payload"]["severity"]) == (
        f"erp/{condition}/aws:{ARN}",
        severity,
    )


def test_event_inside_an_sns_record_is_handled_like_a_direct_event(
    receiver: Receiver, settings: AlertSettings, transport: Transport
) -> None:
    """EventBridge -> SNS -> Lambda wraps the event in Records[].Sns.Message."""
    event = {
        "Records": [
            {
                "EventSource": "aws:sns",
                "Sns": {
                    "Type": "Notification",
                    "Message": json.dumps(cloudtrail_event("RotationFailed")),
                },
            }
        ]
    }
    notify(event, settings, transport)
    assert receiver.bodies("/pd")[0]["dedup_key"] == f"erp/rotation_failed/aws:{ARN}"


def test_cloudwatch_alarm_opens_and_ok_resolves(
    receiver: Receiver, settings: AlertSettings, transport: Transport
) -> None:
    """An alarm (the notifier's dead-letter queue filling) arrives through SNS too."""

    def alarm(state: str) -> dict[str, Any]:
        message = {
            "AlarmName": "erp-notify-dead-letters",
            "NewStateValue": state,
            "NewStateReason": "1 message",
            "StateChangeTime": "2026-11-25T10:00:00.000+0000",
        }
        return {"Records": [{"Sns": {"Message": json.dumps(message)}}]}

    notify(alarm("ALARM"), settings, transport)
    notify(alarm("OK"), settings, transport)
    assert [b["event_action"] for b in receiver.bodies("/pd")] == ["trigger", "resolve"]


def test_failed_delivery_raises_after_trying_everything(
    receiver: Receiver, settings: AlertSettings, transport: Transport
) -> None:
    """PagerDuty down: Slack still gets it, then the handler raises (Lambda retries, DLQ)."""
    receiver.script.extend([Reply(503)] * 5)  # every PagerDuty attempt
    with pytest.raises(DeliveryFailed, match="1 notification") as info:
        notify(cloudtrail_event("RotationFailed"), settings, transport)
    assert len(receiver.bodies("/slack")) == 1
    assert settings.pagerduty_routing_key not in str(info.value)  # type: ignore[operator]


def test_unknown_message_is_not_silently_dropped(
    settings: AlertSettings, transport: Transport
) -> None:
    """A message the notifier does not understand fails the invocation."""
    with pytest.raises(UnknownMessage, match="not understood"):
        notify({"detail-type": "Something Else", "source": "aws.ec2"}, settings, transport)


def test_no_destination_configured_is_a_config_error(transport: Transport) -> None:
    """Without a routing key or webhook the notifier refuses to run."""
    with pytest.raises(ConfigError, match="ERP_PAGERDUTY_ROUTING_KEY"):
        notify(cloudtrail_event("RotationFailed"), AlertSettings(), transport)


def test_notifier_reads_its_secrets_through_get_secret(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, routing_key: str, transport: Transport
) -> None:
    """With no settings given, the handler builds them from the environment and get_secret."""
    monkeypatch.setenv("ERP_PAGERDUTY_ROUTING_KEY", routing_key)
    monkeypatch.setenv("ERP_PAGERDUTY_EVENTS_URL", receiver.url("/pd"))
    notify_handler(cloudtrail_event("RotationFailed"), None, transport=transport)
    assert receiver.bodies("/pd")[0]["routing_key"] == routing_key


def test_secret_arn_prefers_an_arn_over_a_bare_name() -> None:
    """requestParameters may hold a name while responseElements holds the ARN."""
    event = cloudtrail_event("RotationFailed")
    event["detail"] = {
        "requestParameters": {"secretId": "erp/ring"},
        "responseElements": {"aRN": ARN},
    }
    assert secret_arn(event) == ARN


def test_large_report_is_split_into_messages_under_the_limit() -> None:
    """A report too big for one SNS message is split by subject, losing nothing."""
    now = datetime(2026, 11, 25, tzinfo=UTC)
    subjects = tuple(
        Subject(f"aws:{arn_of(f's{i}')}", "aws-secret", f"secret s{i}") for i in range(40)
    )
    findings = tuple(
        Finding(s, Condition.ROTATION_DISABLED, Severity.WARNING, "x" * 300) for s in subjects
    )
    messages = list(report_messages(Report(now, subjects, findings), limit_bytes=4000))
    assert len(messages) > 1
    assert all(len(m.encode()) <= 4000 for m in messages)
    parts = [Report.from_dict(json.loads(m)) for m in messages]
    assert sum(len(p.findings) for p in parts) == 40
    assert {s.id for p in parts for s in p.subjects} == {s.id for s in subjects}


def test_messages_of_refuses_a_non_json_sns_message() -> None:
    """An SNS message that is not JSON is reported, not ignored."""
    with pytest.raises(UnknownMessage):
        messages_of({"Records": [{"Sns": {"Message": "plain text"}}]})


# --- against the AWS emulator (moto server over HTTP) ------------------------------------


def stuck_rotation(endpoint: str) -> tuple[str, datetime]:
    """A secret on a 30-day schedule whose last rotation failed half-way: AWSPENDING was
    left on a new version, as a crashed createSecret step leaves it.

    The emulator's own rotate call does not follow the protocol (and cannot run a Lambda
    here), so it only turns rotation on; the leftover version is written explicitly.
    """
    import uuid

    import boto3

    sm = boto3.client("secretsmanager", endpoint_url=endpoint)
    value = json.dumps({"x": secrets.token_hex(8)})
    arn = str(sm.create_secret(Name="erp/ring", SecretString=value)["ARN"])
    sm.rotate_secret(SecretId=arn, RotationRules={"AutomaticallyAfterDays": 30})
    sm.put_secret_value(
        SecretId=arn,
        SecretString=value,
        VersionStages=["AWSPENDING"],
        ClientRequestToken=str(uuid.uuid4()),
    )
    created: datetime = sm.describe_secret(SecretId=arn)["CreatedDate"]
    return arn, created


def test_scheduled_check_publishes_to_sns_and_the_notifier_pages(
    aws_env: str,
    receiver: Receiver,
    settings: AlertSettings,
    transport: Transport,
) -> None:
    """Check Lambda -> SNS -> HTTP -> notify Lambda pages overdue and failed once each."""
    import boto3

    arn, created = stuck_rotation(aws_env)
    sns = boto3.client("sns", endpoint_url=aws_env)
    topic = sns.create_topic(Name="erp-alerts")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=receiver.url("/sns"))
    clock = FrozenClock(created + timedelta(days=32))
    env = {"ERP_ALERT_TOPIC_ARN": topic, "ERP_CHECK_AWS_SECRET_IDS": arn}
    summary = check_handler({}, None, clock=clock, environ=env)
    assert summary == {"subjects": 1, "findings": 2, "worst": "critical", "published": 1}
    (envelope,) = receiver.bodies("/sns")
    assert envelope["Type"] == "Notification"
    notify(envelope, settings, transport)
    pd = receiver.bodies("/pd")
    assert sorted(b["dedup_key"] for b in pd if b["event_action"] == "trigger") == [
        f"erp/rotation_failed/aws:{arn}",
        f"erp/rotation_overdue/aws:{arn}",
    ]
    (digest,) = receiver.bodies("/slack")
    assert digest["blocks"][0]["text"]["text"] == "2 secret-rotation finding(s)"


def test_check_lambda_without_topic_or_secrets_refuses(aws_env: str) -> None:
    """Missing configuration is one clear error naming the variable."""
    with pytest.raises(ConfigError, match="ERP_ALERT_TOPIC_ARN"):
        check_handler({}, None, environ={})
    with pytest.raises(ConfigError, match="ERP_CHECK_AWS_SECRET_IDS"):
        check_handler({}, None, environ={"ERP_ALERT_TOPIC_ARN": "t"})


def test_eventbridge_rule_routes_rotation_events_by_arn_and_aRN(
    aws_env: str, receiver: Receiver, settings: AlertSettings, transport: Transport
) -> None:
    """The rule pattern (arn and aRN) routes only this secret's rotation events."""
    import boto3

    events = boto3.client("events", endpoint_url=aws_env)
    sqs = boto3.client("sqs", endpoint_url=aws_env)
    queue = sqs.create_queue(QueueName="rotation-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="rotation", EventPattern=json.dumps(event_pattern([ARN])))
    events.put_targets(Rule="rotation", Targets=[{"Id": "q", "Arn": queue_arn}])
    other = arn_of("someone-else")
    sent = [
        cloudtrail_event("RotationFailed", where="responseElements", key="aRN"),
        cloudtrail_event("TestRotationFailed", where="responseElements", key="arn"),
        cloudtrail_event("RotationFailed", arn=other),  # another secret: filtered out
        cloudtrail_event("PutSecretValue"),  # not a rotation event: filtered out
        cloudtrail_event("RotationSucceeded"),
    ]
    events.put_events(
        Entries=[
            {
                "Source": e["source"],
                "DetailType": e["detail-type"],
                "Detail": json.dumps(e["detail"]),
            }
            for e in sent
        ]
    )
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    names = [json.loads(m["Body"])["detail"]["eventName"] for m in received]
    assert sorted(names) == ["RotationFailed", "RotationSucceeded", "TestRotationFailed"]
    for name in ("RotationFailed", "TestRotationFailed", "RotationSucceeded"):
        (body,) = [
            json.loads(m["Body"])
            for m in received
            if json.loads(m["Body"])["detail"]["eventName"] == name
        ]
        notify(body, settings, transport)
    pd = receiver.bodies("/pd")
    assert pagerduty_pages(pd) == [
        f"erp/rotation_failed/aws:{ARN}",
        f"erp/test_rotation_failed/aws:{ARN}",
    ]
    assert (pd[-3]["event_action"], pd[-3]["dedup_key"]) == (
        "resolve",
        f"erp/rotation_failed/aws:{ARN}",
    )


def test_notifier_reads_routing_key_from_the_alert_secret_in_aws(
    aws_env: str,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    routing_key: str,
    transport: Transport,
) -> None:
    """As deployed, get_secret reads the routing key from ERP_AWS_SECRET_ID's secret."""
    import boto3

    import erp.secrets

    sm = boto3.client("secretsmanager", endpoint_url=aws_env)
    secret = {"ERP_PAGERDUTY_ROUTING_KEY": routing_key}
    arn = sm.create_secret(Name="erp/alerts", SecretString=json.dumps(secret))["ARN"]
    monkeypatch.setenv("ERP_AWS_SECRET_ID", arn)
    monkeypatch.setenv("ERP_PAGERDUTY_EVENTS_URL", receiver.url("/pd"))
    erp.secrets.reset()
    notify_handler(cloudtrail_event("RotationFailed"), None, transport=transport)
    (body,) = receiver.bodies("/pd")
    assert body["routing_key"] == routing_key
    assert body["dedup_key"] == f"erp/rotation_failed/aws:{ARN}"


def test_rehearsal_event_from_the_local_rotation_driver_is_understood(
    receiver: Receiver, settings: AlertSettings, transport: Transport
) -> None:
    """A RotationFailed rehearsed by 'aws rotate' pages like AWS's, with its step."""
    from erp.aws.driver import RotationEvent

    failed = RotationEvent(
        "RotationFailed",
        ARN,
        "t" * 36,
        datetime(2026, 11, 25, tzinfo=UTC),
        3,
        step="testSecret",
        error="RotationTestFailed: token did not verify",
    )
    entry = failed.entry("erp-bus")
    event = {
        "source": entry["Source"],
        "detail-type": entry["DetailType"],
        "time": "2026-11-25T00:00:00Z",
        "detail": json.loads(entry["Detail"]),
    }
    notify(event, settings, transport)
    (body,) = receiver.bodies("/pd")
    assert body["dedup_key"] == f"erp/rotation_failed/aws:{ARN}"
    assert body["payload"]["custom_details"]["rotation_step"] == "testSecret"
