"""PagerDuty and Slack payloads, and the alert life cycle: page once, resolve when cleared."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from erp.alerts.config import AlertSettings
from erp.alerts.delivery import Transport
from erp.alerts.findings import Condition, Finding, Report, Severity, Subject
from erp.alerts.pagerduty import PagerDuty
from erp.alerts.router import AlertRouter, AlertState
from erp.alerts.slack import Slack
from erp.errors import ConfigError, SecretNotFound
from erp.testing.alerts import Receiver, Reply, pagerduty_pages

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DUE = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
RING = Subject(
    "jwt:web1:/srv/app/jwt_secrets.json", "jwt", "JWT key ring /srv/app/jwt_secrets.json"
)
SECRET_ARN = ":".join(
    ["arn", "aws", "secretsmanager", "us-east-1", "1" * 12, "secret:erp/ring-AbCdEf"]
)
AWS = Subject(f"aws:{SECRET_ARN}", "aws-secret", "secret erp/ring")


def overdue(subject: Subject = RING) -> Finding:
    return Finding(
        subject,
        Condition.ROTATION_OVERDUE,
        Severity.CRITICAL,
        "active JWT key k1 is 35 days old; rotation was due 5 days ago",
        DUE,
        {"active_key": "k1"},
    )


def report(
    *findings: Finding, subjects: tuple[Subject, ...] = (RING,), at: datetime = NOW
) -> Report:
    return Report(at, subjects, findings)


def test_pagerduty_trigger_payload_is_events_api_v2(
    receiver: Receiver, transport: Transport, routing_key: str
) -> None:
    """The exact trigger event: routing key, dedup key, summary, source, severity, details."""
    pd = PagerDuty(routing_key, transport=transport, url=receiver.url("/v2/enqueue"))
    assert pd.open(overdue(), NOW).ok
    assert receiver.bodies("/v2/enqueue") == [
        {
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": "erp/rotation_overdue/jwt:web1:/srv/app/jwt_secrets.json",
            "client": "erp-secrets",
            "payload": {
                "summary": "Rotation overdue: active JWT key k1 is 35 days old; rotation was "
                "due 5 days ago",
                "source": "web1",
                "severity": "critical",
                "timestamp": "2026-11-25T12:00:00.000000Z",
                "component": "jwt",
                "group": "secret-rotation",
                "class": "rotation_overdue",
                "custom_details": {
                    "subject": "JWT key ring /srv/app/jwt_secrets.json",
                    "condition": "rotation_overdue",
                    "due_at": "2026-11-20T00:00:00.000000Z",
                    "active_key": "k1",
                },
            },
        }
    ]


def test_pagerduty_resolve_payload_names_only_the_dedup_key(
    receiver: Receiver, transport: Transport, routing_key: str
) -> None:
    """The exact resolve event."""
    pd = PagerDuty(routing_key, transport=transport, url=receiver.url("/v2/enqueue"))
    assert pd.resolve("erp/rotation_failed/aws:x", None, NOW).ok
    assert receiver.bodies() == [
        {
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": "erp/rotation_failed/aws:x",
        }
    ]


def test_pagerduty_source_of_an_aws_finding_is_the_secret_arn(
    receiver: Receiver, transport: Transport, routing_key: str
) -> None:
    """For AWS secrets PagerDuty's source is the ARN, so the service groups by secret."""
    pd = PagerDuty(routing_key, transport=transport, url=receiver.url())
    pd.open(overdue(AWS), NOW)
    assert receiver.bodies()[0]["payload"]["source"] == SECRET_ARN


def test_slack_message_has_text_and_blocks(receiver: Receiver, transport: Transport) -> None:
    """The exact Slack message: fallback text plus header, section with fields, context."""
    slack = Slack(receiver.url("/services/T1/B2/c3"), transport=transport)
    receiver.default = Reply(200, "ok")
    assert slack.open(overdue(), NOW).ok
    assert receiver.bodies("/services/T1/B2/c3") == [
        {
            "text": ":red_circle: Rotation overdue: active JWT key k1 is 35 days old; rotation "
            "was due 5 days ago",
            "blocks": [
                {
                    "type": "header",
                    "text": {
                        "type": "plain_text",
                        "text": "Rotation overdue: JWT key ring /srv/app/jwt_secrets.json",
                    },
                },
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": "active JWT key k1 is 35 days old; rotation was due 5 days ago",
                    },
                    "fields": [
                        {"type": "mrkdwn", "text": "*Severity*\n:red_circle: critical"},
                        {"type": "mrkdwn", "text": "*Due*\n2026-11-20T00:00:00.000000Z"},
                        {"type": "mrkdwn", "text": "*Condition*\n`rotation_overdue`"},
                        {
                            "type": "mrkdwn",
                            "text": "*Subject*\nJWT key ring /srv/app/jwt_secrets.json",
                        },
                    ],
                },
                {
                    "type": "context",
                    "elements": [
                        {
                            "type": "mrkdwn",
                            "text": "erp-secrets at 2026-11-25T12:00:00.000000Z · dedup key "
                            "`erp/rotation_overdue/jwt:web1:/srv/app/jwt_secrets.json`",
                        }
                    ],
                },
            ],
        }
    ]


