"""CloudFormation templates as plain data: load YAML with short-form tags, walk, dump JSON.

``!Ref X`` becomes ``{"Ref": "X"}``, ``!GetAtt A.B`` becomes ``{"Fn::GetAtt": ["A", "B"]}``
and every other ``!Fn`` tag becomes ``{"Fn::Fn": ...}``: the long form CloudFormation,
cfn-lint and the AWS emulator all accept. Templates are dumped as JSON, so a generated
variant never depends on YAML tags.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from erp.infra.errors import TemplateError

__all__ = [
    "DEFAULT_TEMPLATE",
    "TemplateError",
    "dump_template",
    "load_template",
    "parameter_default",
    "resolve_value",
    "resources",
]

DEFAULT_TEMPLATE = Path("infra/template.yaml")

_FUNCTIONS = {
    "Base64", "Cidr", "FindInMap", "GetAZs", "ImportValue", "Join", "Select", "Split",
    "Sub", "Transform", "And", "Equals", "If", "Not", "Or", "Contains", "EachMemberEquals",
    "EachMemberIn", "RefAll", "ValueOf", "ValueOfAll", "Length", "ToJsonString",
}  # fmt: skip


class _Loader(yaml.SafeLoader):
    """A safe YAML loader that understands CloudFormation's short-form tags."""


def _construct(loader: _Loader, tag_suffix: str, node: yaml.Node) -> Any:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt":
        if isinstance(value, str):
            resource, _, attribute = value.partition(".")
            return {"Fn::GetAtt": [resource, attribute]}
        return {"Fn::GetAtt": value}
    if tag_suffix in _FUNCTIONS:
        return {f"Fn::{tag_suffix}": value}
    raise yaml.constructor.ConstructorError(
        None, None, f"unknown CloudFormation tag !{tag_suffix}", node.start_mark
    )


_Loader.add_multi_constructor("!", _construct)


def load_template(path: Path | str) -> dict[str, Any]:
    """Read a YAML or JSON template into plain data (long-form intrinsic functions)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(f"template {path} does not exist") from None
    except OSError as exc:
        raise TemplateError(f"cannot read template {path}: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        raise TemplateError(f"template {path} is not valid YAML/JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"template {path} has no Resources section")
    return data


def dump_template(template: Mapping[str, Any]) -> str:
    """The template as JSON text (stable key order as given)."""
    return json.dumps(template, indent=2) + "\n"


def resources(template: Mapping[str, Any], *types: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(logical id, resource)`` pairs, optionally only of the given types."""
    for logical_id, resource in (template.get("Resources") or {}).items():
        if isinstance(resource, dict) and (not types or resource.get("Type") in types):
            yield str(logical_id), resource


def parameter_default(template: Mapping[str, Any], name: str) -> Any:
    """The ``Default`` of parameter ``name`` (``None`` when it has none)."""
    parameter = (template.get("Parameters") or {}).get(name)
    return parameter.get("Default") if isinstance(parameter, dict) else None


def resolve_value(template: Mapping[str, Any], value: Any) -> tuple[Any, str | None]:
    """A property's value for checking: a ``Ref`` to a parameter becomes its default.

    Returns ``(value, parameter name or None)``; values that cannot be known before
    deployment (other intrinsic functions, parameters without a default) become ``None``.
    """
    if isinstance(value, dict):
        if set(value) == {"Ref"} and isinstance(value["Ref"], str):
            name = value["Ref"]
            if name in (template.get("Parameters") or {}):
                return parameter_default(template, name), name
        return None, None
    return copy.deepcopy(value), None
