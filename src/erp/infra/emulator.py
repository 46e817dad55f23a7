"""Create a stack on an AWS emulator and fail if a resource was silently skipped.

The moto emulator's CloudFormation reports ``CREATE_COMPLETE`` even when it skipped
resource types it does not implement, and drops outputs and references that name them.
:func:`create_stack_strict` takes the types listed in :data:`EMULATOR_UNSUPPORTED` out
first (each a known exclusion with its reason; what refers to them must be substituted),
then compares the stack with the rest of the template: any resource or output missing
is an error. :func:`verify_resources` then asks each service for what was created.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from erp.infra.errors import StrictDeployError
from erp.infra.template import dump_template, resources

__all__ = [
    "EMULATOR_UNSUPPORTED",
    "StackResources",
    "StrictDeployError",
    "create_stack_strict",
    "substitute_refs",
    "verify_resources",
]

EMULATOR_UNSUPPORTED: Mapping[str, str] = {
    "AWS::SecretsManager::Secret": "not implemented by moto's CloudFormation; the test "
    "creates the secret through the Secrets Manager API and substitutes its ARN",
    "AWS::SecretsManager::RotationSchedule": "not implemented by moto's CloudFormation (nor "
    "does moto follow the rotation protocol); rotation is tested with the local driver",
    "AWS::SNS::Subscription": "not implemented by moto's CloudFormation; the test subscribes "
    "through the SNS API",
    "AWS::CloudWatch::Alarm": "not implemented by moto's CloudFormation (and alarm actions "
    "never run there)",
    "AWS::Serverless::*": "moto does not expand the SAM transform",
}
"""Resource types the emulator skips, and why each is acceptable."""


@dataclass(frozen=True)
class StackResources:
    """What the emulator created (logical id -> type, physical id) and what it skipped."""

    stack_name: str
    created: dict[str, tuple[str, str]] = field(default_factory=dict)
    excluded: dict[str, tuple[str, str]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)


def _unsupported(resource_type: str, table: Mapping[str, str]) -> str | None:
    if resource_type in table:
        return table[resource_type]
    for pattern, reason in table.items():
        if pattern.endswith("*") and resource_type.startswith(pattern[:-1]):
            return reason
    return None


def substitute_refs(template: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """The template with ``{"Ref": X}`` replaced by ``values[X]`` (resources made elsewhere)."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Ref"} and node["Ref"] in values:
                return values[node["Ref"]]
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result = walk(copy.deepcopy(dict(template)))
    assert isinstance(result, dict)
    return result


def _references(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        if set(node) == {"Ref"} and isinstance(node["Ref"], str):
            found.add(node["Ref"])
        target = node.get("Fn::GetAtt")
        if isinstance(target, list) and target:
            found.add(str(target[0]))
        for value in node.values():
            found |= _references(value)
    elif isinstance(node, list):
        for value in node:
            found |= _references(value)
    return found


def create_stack_strict(
    cloudformation: Any,
    stack_name: str,
    template: Mapping[str, Any],
    *,
    parameters: Mapping[str, str] | None = None,
    unsupported: Mapping[str, str] = EMULATOR_UNSUPPORTED,
) -> StackResources:
    """Create the stack and prove every resource and output the emulator supports exists.

    Resources of an unsupported type are taken out before the emulator sees them and
    returned as ``excluded`` with the reason; nothing may still refer to them (substitute
    them first, see :func:`substitute_refs`). Every other resource and every output must
    then exist, or :class:`StrictDeployError` names what the emulator skipped.
    """
    transform = template.get("Transform")
    transforms = transform if isinstance(transform, list) else [transform] if transform else []
    if any(str(t).startswith("AWS::Serverless") for t in transforms):
        raise StrictDeployError(
            "the template uses the SAM transform, which the emulator does not expand: every "
            "AWS::Serverless::* resource would be skipped while the stack reports success"
        )
    excluded: dict[str, tuple[str, str]] = {}
    for logical_id, resource in resources(template):
        kind = str(resource.get("Type"))
        reason = _unsupported(kind, unsupported)
        if reason is not None:
            excluded[logical_id] = (kind, reason)
    body = copy.deepcopy(dict(template))
    for logical_id in excluded:
        del body["Resources"][logical_id]
    dangling: list[tuple[str, str]] = []
    for section in ("Resources", "Outputs"):
        for name, item in (body.get(section) or {}).items():
            if isinstance(item, dict) and "DependsOn" in item:
                kept = [d for d in _as_list(item["DependsOn"]) if d not in excluded]
                if kept:
                    item["DependsOn"] = kept
                else:
                    del item["DependsOn"]
            for target in sorted(_references(item) & set(excluded)):
                dangling.append((f"{section[:-1].lower()} {name}", target))
    if dangling:
        refs = "; ".join(
            f"{who} refers to {target} ({excluded[target][0]})" for who, target in dangling
        )
        raise StrictDeployError(
            f"the emulator cannot create these, but {refs}: create them through the API and "
            "substitute their references (substitute_refs)"
        )
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=dump_template(body),
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()
        ],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise StrictDeployError(
            f"stack {stack_name} is {stack['StackStatus']}: {stack.get('StackStatusReason')}"
        )
    created = _stack_resources(cloudformation, stack_name)
    skipped = [
        f"resource {logical_id} ({resource.get('Type')})"
        for logical_id, resource in resources(body)
        if logical_id not in created
    ]
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs") or ()}
    skipped += [f"output {name}" for name in body.get("Outputs") or {} if name not in outputs]
    if skipped:
        raise StrictDeployError(
            f"the emulator reported {stack_name} CREATE_COMPLETE but silently skipped "
            f"{', '.join(skipped)}; work around it, or list the type in "
            "EMULATOR_UNSUPPORTED with the reason"
        )
    return StackResources(stack_name, created, excluded, outputs)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _stack_resources(cloudformation: Any, stack_name: str) -> dict[str, tuple[str, str]]:
    created: dict[str, tuple[str, str]] = {}
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"StackName": stack_name}
        if token:
            kwargs["NextToken"] = token
        page = cloudformation.list_stack_resources(**kwargs)
        for summary in page["StackResourceSummaries"]:
            logical = summary.get("LogicalResourceId")
            if logical:  # the emulator lists skipped resources with an empty id
                created[logical] = (summary["ResourceType"], summary.get("PhysicalResourceId", ""))
        token = page.get("NextToken")
        if not token:
            return created


