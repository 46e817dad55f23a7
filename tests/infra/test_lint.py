"""CI's template gate: the template passes cfn-lint and the project's rules; bad variants
generated from it fail, each with a message naming the resource."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from erp.cli import main
from erp.infra.lint import lint_template

from .conftest import TEMPLATE, Mutation


def rules_of(resource: dict[str, Any]) -> dict[str, Any]:
    rules: dict[str, Any] = resource["Properties"]["RotationRules"]
    return rules


def schedule(t: dict[str, Any]) -> dict[str, Any]:
    return rules_of(t["Resources"]["KeyRingRotationSchedule"])


def hard_coded_secret(t: dict[str, Any]) -> None:
    props = t["Resources"]["KeyRingSecret"]["Properties"]
    del props["GenerateSecretString"]
    props["SecretString"] = '{"JWT_SECRETS": {"k1": "' + secrets.token_urlsafe(32) + '"}}'


def star_on_star(t: dict[str, Any]) -> None:
    policy = t["Resources"]["RotationFunctionRole"]["Properties"]["Policies"][0]
    policy["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "*", "Resource": "*"}
    )


def window_longer_than_interval(t: dict[str, Any]) -> None:
    rules = schedule(t)
    rules.pop("AutomaticallyAfterDays")
    rules.update(ScheduleExpression="rate(6 hours)", Duration="8h")


def rate_under_four_hours(t: dict[str, Any]) -> None:
    rules = schedule(t)
    rules.pop("AutomaticallyAfterDays")
    rules.update(ScheduleExpression="rate(2 hours)", Duration="1h")


def conflicting_rules(t: dict[str, Any]) -> None:
    schedule(t)["ScheduleExpression"] = "rate(30 days)"


def days_out_of_range(t: dict[str, Any]) -> None:
    t["Parameters"]["RotationIntervalDays"].update(Default=2000, MaxValue=3000)


def webhook_in_environment(t: dict[str, Any]) -> None:
    variables = t["Resources"]["NotifyFunction"]["Properties"]["Environment"]["Variables"]
    variables["ERP_SLACK_WEBHOOK_URL"] = "https://hooks.slack.com/services/" + secrets.token_hex(12)


def routing_key_parameter_default(t: dict[str, Any]) -> None:
    t["Parameters"]["PagerDutyRoutingKey"] = {"Type": "String", "Default": secrets.token_hex(16)}


def no_invoke_permission(t: dict[str, Any]) -> None:
    del t["Resources"]["RotationFunctionInvokePermission"]
    del t["Resources"]["KeyRingRotationSchedule"]["DependsOn"]


BAD: list[tuple[Mutation, str, str]] = [
    (hard_coded_secret, "E9105", "KeyRingSecret"),
    (star_on_star, "E9106", "RotationFunctionRole"),
    (window_longer_than_interval, "E9104", "KeyRingRotationSchedule"),
    (rate_under_four_hours, "E9103", "KeyRingRotationSchedule"),
    (conflicting_rules, "E9101", "KeyRingRotationSchedule"),
    (days_out_of_range, "E9102", "KeyRingRotationSchedule"),
    (webhook_in_environment, "E9105", "NotifyFunction"),
    (routing_key_parameter_default, "E9105", "PagerDutyRoutingKey"),
    (no_invoke_permission, "E9107", "KeyRingRotationSchedule"),
]


def test_template_passes_cfn_lint_and_project_rules_offline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No error and no warning, with every proxy pointing at a dead port (no network)."""
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    report = lint_template(TEMPLATE)
    assert [p.describe() for p in report.problems] == []


@pytest.mark.parametrize(
    ("mutate", "rule_id", "resource"), BAD, ids=[m.__name__ for m, _, _ in BAD]
)
def test_bad_template_fails_naming_the_resource(
    variant: Callable[[Mutation], Path], mutate: Mutation, rule_id: str, resource: str
) -> None:
    """Each kind of bad template fails the lint with its rule id and the resource's name."""
    report = lint_template(variant(mutate))
    assert report.failed()
    hits = [p for p in report.errors if p.rule_id == rule_id]
    assert hits, [p.describe() for p in report.problems]
    assert all(resource in p.message for p in hits)
    assert {p.resource for p in hits} <= {resource, None}


def test_rotation_window_problem_is_reported_with_the_parameter_default(
    variant: Callable[[Mutation], Path],
) -> None:
    """A Duration taken from a parameter says so, so the fix is found in the right place."""

    def long_window(t: dict[str, Any]) -> None:
        window_longer_than_interval(t)
        schedule(t)["Duration"] = {"Ref": "RotationWindow"}
        t["Parameters"]["RotationWindow"]["Default"] = "8h"

    (problem,) = lint_template(variant(long_window)).errors
    assert problem.rule_id == "E9104"
    assert "(Duration is parameter RotationWindow's default)" in problem.message


def test_plain_cfn_lint_misses_what_the_project_rules_catch(
    variant: Callable[[Mutation], Path],
) -> None:
    """Without the project's rules, cfn-lint passes conflicting rules and * on *: the gap."""
    from cfnlint.api import ManualArgs, lint_file

    def both(t: dict[str, Any]) -> None:
        conflicting_rules(t)
        star_on_star(t)

    plain = lint_file(variant(both), config=ManualArgs(regions=["us-east-1"]))
    assert [m.rule.id for m in plain] == []


def test_cli_lint_exits_1_listing_file_line_and_rule(
    variant: Callable[[Mutation], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """``erp-secrets infra lint BAD`` prints file:line:col rule message, then fails."""
    path = variant(star_on_star)
    with pytest.raises(SystemExit) as info:
        main(["infra", "lint", str(path)])
    out, err = capsys.readouterr()
    assert info.value.code == 1
    assert f"{path}:" in out
    assert "E9106 Role RotationFunctionRole: policy rotate-key-ring allows *" in out
    assert "1 error(s)" in err


def test_cli_lint_of_the_project_template_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    """The default argument is infra/template.yaml; run from the project root."""
    import os

    here = os.getcwd()
    os.chdir(TEMPLATE.parents[1])
    try:
        code = main(["infra", "lint"])
    finally:
        os.chdir(here)
    assert code in (None, 0)
    assert "infra/template.yaml: ok" in capsys.readouterr().out


def test_project_rules_load_into_the_cfn_lint_command(variant: Callable[[Mutation], Path]) -> None:
    """``cfn-lint -a erp.infra.cfnlint_rules`` runs the same checks."""
    path = variant(window_longer_than_interval)
    cfn_lint = str(Path(sys.executable).with_name("cfn-lint"))
    done = subprocess.run(
        [cfn_lint, "-a", "erp.infra.cfnlint_rules", "--", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "E9104 RotationSchedule KeyRingRotationSchedule" in done.stdout
