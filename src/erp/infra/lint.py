"""Lint a CloudFormation template: cfn-lint's rules and the project's, in one pass.

cfn-lint runs offline (its resource schemas ship with it) with the rules of
:mod:`erp.infra.cfnlint_rules` appended, so every problem comes back in one format with
its file, line and rule id, and the project's messages name the resource. Errors fail;
warnings are shown and fail only with ``strict``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from erp.errors import ConfigError
from erp.infra.errors import TemplateInvalid

__all__ = ["RULES_MODULE", "LintProblem", "LintReport", "TemplateInvalid", "lint_template"]

RULES_MODULE = "erp.infra.cfnlint_rules"


@dataclass(frozen=True)
class LintProblem:
    """One lint finding."""

    rule_id: str
    severity: str  # "error" | "warning" | "informational"
    message: str
    file: str
    line: int
    column: int
    resource: str | None

    def describe(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.rule_id} {self.message}"


@dataclass(frozen=True)
class LintReport:
    """Everything cfn-lint and the project's rules found in one template."""

    template: Path
    problems: tuple[LintProblem, ...]

    @property
    def errors(self) -> list[LintProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[LintProblem]:
        return [p for p in self.problems if p.severity == "warning"]

    def failed(self, *, strict: bool = False) -> bool:
        return bool(self.errors or (strict and self.warnings))


def lint_template(path: Path | str, *, regions: Sequence[str] = ("us-east-1",)) -> LintReport:
    """Run cfn-lint with the project's rules over ``path``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"template {path} does not exist; pass the path to a template")
    try:
        from cfnlint.api import ManualArgs, lint_file
    except ImportError:
        raise ConfigError(
            "cfn-lint is not installed; install the dev extras: pip install -e '.[dev]'"
        ) from None
    matches = lint_file(path, config=ManualArgs(append_rules=[RULES_MODULE], regions=list(regions)))
    problems = []
    for match in matches:
        where = list(getattr(match, "path", None) or [])
        resource = str(where[1]) if len(where) > 1 and where[0] == "Resources" else None
        problems.append(
            LintProblem(
                rule_id=str(match.rule.id),
                severity=str(match.rule.severity),
                message=str(match.message),
                file=str(match.filename or path),
                line=int(match.linenumber or 0),
                column=int(match.columnnumber or 0),
                resource=resource,
            )
        )
    problems.sort(key=lambda p: (p.line, p.column, p.rule_id))
    return LintReport(path, tuple(problems))
