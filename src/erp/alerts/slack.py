"""Slack incoming webhooks: a message with fallback ``text`` and Block Kit ``blocks``.

The webhook URL is a secret (its path is the credential): it never appears in ``repr``,
results or errors, which show only ``https://hooks.slack.com``. Text from findings is
escaped for Slack's mrkdwn (``&``, ``<``, ``>``) so a path or ARN cannot inject a link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from erp.alerts.delivery import DeliveryResult, Transport
from erp.alerts.findings import Finding, Severity
from erp.clock import to_iso

__all__ = ["Slack", "escape"]

_EMOJI = {
    Severity.CRITICAL: ":red_circle:",
    Severity.ERROR: ":large_orange_circle:",
    Severity.WARNING: ":warning:",
    Severity.INFO: ":information_source:",
}
_HEADER_MAX = 150
_TEXT_MAX = 3000
_DIGEST_MAX = 20


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Slack:
    """One Slack incoming webhook."""

    name = "slack"

    def __init__(self, webhook_url: str, *, transport: Transport) -> None:
        if not webhook_url:
            raise ValueError("the Slack webhook URL is empty")
        self._url = webhook_url
        self.transport = transport

    def __repr__(self) -> str:
        return "Slack(webhook=***)"

    def open_payload(self, finding: Finding, timestamp: datetime) -> dict[str, Any]:
        """The exact message announcing ``finding``."""
        emoji = _EMOJI[finding.severity]
        due = to_iso(finding.due_at) if finding.due_at else "-"
        return {
            # the notification text is mrkdwn too: escaped like the blocks
            "text": _cut(escape(f"{emoji} {finding.title}: {finding.summary}"), _TEXT_MAX),
            "blocks": [
                {
                    "type": "header",
                    "text": {
                        "type": "plain_text",
                        "text": _cut(f"{finding.title}: {finding.subject.name}", _HEADER_MAX),
                    },
                },
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": _cut(escape(finding.summary), _TEXT_MAX)},
                    "fields": [
                        {"type": "mrkdwn", "text": f"*Severity*\n{emoji} {finding.severity.value}"},
                        {"type": "mrkdwn", "text": f"*Due*\n{due}"},
                        {"type": "mrkdwn", "text": f"*Condition*\n`{finding.condition.value}`"},
                        {
                            "type": "mrkdwn",
                            "text": _cut(f"*Subject*\n{escape(finding.subject.name)}", 2000),
                        },
                    ],
                },
                {
                    "type": "context",
                    "elements": [
                        {
                            "type": "mrkdwn",
                            "text": f"erp-secrets at {to_iso(timestamp)} · dedup key "
                            f"`{escape(finding.dedup_key)}`",
                        }
                    ],
                },
            ],
        }

    def resolve_payload(
        self, dedup_key: str, finding: Mapping[str, Any] | None, timestamp: datetime
    ) -> dict[str, Any]:
        """The exact message saying the condition under ``dedup_key`` has cleared."""
        title = "Condition cleared"
        name = dedup_key
        if finding:
            restored = Finding.from_dict(finding)
            title, name = restored.title, restored.subject.name
        text = f":white_check_mark: Resolved: {title}: {name}"
        return {
            "text": _cut(escape(text), _TEXT_MAX),
            "blocks": [
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": _cut(
                            f"*Resolved* :white_check_mark: {escape(title)}: {escape(name)}",
                            _TEXT_MAX,
                        ),
                    },
                },
                {
                    "type": "context",
                    "elements": [
                        {
                            "type": "mrkdwn",
                            "text": f"erp-secrets at {to_iso(timestamp)} · dedup key "
                            f"`{escape(dedup_key)}`",
                        }
                    ],
                },
            ],
        }

    def digest_payload(self, findings: Sequence[Finding], timestamp: datetime) -> dict[str, Any]:
        """One message listing every open finding (the stateless Lambda's daily summary)."""
        worst = max(f.severity for f in findings)
        head = f"{len(findings)} secret-rotation finding(s)"
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": head}}
        ]
        for f in findings[:_DIGEST_MAX]:
            line = f"{_EMOJI[f.severity]} *{escape(f.title)}*: {escape(f.summary)}"
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": _cut(line, _TEXT_MAX)}}
            )
        if len(findings) > _DIGEST_MAX:
            more = len(findings) - _DIGEST_MAX
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": f"… and {more} more"}}
            )
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"erp-secrets at {to_iso(timestamp)}"}],
            }
        )
        first = findings[0]
        return {
            "text": _cut(
                escape(f"{_EMOJI[worst]} {head}: {first.title}: {first.summary}"), _TEXT_MAX
            ),
            "blocks": blocks,
        }

    def open(self, finding: Finding, timestamp: datetime) -> DeliveryResult:
        return self._send(self.open_payload(finding, timestamp), "open", finding.dedup_key)

    def resolve(
        self, dedup_key: str, finding: Mapping[str, Any] | None, timestamp: datetime
    ) -> DeliveryResult:
        return self._send(self.resolve_payload(dedup_key, finding, timestamp), "resolve", dedup_key)

    def digest(self, findings: Sequence[Finding], timestamp: datetime) -> DeliveryResult:
        return self._send(self.digest_payload(findings, timestamp), "digest", None)

    def _send(self, payload: dict[str, Any], action: str, key: str | None) -> DeliveryResult:
        return self.transport.post(
            self._url,
            payload,
            destination=self.name,
            action=action,
            dedup_key=key,
            secrets=[self._url],
        )
