"""The project's template checks: what cfn-lint does not catch, each naming the resource.

=======  ==============================================================================
E9101    rotation rules in conflict: ``AutomaticallyAfterDays`` and ``ScheduleExpression``
         together (or neither)
E9102    rotation rules out of range: days outside 1-1000, a bad ``Duration`` (1h-24h), an
         expression Secrets Manager rejects (cron minutes, year, ``?``)
E9103    a schedule more frequent than every 4 hours
E9104    a rotation window longer than the interval, or running past midnight UTC
E9105    a literal secret: a hard-coded ``SecretString``, a secret-looking environment
         variable or parameter default, a ``NoEcho`` parameter with a default, a Slack
         webhook or private key anywhere
E9106    an IAM policy allowing ``*`` actions on ``*`` resources
W9106    an IAM policy allowing every action of one service (``svc:*``) on ``*``
E9107    a rotation Lambda without a Lambda permission for ``secretsmanager.amazonaws.com``
W9107    a rotation schedule not depending on that permission (first deploys race)
E9108    a secret with both ``SecretString`` and ``GenerateSecretString``
=======  ==============================================================================

:func:`check_template` is pure over the template data; :mod:`erp.infra.cfnlint_rules`
runs the same checks inside cfn-lint.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from erp.aws.schedule import check_rotation_rules
from erp.infra.template import resolve_value, resources
from erp.scan import find_secrets
from erp.scan.detectors import by_slug

__all__ = ["RULES", "Problem", "check_template"]

RULES: Mapping[str, str] = {
    "E9101": "Conflicting rotation settings",
    "E9102": "Rotation rules out of range",
    "E9103": "Rotation more frequent than every 4 hours",
    "E9104": "Rotation window longer than the interval or past midnight",
    "E9105": "Literal secret in the template",
    "E9106": "IAM policy allows * actions on * resources",
    "W9106": "IAM policy allows every action of a service on * resources",
    "E9107": "Rotation Lambda cannot be invoked by Secrets Manager",
    "W9107": "Rotation schedule does not depend on the invoke permission",
    "E9108": "Secret with both SecretString and GenerateSecretString",
}

_RULE_OF_CODE = {
    "conflict": "E9101",
    "missing": "E9101",
    "days-range": "E9102",
    "expression": "E9102",
    "duration-format": "E9102",
    "rate-too-frequent": "E9103",
    "window-longer-than-interval": "E9104",
    "window-past-midnight": "E9104",
}

_SECRET_NAME = re.compile(
    r"(SECRET|PASSWORD|PASSWD|TOKEN|ROUTING_?KEY|WEBHOOK|API_?KEY|PRIVATE_?KEY|CREDENTIAL)",
    re.IGNORECASE,
)
_NOT_SECRET_NAME = re.compile(
    r"(TTL|SECONDS|DAYS|HOURS|INTERVAL|POLICY|MODE|LENGTH|ENDPOINT|(ID|ARN|NAME)$)",
    re.IGNORECASE,
)
"""Names that say what they hold is a reference or a setting: ``ERP_AWS_SECRET_ID``,
``MaxTokenTtlSeconds``, ``SecretName``."""
_CREDENTIAL_DETECTORS = ("slack-webhook", "private-key", "aws-access-key-id")
"""The secret scanner's own detectors (one definition, shared with ``erp-secrets scan``)."""


def _credential_in(text: str) -> bool:
    """Whether the scanner finds a credential in ``text`` (documentation examples excepted)."""
    detectors = [by_slug(slug) for slug in _CREDENTIAL_DETECTORS]
    return any(not hit.example for _, _, hit in find_secrets(text.encode(), "", detectors))


@dataclass(frozen=True)
class Problem:
    """One finding of the project's checks."""

    rule_id: str
    resource: str
    path: tuple[str | int, ...]
    message: str

    @property
    def severity(self) -> str:
        return "warning" if self.rule_id.startswith("W") else "error"


def _is_dynamic_reference(value: object) -> bool:
    return isinstance(value, str) and value.strip().startswith("{{resolve:")


