"""The template deployed on the AWS emulator (moto server over HTTP), strictly: every
resource it supports must exist; the types it skips are listed, and anything else fails."""

from __future__ import annotations

import copy
import json
import secrets
from datetime import timedelta
from typing import Any

import pytest

from erp.alerts.delivery import RetryPolicy, Transport
from erp.alerts.lambda_check import handler as check_handler
from erp.alerts.lambda_notify import handler as notify_handler
from erp.clock import FrozenClock
from erp.infra.emulator import (
    EMULATOR_UNSUPPORTED,
    StackResources,
    StrictDeployError,
    create_stack_strict,
    substitute_refs,
    verify_resources,
)
from erp.infra.package import build_lambda_zip, package_template
from erp.testing.alerts import Receiver

EXCLUDED = {
    "KeyRingSecret": "AWS::SecretsManager::Secret",
    "KeyRingRotationSchedule": "AWS::SecretsManager::RotationSchedule",
    "NotifySubscription": "AWS::SNS::Subscription",
    "NotifyDeadLetterAlarm": "AWS::CloudWatch::Alarm",
}


class Emulator:
    """boto3 clients for the moto server, and the template packaged into its S3."""

    def __init__(self, endpoint: str, template: dict[str, Any], tmp: Any) -> None:
        import boto3

        self.endpoint = endpoint
        self._clients: dict[str, Any] = {}
        self.client = self._client
        package = build_lambda_zip(tmp / "erp-lambda.zip")
        s3 = self.client("s3")
        s3.create_bucket(Bucket="artifacts")
        self.packaged = package_template(template, package, bucket="artifacts", s3_client=s3)
        sm = self.client("secretsmanager")
        value = json.dumps({"x": secrets.token_hex(8)})
        self.key_ring_arn = sm.create_secret(Name="erp/jwt-key-ring", SecretString=value)["ARN"]
        self.alert_secret_arn = sm.create_secret(Name="erp/alerts", SecretString="{}")["ARN"]
        self.boto3 = boto3

    def _client(self, service: str) -> Any:
        import boto3

        if service not in self._clients:
            self._clients[service] = boto3.client(service, endpoint_url=self.endpoint)
        return self._clients[service]

    def deploy(self, template: dict[str, Any] | None = None) -> StackResources:
        """The stack, with the key-ring secret (made through the API) substituted."""
        body = substitute_refs(template or self.packaged, {"KeyRingSecret": self.key_ring_arn})
        return create_stack_strict(
            self.client("cloudformation"),
            "erp",
            body,
            parameters={"AlertSecretArn": self.alert_secret_arn},
        )


@pytest.fixture
def emulator(aws_env: str, good_template: dict[str, Any], tmp_path: Any) -> Emulator:
    """A clean moto account with the packaged template and the secrets moto's CFN skips."""
    return Emulator(aws_env, good_template, tmp_path)


def test_every_supported_resource_is_created_and_the_skipped_ones_are_listed(
    emulator: Emulator,
) -> None:
    """Every supported resource exists; exactly the four listed types are excluded."""
    stack = emulator.deploy()
    assert {k: kind for k, (kind, _) in stack.excluded.items()} == EXCLUDED
    for _, reason in stack.excluded.values():
        assert reason
    assert len(stack.created) == len(emulator.packaged["Resources"]) - len(EXCLUDED)
    problems = verify_resources(emulator.client, emulator.packaged, stack)
    assert problems == []


def test_deployed_functions_carry_the_templates_handlers_and_settings(emulator: Emulator) -> None:
    """Handlers, runtime, and the environment (with the substituted secret ARN) as written."""
    stack = emulator.deploy()
    lam = emulator.client("lambda")
    config = {
        logical: lam.get_function_configuration(FunctionName=physical)
        for logical, (kind, physical) in stack.created.items()
        if kind == "AWS::Lambda::Function"
    }
    assert {k: c["Handler"] for k, c in config.items()} == {
        "RotationFunction": "erp.aws.lambda_rotation.lambda_handler",
        "CheckFunction": "erp.alerts.lambda_check.handler",
        "NotifyFunction": "erp.alerts.lambda_notify.handler",
    }
    check_env = config["CheckFunction"]["Environment"]["Variables"]
    assert check_env["ERP_CHECK_AWS_SECRET_IDS"] == emulator.key_ring_arn
    notify_env = config["NotifyFunction"]["Environment"]["Variables"]
    assert notify_env["ERP_AWS_SECRET_ID"] == emulator.alert_secret_arn


# The in-process emulator warns when it skips a type; the suite turns warnings into errors,
# which would make the emulator answer 500 instead of skipping. These two tests are about
# that skip, so they let its warning through.
SKIP_WARNING = "ignore:Tried to parse:UserWarning"