Verifier = Callable[[Callable[[str], Any], str, Mapping[str, Any], StackResources], None]


def _function_name(node: Any, stack: StackResources) -> str:
    target = sorted(_references(node))
    if target and target[0] in stack.created:
        return stack.created[target[0]][1]
    return str(node)


def _permission(
    client: Callable[[str], Any], physical: str, props: Mapping[str, Any], stack: StackResources
) -> None:
    function = _function_name(props.get("FunctionName"), stack)
    policy = json.loads(client("lambda").get_policy(FunctionName=function)["Policy"])
    principals = json.dumps([s.get("Principal") for s in policy.get("Statement", [])])
    if str(props.get("Principal")) not in principals:
        raise StrictDeployError(
            f"function {function} has no permission for {props.get('Principal')}"
        )


VERIFIERS: Mapping[str, Verifier] = {
    "AWS::IAM::Role": lambda c, p, _, __: c("iam").get_role(RoleName=p),
    "AWS::Lambda::Function": lambda c, p, _, __: c("lambda").get_function(FunctionName=p),
    "AWS::Lambda::Permission": _permission,
    "AWS::Logs::LogGroup": lambda c, p, _, __: next(
        g
        for g in c("logs").describe_log_groups(logGroupNamePrefix=p)["logGroups"]
        if g["logGroupName"] == p
    ),
    # list_keys, not describe_key: moto's describe_key crashes on a key whose policy came
    # from a template as an object rather than JSON text.
    "AWS::KMS::Key": lambda c, p, _, __: next(
        k for k in c("kms").list_keys()["Keys"] if p in (k["KeyId"], k["KeyArn"])
    ),
    "AWS::SNS::Topic": lambda c, p, _, __: c("sns").get_topic_attributes(TopicArn=p),
    "AWS::SQS::Queue": lambda c, p, _, __: c("sqs").get_queue_attributes(QueueUrl=p),
    "AWS::Events::Rule": lambda c, p, _, __: c("events").describe_rule(Name=p.split("/")[-1]),
}
"""How to ask each service whether a created resource really exists."""


def verify_resources(
    client: Callable[[str], Any], template: Mapping[str, Any], stack: StackResources
) -> list[str]:
    """Ask the services for every created resource; return the problems (empty: all there)."""
    problems: list[str] = []
    for logical_id, (kind, physical) in sorted(stack.created.items()):
        verifier = VERIFIERS.get(kind)
        if verifier is None:
            problems.append(f"{logical_id}: no verifier for {kind}; add one to VERIFIERS")
            continue
        props = (template["Resources"][logical_id].get("Properties")) or {}
        try:
            verifier(client, physical, props, stack)
        except Exception as exc:  # any service error means: not really there
            problems.append(f"{logical_id} ({kind} {physical!r}): {type(exc).__name__}: {exc}")
    return problems