def _rotation_problems(template: Mapping[str, Any]) -> Iterator[Problem]:
    for logical_id, resource in resources(template, "AWS::SecretsManager::RotationSchedule"):
        props = resource.get("Properties") or {}
        raw = props.get("RotationRules")
        if not isinstance(raw, dict):
            continue
        rules: dict[str, Any] = {}
        via: dict[str, str] = {}
        for key, value in raw.items():
            resolved, parameter = resolve_value(template, value)
            if resolved is None and value is not None:
                continue  # decided at deploy time: nothing to check here
            rules[key] = resolved
            if parameter:
                via[key] = parameter
        _, problems = check_rotation_rules(rules)
        base = ("Resources", logical_id, "Properties", "RotationRules")
        note = "".join(f" ({k} is parameter {p}'s default)" for k, p in sorted(via.items()))
        for problem in problems:
            yield Problem(
                _RULE_OF_CODE[problem.code],
                logical_id,
                base,
                f"RotationSchedule {logical_id}: {problem.message}{note}",
            )
        yield from _parameter_range_problems(template, logical_id, raw, base)


def _parameter_range_problems(
    template: Mapping[str, Any], logical_id: str, raw: Mapping[str, Any], base: tuple[str, ...]
) -> Iterator[Problem]:
    """A parameter feeding AutomaticallyAfterDays must not allow values outside 1-1000."""
    value = raw.get("AutomaticallyAfterDays")
    if not (isinstance(value, dict) and set(value) == {"Ref"}):
        return
    parameter = (template.get("Parameters") or {}).get(value["Ref"])
    if not isinstance(parameter, dict):
        return
    low, high = parameter.get("MinValue"), parameter.get("MaxValue")
    if low is None or high is None or float(low) < 1 or float(high) > 1000:
        yield Problem(
            "E9102",
            logical_id,
            base,
            f"RotationSchedule {logical_id}: parameter {value['Ref']} feeds "
            "AutomaticallyAfterDays but allows values outside 1-1000; give it MinValue: 1 "
            "and MaxValue: 1000",
        )


