"""The project's template checks as cfn-lint rules: ``cfn-lint -a erp.infra.cfnlint_rules``.

cfn-lint instantiates every rule class in this module; each runs the matching part of
:func:`erp.infra.checks.check_template`, so the checks and their messages live in one place.
This module imports cfn-lint, so only the linter (never the Lambda) loads it.
"""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from erp.infra.checks import RULES, check_template

__all__ = [
    "IamServiceStar",
    "IamStarOnStar",
    "LiteralSecret",
    "RotationDependsOnPermission",
    "RotationInvokePermission",
    "RotationRulesConflict",
    "RotationRulesRange",
    "RotationTooFrequent",
    "RotationWindow",
    "SecretValueConflict",
]


_TAGS = ["erp", "secretsmanager"]


def _matches(rule_id: str, cfn: Any) -> list[RuleMatch]:
    """The checks are cheap: each rule runs them and keeps its own findings."""
    return [
        RuleMatch(list(p.path), p.message)
        for p in check_template(cfn.template)
        if p.rule_id == rule_id
    ]


class RotationRulesConflict(CloudFormationLintRule):  # type: ignore[misc]
    """Conflicting rotation settings."""

    id = "E9101"
    shortdesc = RULES["E9101"]
    description = "RotationRules take AutomaticallyAfterDays or ScheduleExpression, not both."
    tags = _TAGS

    def match(self, cfn: Any) -> list[RuleMatch]:
        return _matches(self.id, cfn)


class RotationRulesRange(CloudFormationLintRule):  # type: ignore[misc]
    """Rotation rules out of range."""

    id = "E9102"
    shortdesc = RULES["E9102"]
    description = "AutomaticallyAfterDays 1-1000, Duration 1h-24h, cron minutes 0 and year *."
    tags = _TAGS

    def match(self, cfn: Any) -> list[RuleMatch]:
        return _matches(self.id, cfn)


class RotationTooFrequent(CloudFormationLintRule):  # type: ignore[misc]
    """Rotation more frequent than every 4 hours."""

    id = "E9103"
    shortdesc = RULES["E9103"]
    description = "Secrets Manager rotates at most every 4 hours."
    tags = _TAGS

    def match(self, cfn: Any) -> list[RuleMatch]:
        return _matches(self.id, cfn)


class RotationWindow(CloudFormationLintRule):  # type: ignore[misc]
    """Rotation window longer than the interval or past midnight."""

    id = "E9104"
    shortdesc = RULES["E9104"]
    description = "The window may not run into the next window or the next UTC day."
    tags = _TAGS

    def match(self, cfn: Any) -> list[RuleMatch]:
        return _matches(self.id, cfn)


class LiteralSecret(CloudFormationLintRule):  # type: ignore[misc]
    """Literal secret in the template."""

    id = "E9105"
    shortdesc = RULES["E9105"]
    description = "No secret values in SecretString, environments or parameter defaults."
    tags = _TAGS

    def match(self, cfn: Any) -> list[RuleMatch]:
        return _matches(self.id, cfn)


class IamStarOnStar(CloudFormationLintRule):  # type: ignore[misc]
    """IAM policy allows * actions on * resources."""

    id = "E9106"
    shortdesc = RULES["E9106"]
    description = "Allow statements must not grant * (or NotAction) on Resource *."
    tags = _TAGS

    def match(self, cfn: Any) -> list[RuleMatch]:
        return _matches(self.id, cfn)


class IamServiceStar(CloudFormationLintRule):  # type: ignore[misc]
    """IAM policy allows every action of a service on * resources."""

    id = "W9106"
    shortdesc = RULES["W9106"]
    description = "Allow statements should name actions rather than svc:* on Resource *."
    tags = _TAGS

    def match(self, cfn: Any) -> list[RuleMatch]:
        return _matches(self.id, cfn)


class RotationInvokePermission(CloudFormationLintRule):  # type: ignore[misc]
    """Rotation Lambda cannot be invoked by Secrets Manager."""

    id = "E9107"
    shortdesc = RULES["E9107"]
    description = "A rotation Lambda needs a permission for secretsmanager.amazonaws.com."
    tags = _TAGS

    def match(self, cfn: Any) -> list[RuleMatch]:
        return _matches(self.id, cfn)


class RotationDependsOnPermission(CloudFormationLintRule):  # type: ignore[misc]
    """Rotation schedule does not depend on the invoke permission."""

    id = "W9107"
    shortdesc = RULES["W9107"]
    description = "The RotationSchedule should DependsOn that permission."
    tags = _TAGS

    def match(self, cfn: Any) -> list[RuleMatch]:
        return _matches(self.id, cfn)


class SecretValueConflict(CloudFormationLintRule):  # type: ignore[misc]
    """Secret with both SecretString and GenerateSecretString."""

    id = "E9108"
    shortdesc = RULES["E9108"]
    description = "SecretString and GenerateSecretString are mutually exclusive."
    tags = _TAGS

    def match(self, cfn: Any) -> list[RuleMatch]:
        return _matches(self.id, cfn)