def test_slack_text_is_escaped_against_link_injection(
    receiver: Receiver, transport: Transport
) -> None:
    """A path containing <, > or & cannot become a Slack link or mention."""
    subject = Subject("jwt:h:/x", "jwt", "ring </x|click&me>")
    finding = Finding(subject, Condition.ROTATION_DUE, Severity.WARNING, "<!channel> & <http://x>")
    Slack(receiver.url(), transport=transport).open(finding, NOW)
    section = receiver.bodies()[0]["blocks"][1]
    assert section["text"]["text"] == "&lt;!channel&gt; &amp; &lt;http://x&gt;"
    assert section["fields"][3]["text"] == "*Subject*\nring &lt;/x|click&amp;me&gt;"
    # the notification text (mrkdwn too) of the open, the resolve and the digest
    Slack(receiver.url(), transport=transport).resolve(
        "erp/rotation_due/jwt:h:/x", finding.to_dict(), NOW
    )
    Slack(receiver.url(), transport=transport).digest([finding], NOW)
    for body in receiver.bodies():
        assert "<" not in body["text"]
        assert "&lt;!channel&gt;" in body["text"] or "&lt;/x|click&amp;me&gt;" in body["text"]


def test_notifier_reprs_hide_routing_key_and_webhook(
    transport: Transport, routing_key: str
) -> None:
    """Neither secret shows in repr (logs, tracebacks)."""
    webhook = "https://hooks.slack.com/services/" + secrets.token_urlsafe(24)
    settings = AlertSettings(routing_key, webhook)
    text = repr(settings) + repr(settings.notifiers(transport))
    assert routing_key not in text
    assert webhook not in text


def router_for(
    receiver: Receiver, transport: Transport, routing_key: str, state: AlertState | None
) -> AlertRouter:
    return AlertRouter(
        [
            PagerDuty(routing_key, transport=transport, url=receiver.url("/pd")),
            Slack(receiver.url("/slack"), transport=transport),
        ],
        state=state,
    )


def test_condition_persisting_across_runs_pages_once(
    receiver: Receiver, transport: Transport, routing_key: str, tmp_path: Path
) -> None:
    """Three checks finding the same overdue key: one trigger, one Slack message."""
    router = router_for(receiver, transport, routing_key, AlertState(tmp_path / "state.json"))
    for day in range(3):
        router.process(report(overdue(), at=NOW + timedelta(days=day)))
    assert [b["event_action"] for b in receiver.bodies("/pd")] == ["trigger"]
    assert len(receiver.bodies("/slack")) == 1


def test_cleared_condition_is_resolved_on_both_destinations(
    receiver: Receiver, transport: Transport, routing_key: str, tmp_path: Path
) -> None:
    """Overdue, then rotated: PagerDuty gets resolve with the same dedup key, Slack a note."""
    state = AlertState(tmp_path / "state.json")
    router = router_for(receiver, transport, routing_key, state)
    router.process(report(overdue()))
    results = router.process(report(at=NOW + timedelta(hours=1)))
    assert [r.action for r in results] == ["resolve", "resolve"]
    pd = receiver.bodies("/pd")
    assert [b["event_action"] for b in pd] == ["trigger", "resolve"]
    assert pd[0]["dedup_key"] == pd[1]["dedup_key"]
    slack = receiver.bodies("/slack")[1]
    assert slack["text"] == (
        ":white_check_mark: Resolved: Rotation overdue: JWT key ring /srv/app/jwt_secrets.json"
    )
    assert state.open_alerts() == {}


def test_subject_not_checked_this_time_keeps_its_alert_open(
    receiver: Receiver, transport: Transport, routing_key: str, tmp_path: Path
) -> None:
    """If AWS could not be reached, its overdue alert is not resolved by the silence."""
    state = AlertState(tmp_path / "state.json")
    router = router_for(receiver, transport, routing_key, state)
    router.process(report(overdue(AWS), subjects=(AWS,)))
    failed = Finding(AWS, Condition.CHECK_FAILED, Severity.ERROR, "could not describe secret")
    router.process(report(failed, subjects=(AWS,)))
    actions = [b["event_action"] for b in receiver.bodies("/pd")]
    assert actions == ["trigger", "trigger"]  # the check failure is paged, overdue stays open
    assert set(state.open_alerts()) == {overdue(AWS).dedup_key, failed.dedup_key}