def _walk_strings(
    value: Any, path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk_strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk_strings(item, (*path, index))


def _no_echo_parameters(template: Mapping[str, Any]) -> set[str]:
    params = template.get("Parameters") or {}
    return {
        name
        for name, p in params.items()
        if isinstance(p, dict) and str(p.get("NoEcho", "false")).lower() == "true"
    }


def _literal_secret_problems(template: Mapping[str, Any]) -> Iterator[Problem]:
    no_echo = _no_echo_parameters(template)
    for logical_id, resource in resources(template, "AWS::SecretsManager::Secret"):
        props = resource.get("Properties") or {}
        path = ("Resources", logical_id, "Properties", "SecretString")
        value = props.get("SecretString")
        if value is not None and "GenerateSecretString" in props:
            yield Problem(
                "E9108",
                logical_id,
                path,
                f"Secret {logical_id}: SecretString and GenerateSecretString are both set; "
                "keep GenerateSecretString (CloudFormation accepts only one)",
            )
        if value is None or _is_dynamic_reference(value):
            continue
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in no_echo:
            continue
        yield Problem(
            "E9105",
            logical_id,
            path,
            f"Secret {logical_id}: SecretString is a literal value written in the template; "
            "use GenerateSecretString, a dynamic reference, or a NoEcho parameter",
        )
    for logical_id, resource in resources(template, "AWS::Lambda::Function"):
        variables = ((resource.get("Properties") or {}).get("Environment") or {}).get(
            "Variables"
        ) or {}
        for name, value in variables.items():
            if not isinstance(value, str) or not value or _is_dynamic_reference(value):
                continue
            if _SECRET_NAME.search(name) and not _NOT_SECRET_NAME.search(name):
                yield Problem(
                    "E9105",
                    logical_id,
                    ("Resources", logical_id, "Properties", "Environment", "Variables", name),
                    f"Function {logical_id}: environment variable {name} holds a literal "
                    "value; store the secret in Secrets Manager and pass its ARN instead",
                )
    for name, parameter in (template.get("Parameters") or {}).items():
        if not isinstance(parameter, dict) or parameter.get("Default") in (None, ""):
            continue
        default = parameter["Default"]
        secret_named = (
            isinstance(default, str)
            and _SECRET_NAME.search(name) is not None
            and _NOT_SECRET_NAME.search(name) is None
            and not _is_dynamic_reference(default)
        )
        if name in no_echo or secret_named:
            yield Problem(
                "E9105",
                name,
                ("Parameters", name, "Default"),
                f"Parameter {name}: its Default puts a secret in the template; remove the "
                "Default and pass the value (or a Secrets Manager ARN) at deploy time",
            )
    for where, text in _walk_strings(template.get("Resources") or {}, ("Resources",)):
        if _credential_in(text):
            owner = str(where[1]) if len(where) > 1 else "Resources"
            yield Problem(
                "E9105",
                owner,
                where,
                f"{owner}: a literal credential (Slack webhook, private key or access key "
                f"id) at {'.'.join(map(str, where[2:]))}; reference a secret instead",
            )


def _statements(document: Any) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(document, dict):
        return []
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return []
    return [(i, s) for i, s in enumerate(statements) if isinstance(s, dict)]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _policy_documents(
    logical_id: str, resource: Mapping[str, Any]
) -> Iterator[tuple[str, tuple[str | int, ...], Any]]:
    props = resource.get("Properties") or {}
    base: tuple[str | int, ...] = ("Resources", logical_id, "Properties")
    if resource.get("Type") == "AWS::IAM::Role":
        for index, policy in enumerate(props.get("Policies") or ()):
            if isinstance(policy, dict):
                name = str(policy.get("PolicyName", index))
                yield (
                    name,
                    (*base, "Policies", index, "PolicyDocument"),
                    policy.get("PolicyDocument"),
                )
    else:
        name = str(props.get("PolicyName") or props.get("ManagedPolicyName") or logical_id)
        yield name, (*base, "PolicyDocument"), props.get("PolicyDocument")


def _iam_problems(template: Mapping[str, Any]) -> Iterator[Problem]:
    kinds = ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
    for logical_id, resource in resources(template, *kinds):
        kind = str(resource.get("Type")).rsplit("::", 1)[-1]
        for name, path, document in _policy_documents(logical_id, resource):
            for index, statement in _statements(document):
                if statement.get("Effect") != "Allow":
                    continue
                targets = _as_list(statement.get("Resource"))
                if "*" not in targets:
                    continue
                actions = [a for a in _as_list(statement.get("Action")) if isinstance(a, str)]
                where = (*path, "Statement", index)
                sid = f" statement {statement['Sid']}" if statement.get("Sid") else ""
                if "NotAction" in statement or any(a in ("*", "*:*") for a in actions):
                    yield Problem(
                        "E9106",
                        logical_id,
                        where,
                        f"{kind} {logical_id}: policy {name}{sid} allows "
                        f"{'everything but NotAction' if 'NotAction' in statement else '*'} "
                        "on Resource '*'; list the actions and resources it needs",
                    )
                    continue
                broad = sorted(a for a in actions if a.endswith(":*"))
                if broad:
                    yield Problem(
                        "W9106",
                        logical_id,
                        where,
                        f"{kind} {logical_id}: policy {name}{sid} allows {', '.join(broad)} "
                        "on Resource '*'; name the actions",
                    )


def _function_of(value: Any) -> str | None:
    """The logical id a RotationLambdaARN or FunctionName points at, if it is in the stack."""
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            return value["Ref"]
        target = value.get("Fn::GetAtt")
        if isinstance(target, list) and target and isinstance(target[0], str):
            return target[0]
    return None


def _invoke_permission_problems(template: Mapping[str, Any]) -> Iterator[Problem]:
    allowed: dict[str, list[str]] = {}
    for logical_id, resource in resources(template, "AWS::Lambda::Permission"):
        props = resource.get("Properties") or {}
        if props.get("Principal") == "secretsmanager.amazonaws.com":
            function = _function_of(props.get("FunctionName"))
            if function:
                allowed.setdefault(function, []).append(logical_id)
    for logical_id, resource in resources(template, "AWS::SecretsManager::RotationSchedule"):
        props = resource.get("Properties") or {}
        function = _function_of(props.get("RotationLambdaARN"))
        if function is None:
            continue
        path = ("Resources", logical_id, "Properties", "RotationLambdaARN")
        permissions = allowed.get(function)
        if not permissions:
            yield Problem(
                "E9107",
                logical_id,
                path,
                f"RotationSchedule {logical_id}: function {function} has no "
                "AWS::Lambda::Permission for principal secretsmanager.amazonaws.com, so "
                "every rotation would fail",
            )
            continue
        depends = set(_as_list(resource.get("DependsOn") or []))
        if not depends & set(permissions):
            yield Problem(
                "W9107",
                logical_id,
                ("Resources", logical_id),
                f"RotationSchedule {logical_id}: add DependsOn: {permissions[0]}, or the first "
                "rotation may run before Secrets Manager may invoke the function",
            )


def check_template(template: Mapping[str, Any]) -> list[Problem]:
    """Every problem the project's checks find, in template order per rule family."""
    return [
        *_rotation_problems(template),
        *_literal_secret_problems(template),
        *_iam_problems(template),
        *_invoke_permission_problems(template),
    ]
