"""The schedule engine: Secrets Manager's rotation rules and the due dates they imply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from erp.alerts.cron import CronError, parse_cron
from erp.alerts.schedule import (
    ScheduleError,
    check_rotation_rules,
    parse_duration,
    parse_rotation_rules,
    parse_schedule_expression,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_automatically_after_days_window_is_the_whole_utc_day_n_days_later() -> None:
    """AutomaticallyAfterDays=30 after a rotation on Nov 1 at 13:20: Dec 1 00:00 - Dec 2 00:00."""
    schedule = parse_rotation_rules({"AutomaticallyAfterDays": 30})
    window = schedule.next_window(at("2026-11-01T13:20:00"))
    assert (window.start, window.end) == (at("2026-12-01T00:00:00"), at("2026-12-02T00:00:00"))


def test_rate_in_days_with_duration_closes_the_window_after_duration() -> None:
    """rate(10 days) with Duration 3h opens at midnight and closes at 03:00."""
    schedule = parse_rotation_rules({"ScheduleExpression": "rate(10 days)", "Duration": "3h"})
    window = schedule.next_window(at("2026-11-01T08:00:00"))
    assert (window.start, window.end) == (at("2026-11-11T00:00:00"), at("2026-11-11T03:00:00"))


def test_rate_in_hours_defaults_to_a_one_hour_window() -> None:
    """rate(6 hours): the next window opens 6 hours later on the hour and lasts one hour."""
    schedule = parse_schedule_expression("rate(6 hours)")
    window = schedule.next_window(at("2026-11-01T08:40:00"))
    assert (window.start, window.end) == (at("2026-11-01T14:00:00"), at("2026-11-01T15:00:00"))


def test_cron_window_opens_at_the_next_matching_hour() -> None:
    """cron(0 4 ? * SUN *) after a Wednesday: the next Sunday 04:00 until the end of the day."""
    schedule = parse_schedule_expression("cron(0 4 ? * SUN *)")
    window = schedule.next_window(at("2026-11-25T12:00:00"))  # a Wednesday
    assert (window.start, window.end) == (at("2026-11-29T04:00:00"), at("2026-11-30T00:00:00"))


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0 17 L * ? *)", "2026-02-10T00:00:00", "2026-02-28T17:00:00"),
        ("cron(0 17 L-2 * ? *)", "2026-04-01T00:00:00", "2026-04-28T17:00:00"),
        ("cron(0 0 ? * SUN#1 *)", "2026-11-02T00:00:00", "2026-12-06T00:00:00"),
        ("cron(0 8 ? * 6L *)", "2026-11-01T00:00:00", "2026-11-27T08:00:00"),
        ("cron(0 16 1,15 * ? *)", "2026-11-01T16:00:00", "2026-11-15T16:00:00"),
        ("cron(0 1 * 1/3 ? *)", "2026-11-25T00:00:00", "2027-01-01T01:00:00"),
        ("cron(0 8 ? * MON-FRI *)", "2026-11-27T09:00:00", "2026-11-30T08:00:00"),
        ("cron(0 0,12 * * ? *)", "2026-11-25T12:00:00", "2026-11-26T00:00:00"),
    ],
)
def test_cron_next_occurrence_follows_aws_wildcards(
    expression: str, after: str, expected: str
) -> None:
    """L, L-n, #, nL, lists, steps and ranges land on the dates AWS documents."""
    assert parse_cron(expression).next_after(at(after)) == at(expected)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("cron(30 4 * * ? *)", "minutes must be 0"),
        ("cron(0 4 * * ? 2027)", "year must be *"),
        ("cron(0 4 * * MON *)", "exactly one of day-of-month and day-of-week must be ?"),
        ("cron(0 4 ? * ? *)", "exactly one of day-of-month and day-of-week must be ?"),
        ("cron(0 25 * * ? *)", "hours value 25 is outside 0-23"),
        ("cron(0 4 15W * ? *)", "does not accept W"),
        ("cron(0 4 * *)", "needs 6"),
    ],
)
def test_cron_rules_of_secrets_manager_are_enforced(expression: str, fragment: str) -> None:
    """Each rule Secrets Manager imposes on cron() fails with a message saying which."""
    with pytest.raises(CronError, match=fragment.replace("*", r"\*").replace("?", r"\?")):
        parse_cron(expression)


