"""The project's template checks, one rule at a time, on small templates."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from erp.infra.checks import check_template


def stack(**resources: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": resources}


def role(*statements: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": list(statements)}}]
        },
    }


def ids(template: dict[str, Any]) -> list[str]:
    return sorted(p.rule_id for p in check_template(template))


def schedule(rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::SecretsManager::RotationSchedule",
        "Properties": {"SecretId": "s", "RotationRules": rules},
        **extra,
    }


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ({"Effect": "Allow", "Action": "*", "Resource": "*"}, ["E9106"]),
        ({"Effect": "Allow", "Action": ["s3:GetObject", "*:*"], "Resource": ["*"]}, ["E9106"]),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, ["E9106"]),
        ({"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}, ["W9106"]),
        ({"Effect": "Allow", "Action": "*", "Resource": "arn-of-one-thing"}, []),
        ({"Effect": "Deny", "Action": "*", "Resource": "*"}, []),
        ({"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}, []),
    ],
)
def test_iam_wildcards(statement: dict[str, Any], expected: list[str]) -> None:
    """* (or NotAction) on * is an error; svc:* on * a warning; scoped or Deny is fine."""
    assert ids(stack(R=role(statement))) == expected


def test_standalone_iam_policy_is_checked_too() -> None:
    """AWS::IAM::Policy and ManagedPolicy documents are inspected like inline ones."""
    policy = {
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {
            "PolicyDocument": {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}
        },
    }
    (problem,) = check_template(stack(Admin=policy))
    assert (problem.rule_id, problem.resource) == ("E9106", "Admin")


def test_dynamic_reference_and_noecho_parameter_are_not_literal_secrets() -> None:
    """{{resolve:...}} and a Ref to a NoEcho parameter keep the value out of the template."""
    template = {
        "Parameters": {"Value": {"Type": "String", "NoEcho": True}},
        "Resources": {
            "A": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {"SecretString": "{{resolve:ssm-secure:/erp/x}}"},
            },
            "B": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {"SecretString": {"Ref": "Value"}},
            },
        },
    }
    assert ids(template) == []


def test_secret_string_from_a_visible_parameter_is_a_literal() -> None:
    """A Ref to a parameter without NoEcho shows the value in the console: refused."""
    template = {
        "Parameters": {"Value": {"Type": "String"}},
        "Resources": {
            "A": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {"SecretString": {"Ref": "Value"}},
            }
        },
    }
    assert ids(template) == ["E9105"]


def test_secret_string_with_generate_secret_string_conflicts() -> None:
    """The two are mutually exclusive (cfn-lint does not say so)."""
    secret = {
        "Type": "AWS::SecretsManager::Secret",
        "Properties": {
            "SecretString": "{{resolve:ssm-secure:/x}}",
            "GenerateSecretString": {"PasswordLength": 32},
        },
    }
    assert ids(stack(S=secret)) == ["E9108"]


def test_noecho_parameter_with_a_default_is_a_literal_secret() -> None:
    """NoEcho hides the value, but a Default writes it into the template anyway."""
    template = {
        "Parameters": {
            "Token": {"Type": "String", "NoEcho": "true", "Default": secrets.token_hex(8)}
        },
        "Resources": {},
    }
    assert ids(template) == ["E9105"]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DB_PASSWORD", "literal", ["E9105"]),
        ("API_KEY", "literal", ["E9105"]),
        ("ERP_AWS_SECRET_ID", "erp/alerts", []),
        ("ERP_JWT_MAX_TOKEN_TTL_SECONDS", "3600", []),
        ("DB_PASSWORD", "{{resolve:secretsmanager:db:SecretString:password}}", []),
        ("LOG_LEVEL", "debug", []),
    ],
)
def test_secret_looking_environment_variables(name: str, value: str, expected: list[str]) -> None:
    """A literal in a secret-named variable is refused; ids, ARNs, TTLs and references pass."""
    function = {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Environment": {"Variables": {name: value}}},
    }
    assert ids(stack(F=function)) == expected


def test_private_key_anywhere_in_resources_is_found() -> None:
    """A PEM private key pasted into any property is a literal secret (the scanner's detector)."""
    from erp.scan.testing import private_key_pem

    pem = private_key_pem()
    bucket = {"Type": "AWS::S3::Bucket", "Properties": {"Tags": [{"Key": "k", "Value": pem}]}}
    (problem,) = check_template(stack(Bucket=bucket))
    assert problem.rule_id == "E9105"
    assert "Properties.Tags.0.Value" in problem.message


def test_rotation_rules_from_parameter_defaults_are_checked() -> None:
    """AutomaticallyAfterDays: !Ref P is checked against P's default and its allowed range."""
    template = {
        "Parameters": {"Days": {"Type": "Number", "Default": 30, "MinValue": 1, "MaxValue": 5000}},
        "Resources": {"S": schedule({"AutomaticallyAfterDays": {"Ref": "Days"}})},
    }
    (problem,) = check_template(template)
    assert problem.rule_id == "E9102"
    assert "parameter Days feeds AutomaticallyAfterDays" in problem.message


def test_rotation_rules_decided_at_deploy_time_are_not_guessed() -> None:
    """A value from an Fn::If or a parameter without default is left to deployment."""
    template = {
        "Parameters": {"Expr": {"Type": "String"}},
        "Resources": {"S": schedule({"ScheduleExpression": {"Ref": "Expr"}})},
    }
    assert ids(template) == ["E9101"]  # only "neither days nor expression" can be said


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ({"AutomaticallyAfterDays": 30}, []),
        ({"ScheduleExpression": "cron(0 4 ? * SUN *)", "Duration": "2h"}, []),
        ({"ScheduleExpression": "cron(30 4 ? * SUN *)"}, ["E9102"]),
        ({"ScheduleExpression": "cron(0 23 ? * SUN *)", "Duration": "3h"}, ["E9104"]),
        ({"AutomaticallyAfterDays": 0}, ["E9102"]),
        ({"ScheduleExpression": "rate(1 hours)"}, ["E9103"]),
        ({"AutomaticallyAfterDays": 7, "ScheduleExpression": "rate(7 days)"}, ["E9101"]),
        ({"Duration": "4h"}, ["E9101"]),
    ],
)
def test_rotation_rules(rules: dict[str, Any], expected: list[str]) -> None:
    """The schedule engine's rules, surfaced as lint rule ids."""
    assert ids(stack(S=schedule(rules))) == expected