@pytest.mark.filterwarnings(SKIP_WARNING)
def test_unlisted_skipped_resource_fails_the_deploy(emulator: Emulator) -> None:
    """A type the emulator silently skips and nobody listed fails the deploy, named."""
    template = copy.deepcopy(emulator.packaged)
    template["Resources"]["AlertTopicPolicy"] = {
        "Type": "AWS::SNS::TopicPolicy",
        "Properties": {
            "Topics": [{"Ref": "AlertTopic"}],
            "PolicyDocument": {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sns:Publish",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Resource": {"Ref": "AlertTopic"},
                    }
                ]
            },
        },
    }
    with pytest.raises(
        StrictDeployError, match=r"resource AlertTopicPolicy \(AWS::SNS::TopicPolicy\)"
    ):
        emulator.deploy(template)


@pytest.mark.filterwarnings(SKIP_WARNING)
def test_output_of_a_skipped_resource_fails_the_deploy(
    emulator: Emulator,
) -> None:
    """An output dropped along with a skipped resource is named too."""
    template = copy.deepcopy(emulator.packaged)
    template["Resources"]["Extra"] = {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {"DashboardBody": "{}"},
    }
    template["Resources"]["Ghost"] = {
        "Type": "AWS::SQS::QueuePolicy",
        "Properties": {"Queues": [], "PolicyDocument": {}},
    }
    template["Outputs"]["GhostName"] = {"Value": {"Ref": "Ghost"}}
    with pytest.raises(StrictDeployError) as info:
        emulator.deploy(template)
    assert "resource Ghost (AWS::SQS::QueuePolicy)" in str(info.value)
    assert "output GhostName" in str(info.value)


def test_reference_to_an_excluded_resource_must_be_substituted(emulator: Emulator) -> None:
    """References to an excluded resource must be substituted, else the deploy refuses."""
    with pytest.raises(StrictDeployError, match="refers to KeyRingSecret") as info:
        create_stack_strict(
            emulator.client("cloudformation"),
            "erp",
            emulator.packaged,
            parameters={"AlertSecretArn": emulator.alert_secret_arn},
        )
    assert "resource CheckFunction refers to KeyRingSecret" in str(info.value)
    assert "output KeyRingSecretArn refers to KeyRingSecret" in str(info.value)


def test_sam_transform_is_refused_before_deploying(emulator: Emulator) -> None:
    """The emulator does not expand SAM; a Serverless template would deploy as nothing."""
    template = copy.deepcopy(emulator.packaged)
    template["Transform"] = "AWS::Serverless-2016-10-31"
    with pytest.raises(StrictDeployError, match="SAM transform"):
        emulator.deploy(template)
    assert "AWS::Serverless::*" in EMULATOR_UNSUPPORTED


def test_deployed_wiring_pages_on_an_overdue_secret(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deployed wiring: check -> topic -> notifier (key read from AWS) pages once."""
    import erp.secrets

    routing_key = secrets.token_hex(16)
    stack = emulator.deploy()
    lam = emulator.client("lambda")

    def env_of(logical: str) -> dict[str, str]:
        physical = stack.created[logical][1]
        variables = lam.get_function_configuration(FunctionName=physical)["Environment"]
        return {k: str(v) for k, v in variables["Variables"].items()}

    sm = emulator.client("secretsmanager")
    sm.rotate_secret(SecretId=emulator.key_ring_arn, RotationRules={"AutomaticallyAfterDays": 30})
    rotated = sm.describe_secret(SecretId=emulator.key_ring_arn)["LastRotatedDate"]
    with Receiver() as receiver:
        sm.put_secret_value(
            SecretId=emulator.alert_secret_arn,
            SecretString=json.dumps({"ERP_PAGERDUTY_ROUTING_KEY": routing_key}),
        )
        topic = env_of("CheckFunction")["ERP_ALERT_TOPIC_ARN"]
        emulator.client("sns").subscribe(
            TopicArn=topic, Protocol="http", Endpoint=receiver.url("/sns")
        )
        clock = FrozenClock(rotated + timedelta(days=32))
        check_handler({}, None, clock=clock, environ=env_of("CheckFunction"))
        (envelope,) = receiver.bodies("/sns")
        for name, value in env_of("NotifyFunction").items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("ERP_PAGERDUTY_EVENTS_URL", receiver.url("/pd"))
        erp.secrets.reset()
        notify_handler(envelope, None, transport=Transport(RetryPolicy(max_attempts=1)))
        triggers = [b for b in receiver.bodies("/pd") if b["event_action"] == "trigger"]
    assert [(b["dedup_key"], b["routing_key"]) for b in triggers] == [
        (f"erp/rotation_overdue/aws:{emulator.key_ring_arn}", routing_key)
    ]