def test_failed_delivery_is_retried_at_the_next_run_and_not_marked_sent(
    receiver: Receiver, transport: Transport, routing_key: str, tmp_path: Path
) -> None:
    """PagerDuty down for a whole run: the result says so, and the next run sends it."""
    state = AlertState(tmp_path / "state.json")
    router = router_for(receiver, transport, routing_key, state)
    receiver.script.extend([Reply(503)] * 5)  # all five PagerDuty attempts; Slack is fine
    first = router.process(report(overdue()))
    assert [(r.destination, r.ok) for r in first] == [("pagerduty", False), ("slack", True)]
    second = router.process(report(overdue(), at=NOW + timedelta(hours=1)))
    assert [(r.destination, r.ok) for r in second] == [("pagerduty", True)]
    assert pagerduty_pages(receiver.bodies("/pd")) == [overdue().dedup_key]


def test_stateless_router_repeats_the_trigger_under_the_same_dedup_key(
    receiver: Receiver, transport: Transport, routing_key: str
) -> None:
    """The Lambda has no memory: it re-sends triggers, and PagerDuty's dedup folds them."""
    router = router_for(receiver, transport, routing_key, None)
    router.process(report(overdue(AWS), subjects=(AWS,)))
    router.process(report(overdue(AWS), subjects=(AWS,), at=NOW + timedelta(days=1)))
    triggers = [b for b in receiver.bodies("/pd") if b["event_action"] == "trigger"]
    assert len(triggers) == 2
    assert pagerduty_pages(receiver.bodies("/pd")) == [overdue(AWS).dedup_key]


def test_stateless_router_resolves_what_a_checked_secret_no_longer_shows(
    receiver: Receiver, transport: Transport, routing_key: str
) -> None:
    """A clean check of an AWS secret resolves its overdue/failed/... keys in PagerDuty."""
    router = router_for(receiver, transport, routing_key, None)
    router.process(report(subjects=(AWS,)))
    resolved = {b["dedup_key"] for b in receiver.bodies("/pd") if b["event_action"] == "resolve"}
    assert overdue(AWS).dedup_key in resolved
    assert receiver.bodies("/slack") == []  # nothing open: no digest


def test_stateless_slack_gets_one_digest_per_run(
    receiver: Receiver, transport: Transport, routing_key: str
) -> None:
    """Several findings in one report: a single Slack message listing them, worst first."""
    router = router_for(receiver, transport, routing_key, None)
    due = Finding(AWS, Condition.ROTATION_DISABLED, Severity.WARNING, "rotation is not enabled")
    router.process(report(due, overdue(AWS), subjects=(AWS,)))
    (digest,) = receiver.bodies("/slack")
    assert digest["blocks"][0]["text"]["text"] == "2 secret-rotation finding(s)"
    assert digest["blocks"][1]["text"]["text"].startswith(":red_circle: *Rotation overdue*")


def test_findings_below_min_severity_are_not_sent(
    receiver: Receiver, transport: Transport, routing_key: str, tmp_path: Path
) -> None:
    """An informational finding (an AWS secret that rotates itself soon) pages nobody."""
    router = router_for(receiver, transport, routing_key, AlertState(tmp_path / "s.json"))
    info = Finding(AWS, Condition.ROTATION_DUE, Severity.INFO, "rotates in 3 days")
    assert router.process(report(info, subjects=(AWS,))) == []
    assert receiver.requests == []


def test_settings_read_secrets_through_the_lookup(routing_key: str) -> None:
    """The routing key and webhook come from get_secret's names; absent ones disable."""
    found = {"ERP_PAGERDUTY_ROUTING_KEY": routing_key}

    def lookup(name: str) -> str:
        if name not in found:
            raise SecretNotFound(name, ["test"])
        return found[name]

    settings = AlertSettings.from_env({}, lookup=lookup)
    assert settings.pagerduty_routing_key == routing_key
    assert settings.slack_webhook_url is None
    assert [n.name for n in settings.notifiers()] == ["pagerduty"]


def test_plain_http_webhook_to_a_remote_host_is_refused_without_echoing_it() -> None:
    """http:// leaks the credential on the wire; the error names the secret, not its value."""
    webhook = "http://hooks.example.net/services/" + secrets.token_urlsafe(16)
    with pytest.raises(ConfigError, match="ERP_SLACK_WEBHOOK_URL") as info:
        AlertSettings.from_env({}, lookup=lambda name: webhook)
    assert webhook not in str(info.value)


def test_gets_secrets_from_the_vault_file_through_get_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, routing_key: str
) -> None:
    """By default the secrets are resolved by erp.secrets.get_secret (here: the vault file)."""
    import json

    import erp.secrets

    vault = tmp_path / "jwt_secrets.json"
    vault.write_text(json.dumps({"ERP_PAGERDUTY_ROUTING_KEY": routing_key}))
    monkeypatch.setenv("ERP_VAULT_FILE", str(vault))
    erp.secrets.reset()
    assert AlertSettings.from_env({}).pagerduty_routing_key == routing_key