def test_rotation_schedule_without_invoke_permission_and_without_depends_on() -> None:
    """No invoke permission: error; not depended on: warning; both: clean."""
    function = {"Type": "AWS::Lambda::Function", "Properties": {}}
    rules = {"AutomaticallyAfterDays": 30}
    lambda_arn = {"Fn::GetAtt": ["Fn", "Arn"]}
    sched = schedule(rules)
    sched["Properties"]["RotationLambdaARN"] = lambda_arn
    assert ids(stack(Fn=function, S=sched)) == ["E9107"]
    permission = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "FunctionName": {"Ref": "Fn"},
            "Principal": "secretsmanager.amazonaws.com",
            "Action": "lambda:InvokeFunction",
        },
    }
    assert ids(stack(Fn=function, S=sched, P=permission)) == ["W9107"]
    sched["DependsOn"] = ["P"]
    assert ids(stack(Fn=function, S=sched, P=permission)) == []


def test_credentials_the_scanner_knows_are_found_in_templates_too() -> None:
    """ABIA/ACCA/A3T key ids and Slack triggers/ URLs: the template check reuses the scanner."""
    from erp.scan.testing import access_key_id, slack_webhook_url

    for value in (access_key_id(prefix="ABIA"), access_key_id(prefix="A3TX"), slack_webhook_url()):
        bucket = {"Type": "AWS::S3::Bucket", "Properties": {"Tags": [{"Key": "k", "Value": value}]}}
        (problem,) = check_template(stack(Bucket=bucket))
        assert problem.rule_id == "E9105"
