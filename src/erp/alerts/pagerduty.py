"""PagerDuty Events API v2: ``trigger`` a finding under its dedup key, ``resolve`` it later.

A trigger with a dedup key that is already open adds to that alert instead of paging again,
and a ``resolve`` with the same key closes it. The routing key is a secret: it travels only
in the request body and never appears in ``repr``, results or errors.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from erp.alerts.delivery import DeliveryResult, Transport
from erp.alerts.findings import Finding
from erp.clock import to_iso

__all__ = ["DEFAULT_EVENTS_URL", "PagerDuty", "finding_source"]

DEFAULT_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_SUMMARY_MAX = 1024


def finding_source(finding: Finding) -> str:
    """PagerDuty's ``source``: the secret's ARN, or the host that holds the key ring."""
    subject = finding.subject
    arn = finding.details.get("arn")
    if isinstance(arn, str) and arn:
        return arn
    if subject.id.startswith("aws:"):
        return subject.id[4:]
    parts = subject.id.split(":", 2)
    return parts[1] if len(parts) == 3 and parts[1] else socket.gethostname()


class PagerDuty:
    """One PagerDuty service, addressed by its integration's routing key."""

    name = "pagerduty"

    def __init__(
        self, routing_key: str, *, transport: Transport, url: str = DEFAULT_EVENTS_URL
    ) -> None:
        if not routing_key:
            raise ValueError("the PagerDuty routing key is empty")
        self._routing_key = routing_key
        self.transport = transport
        self.url = url

    def __repr__(self) -> str:
        return f"PagerDuty(url={self.url!r}, routing_key=***)"

    def trigger_payload(self, finding: Finding, timestamp: datetime) -> dict[str, Any]:
        """The exact ``trigger`` event for ``finding``."""
        details: dict[str, Any] = {
            "subject": finding.subject.name,
            "condition": finding.condition.value,
            "due_at": to_iso(finding.due_at) if finding.due_at else None,
            **dict(finding.details),
        }
        return {
            "routing_key": self._routing_key,
            "event_action": "trigger",
            "dedup_key": finding.dedup_key,
            "client": "erp-secrets",
            "payload": {
                "summary": f"{finding.title}: {finding.summary}"[:_SUMMARY_MAX],
                "source": finding_source(finding),
                "severity": finding.severity.value,
                "timestamp": to_iso(timestamp),
                "component": finding.subject.kind,
                "group": "secret-rotation",
                "class": finding.condition.value,
                "custom_details": details,
            },
        }

    def resolve_payload(self, dedup_key: str) -> dict[str, Any]:
        """The exact ``resolve`` event for ``dedup_key``."""
        return {
            "routing_key": self._routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        }

    def open(self, finding: Finding, timestamp: datetime) -> DeliveryResult:
        return self._send(self.trigger_payload(finding, timestamp), "trigger", finding.dedup_key)

    def resolve(
        self, dedup_key: str, finding: Mapping[str, Any] | None, timestamp: datetime
    ) -> DeliveryResult:
        return self._send(self.resolve_payload(dedup_key), "resolve", dedup_key)

    def _send(self, payload: dict[str, Any], action: str, key: str) -> DeliveryResult:
        return self.transport.post(
            self.url,
            payload,
            destination=self.name,
            action=action,
            dedup_key=key,
            secrets=[self._routing_key],
        )
