"""Infrastructure as code: lint the CloudFormation template, build the Lambda package.

* :func:`lint_template` runs cfn-lint plus the project's checks (:mod:`erp.infra.checks`),
  which also load into cfn-lint itself: ``cfn-lint -a erp.infra.cfnlint_rules``;
* :func:`build_lambda_zip` writes the small, reproducible package the template names;
* :func:`create_stack_strict` deploys to an AWS emulator and fails on silent skips.
"""

from __future__ import annotations

from erp.infra.checks import RULES, Problem, check_template
from erp.infra.emulator import EMULATOR_UNSUPPORTED, StrictDeployError, create_stack_strict
from erp.infra.lint import LintProblem, LintReport, TemplateInvalid, lint_template
from erp.infra.package import LambdaPackage, build_lambda_zip, package_template
from erp.infra.template import DEFAULT_TEMPLATE, dump_template, load_template

__all__ = [
    "DEFAULT_TEMPLATE",
    "EMULATOR_UNSUPPORTED",
    "RULES",
    "LambdaPackage",
    "LintProblem",
    "LintReport",
    "Problem",
    "StrictDeployError",
    "TemplateInvalid",
    "build_lambda_zip",
    "check_template",
    "create_stack_strict",
    "dump_template",
    "lint_template",
    "load_template",
    "package_template",
]