@pytest.mark.parametrize(
    "expression", ["rate(2 hours)", "rate(3 hours)", "cron(0 */2 * * ? *)", "cron(0 0,3 * * ? *)"]
)
def test_schedules_more_often_than_every_four_hours_are_refused(expression: str) -> None:
    """Secrets Manager rotates at most every 4 hours, in rate() and cron() alike."""
    with pytest.raises(ScheduleError, match="at most every 4 hours"):
        parse_schedule_expression(expression)


def test_rate_of_four_hours_is_the_minimum_accepted() -> None:
    """rate(4 hours) is allowed and means a 4-hour interval."""
    assert parse_schedule_expression("rate(4 hours)").interval == timedelta(hours=4)


@pytest.mark.parametrize("text", ["rate(5 minutes)", "rate(days)", "every 30 days", "rate(0 days)"])
def test_malformed_expressions_name_the_accepted_forms(text: str) -> None:
    """Anything but rate(N hours|days) or cron(...) is refused with an example."""
    with pytest.raises(ScheduleError):
        parse_schedule_expression(text)


def test_both_automatically_after_days_and_expression_conflict() -> None:
    """AutomaticallyAfterDays together with ScheduleExpression is a conflict, as in RotateSecret."""
    _, problems = check_rotation_rules(
        {"AutomaticallyAfterDays": 30, "ScheduleExpression": "rate(30 days)"}
    )
    assert [p.code for p in problems] == ["conflict"]


def test_described_rules_let_the_expression_win_over_the_computed_days() -> None:
    """DescribeSecret reports both; the expression is then the schedule, not a conflict."""
    schedule = parse_rotation_rules(
        {"AutomaticallyAfterDays": 7, "ScheduleExpression": "cron(0 4 ? * SUN *)"}, described=True
    )
    assert schedule.kind == "cron"


@pytest.mark.parametrize("days", [0, 1001, 2000, -3, "thirty", True])
def test_automatically_after_days_outside_1_to_1000_is_refused(days: object) -> None:
    """AutomaticallyAfterDays must be a whole number from 1 to 1000."""
    _, problems = check_rotation_rules({"AutomaticallyAfterDays": days})
    assert [p.code for p in problems] == ["days-range"]


@pytest.mark.parametrize("text", ["0h", "25h", "30h", "3", "3 hours", "1d"])
def test_duration_must_be_whole_hours_from_1_to_24(text: str) -> None:
    """Duration is 1h-24h."""
    with pytest.raises(ScheduleError, match="from 1h to 24h"):
        parse_duration(text)


def test_window_longer_than_the_interval_is_refused() -> None:
    """rate(6 hours) with an 8h window would run into the next window."""
    _, problems = check_rotation_rules({"ScheduleExpression": "rate(6 hours)", "Duration": "8h"})
    assert [p.code for p in problems] == ["window-longer-than-interval"]


def test_window_running_past_midnight_is_refused() -> None:
    """A window opening at 22:00 may not last 4 hours: it would enter the next UTC day."""
    _, problems = check_rotation_rules(
        {"ScheduleExpression": "cron(0 22 ? * SUN *)", "Duration": "4h"}
    )
    assert [p.code for p in problems] == ["window-past-midnight"]


def test_every_problem_is_reported_not_just_the_first() -> None:
    """The linter needs all problems: conflict, out-of-range days and a bad Duration together."""
    _, problems = check_rotation_rules(
        {"AutomaticallyAfterDays": 2000, "ScheduleExpression": "rate(2 hours)", "Duration": "30h"}
    )
    assert sorted(p.code for p in problems) == [
        "conflict",
        "days-range",
        "duration-format",
        "rate-too-frequent",
    ]


def test_parse_rotation_rules_error_names_where() -> None:
    """The exception names the secret or resource it is about."""
    with pytest.raises(ScheduleError, match=r"^secret erp/ring: "):
        parse_rotation_rules({"AutomaticallyAfterDays": 0}, "secret erp/ring")
