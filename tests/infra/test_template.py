"""What infra/template.yaml promises: the schedule, the handlers, least privilege, wiring."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from erp.alerts.events import event_pattern
from erp.infra.package import DEFAULT_ZIP
from erp.infra.template import TemplateError, load_template, resources

from .conftest import ROOT, TEMPLATE


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    value: dict[str, Any] = template["Resources"][logical_id]["Properties"]
    return value


def test_key_ring_rotates_every_30_days_by_default_through_a_parameter(
    good_template: dict[str, Any],
) -> None:
    """AutomaticallyAfterDays comes from RotationIntervalDays (default 30, range 1-1000)."""
    rules = props(good_template, "KeyRingRotationSchedule")["RotationRules"]
    assert rules["AutomaticallyAfterDays"] == {"Ref": "RotationIntervalDays"}
    parameter = good_template["Parameters"]["RotationIntervalDays"]
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (30, 1, 1000)


def test_functions_use_the_project_handlers_and_the_packaged_zip(
    good_template: dict[str, Any],
) -> None:
    """Each function's handler exists in the package, and Code names the built zip."""
    handlers = {
        logical_id: resource["Properties"]["Handler"]
        for logical_id, resource in resources(good_template, "AWS::Lambda::Function")
    }
    assert handlers == {
        "RotationFunction": "erp.aws.lambda_rotation.lambda_handler",
        "CheckFunction": "erp.alerts.lambda_check.handler",
        "NotifyFunction": "erp.alerts.lambda_notify.handler",
    }
    for handler in handlers.values():
        module, _, name = handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name))
    for logical_id, resource in resources(good_template, "AWS::Lambda::Function"):
        code = resource["Properties"]["Code"]
        assert (TEMPLATE.parent / code).resolve() == (ROOT / DEFAULT_ZIP).resolve(), logical_id


def test_no_policy_grants_anything_on_every_resource(good_template: dict[str, Any]) -> None:
    """Least privilege: every IAM statement names its resources (no Resource: '*')."""
    for logical_id, resource in resources(good_template, "AWS::IAM::Role"):
        for policy in resource["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                if "Fn::If" in statement:  # a conditional statement: check its "then" branch
                    statement = statement["Fn::If"][1]
                assert statement["Resource"] != "*", (logical_id, statement.get("Sid"))


def test_rotation_role_may_touch_only_the_key_ring_secret(good_template: dict[str, Any]) -> None:
    """The four rotation calls, on the one secret."""
    (statement, _kms, _logs) = props(good_template, "RotationFunctionRole")["Policies"][0][
        "PolicyDocument"
    ]["Statement"]
    assert statement["Resource"] == {"Ref": "KeyRingSecret"}
    assert sorted(statement["Action"]) == [
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    ]


def test_secrets_manager_may_invoke_the_rotation_function(good_template: dict[str, Any]) -> None:
    """The invoke permission exists, is limited to the account, and the schedule waits for it."""
    permission = props(good_template, "RotationFunctionInvokePermission")
    assert permission["Principal"] == "secretsmanager.amazonaws.com"
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    schedule = good_template["Resources"]["KeyRingRotationSchedule"]
    assert schedule["DependsOn"] == "RotationFunctionInvokePermission"


def test_routing_key_and_webhook_are_only_referenced(good_template: dict[str, Any]) -> None:
    """The notifier gets the ARN of the secret holding them; no parameter has a secret default."""
    parameter = good_template["Parameters"]["AlertSecretArn"]
    assert "Default" not in parameter
    assert parameter["AllowedPattern"].startswith("^arn:")
    env = props(good_template, "NotifyFunction")["Environment"]["Variables"]
    assert env["ERP_AWS_SECRET_ID"] == {"Ref": "AlertSecretArn"}
    assert not {"ERP_PAGERDUTY_ROUTING_KEY", "ERP_SLACK_WEBHOOK_URL"} & set(env)


def test_rotation_event_rule_matches_what_the_notifier_understands(
    good_template: dict[str, Any],
) -> None:
    """The template's pattern is the one erp.alerts.events builds (both arn and aRN)."""
    pattern = props(good_template, "RotationEventsRule")["EventPattern"]
    assert pattern == event_pattern([{"Ref": "KeyRingSecret"}])


def test_scheduled_check_publishes_to_the_topic_the_notifier_reads(
    good_template: dict[str, Any],
) -> None:
    """Schedule -> check -> topic -> subscription -> notifier, and failures to a DLQ."""
    rule = props(good_template, "CheckScheduleRule")
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["CheckFunction", "Arn"]}
    check_env = props(good_template, "CheckFunction")["Environment"]["Variables"]
    assert check_env["ERP_ALERT_TOPIC_ARN"] == {"Ref": "AlertTopic"}
    assert check_env["ERP_CHECK_AWS_SECRET_IDS"] == {"Ref": "KeyRingSecret"}
    subscription = props(good_template, "NotifySubscription")
    assert subscription["TopicArn"] == {"Ref": "AlertTopic"}
    assert subscription["Endpoint"] == {"Fn::GetAtt": ["NotifyFunction", "Arn"]}
    dlq = props(good_template, "NotifyFunction")["DeadLetterConfig"]["TargetArn"]
    assert dlq == {"Fn::GetAtt": ["NotifyDeadLetterQueue", "Arn"]}


def test_loader_turns_short_form_tags_into_long_form(tmp_path: Path) -> None:
    """!Ref, !GetAtt a.b, !Sub and friends become the JSON intrinsic functions."""
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n"
        "  A:\n"
        "    Type: X\n"
        "    Properties:\n"
        "      R: !Ref P\n"
        "      G: !GetAtt B.Arn\n"
        "      S: !Sub '${AWS::Region}-x'\n"
        "      J: !Join [',', [a, !Ref P]]\n"
    )
    assert load_template(path)["Resources"]["A"]["Properties"] == {
        "R": {"Ref": "P"},
        "G": {"Fn::GetAtt": ["B", "Arn"]},
        "S": {"Fn::Sub": "${AWS::Region}-x"},
        "J": {"Fn::Join": [",", ["a", {"Ref": "P"}]]},
    }


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("Resources: [", "not valid YAML"), ("Foo: 1\n", "no Resources"), ("R: !Bogus x\n", "!Bogus")],
)
def test_unreadable_template_is_one_clear_error(tmp_path: Path, text: str, fragment: str) -> None:
    """Bad YAML, no Resources, an unknown tag: TemplateError naming the file."""
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TemplateError, match=fragment) as info:
        load_template(path)
    assert str(path) in str(info.value)


def test_a_customer_managed_kms_key_gets_least_privilege_use_through_secrets_manager(
    good_template: dict[str, Any],
) -> None:
    """KmsKeyId: the secret uses it; the rotation role may Decrypt/GenerateDataKey only via SM."""
    parameter = good_template["Parameters"]["KmsKeyId"]
    assert parameter["Default"] == ""
    secret = props(good_template, "KeyRingSecret")
    assert secret["KmsKeyId"] == {
        "Fn::If": ["UseCustomerKey", {"Ref": "KmsKeyId"}, {"Ref": "AWS::NoValue"}]
    }
    (_sm, kms, _logs) = props(good_template, "RotationFunctionRole")["Policies"][0][
        "PolicyDocument"
    ]["Statement"]
    condition, statement, otherwise = kms["Fn::If"]
    assert (condition, otherwise) == ("UseCustomerKey", {"Ref": "AWS::NoValue"})
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Resource"] == {"Ref": "KmsKeyId"}
    assert "kms:ViaService" in statement["Condition"]["StringEquals"]
