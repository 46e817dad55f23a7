"""Where alerts go: routing key and webhook (secrets, via ``get_secret``) and delivery settings.

Secrets, resolved like every secret (environment, vault file, AWS Secrets Manager):

``ERP_PAGERDUTY_ROUTING_KEY``
    the PagerDuty Events API v2 integration key; unset: no PagerDuty.
``ERP_SLACK_WEBHOOK_URL``
    the Slack incoming-webhook URL; unset: no Slack.

Plain settings (environment): ``ERP_PAGERDUTY_EVENTS_URL`` (default the public Events API),
``ERP_ALERT_MIN_SEVERITY`` (``info|warning|error|critical``, default ``warning``),
``ERP_ALERT_MAX_ATTEMPTS`` (5), ``ERP_ALERT_TIMEOUT_SECONDS`` (10),
``ERP_ALERT_BUDGET_SECONDS`` (120).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from erp._settings import read_choice, read_float, read_int, read_url, url_problem
from erp.alerts.delivery import RetryPolicy, Transport
from erp.alerts.findings import Severity
from erp.alerts.pagerduty import DEFAULT_EVENTS_URL, PagerDuty
from erp.alerts.router import Notifier
from erp.alerts.slack import Slack
from erp.errors import ConfigError, SecretNotFound

__all__ = ["ROUTING_KEY_NAME", "WEBHOOK_NAME", "AlertSettings"]

ROUTING_KEY_NAME = "ERP_PAGERDUTY_ROUTING_KEY"
WEBHOOK_NAME = "ERP_SLACK_WEBHOOK_URL"


def _check_url(url: str, where: str) -> None:
    """HTTPS, or HTTP to this machine (a local receiver). The URL never enters the message."""
    problem = url_problem(url.strip(), http_loopback_only=True)
    if problem is not None:
        raise ConfigError(
            f"{where} {problem}; it must be an https:// URL (plain http is allowed only to "
            "127.0.0.1); fix the value where it is stored"
        )


_ROUTING_KEY = re.compile(r"[A-Za-z0-9_-]{20,128}")


def _check_routing_key(key: str) -> None:
    """The shape of an Events API v2 integration key (32 letters and digits); never echoed."""
    if _ROUTING_KEY.fullmatch(key) is None:
        raise ConfigError(
            f"secret {ROUTING_KEY_NAME} is not a PagerDuty integration key (20 to 128 letters, "
            "digits, - or _; PagerDuty shows 32); copy the Integration Key of the service's "
            "Events API v2 integration, where the secret is stored"
        )


@dataclass(frozen=True)
class AlertSettings:
    """Destinations and delivery settings. Secrets never show in ``repr``."""

    pagerduty_routing_key: str | None = field(default=None, repr=False)
    slack_webhook_url: str | None = field(default=None, repr=False)
    pagerduty_url: str = DEFAULT_EVENTS_URL
    min_severity: Severity = Severity.WARNING
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def configured(self) -> bool:
        return bool(self.pagerduty_routing_key or self.slack_webhook_url)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        lookup: Callable[[str], str] | None = None,
    ) -> AlertSettings:
        """Read the settings; the two secrets through ``lookup`` (default ``get_secret``)."""
        env = os.environ if environ is None else environ
        if lookup is None:
            from erp.secrets import get_secret

            lookup = get_secret

        def secret(name: str) -> str | None:
            try:
                value = lookup(name).strip()
            except SecretNotFound:
                return None
            return value or None

        routing_key = secret(ROUTING_KEY_NAME)
        webhook = secret(WEBHOOK_NAME)
        if webhook:
            _check_url(webhook, f"secret {WEBHOOK_NAME}")
        if routing_key:
            _check_routing_key(routing_key)
        events_url = (
            read_url("ERP_PAGERDUTY_EVENTS_URL", http_loopback_only=True, env=env)
            or DEFAULT_EVENTS_URL
        )
        level = read_choice(
            "ERP_ALERT_MIN_SEVERITY", "warning", ("info", "warning", "error", "critical"), env=env
        )
        min_severity = Severity(level)
        retry = RetryPolicy(
            max_attempts=read_int("ERP_ALERT_MAX_ATTEMPTS", 5, minimum=1, maximum=100, env=env),
            timeout_seconds=read_float(
                "ERP_ALERT_TIMEOUT_SECONDS", 10.0, minimum=0.1, maximum=300, unit="seconds", env=env
            ),
            budget_seconds=read_float(
                "ERP_ALERT_BUDGET_SECONDS", 120.0, minimum=0, maximum=3600, unit="seconds", env=env
            ),
        )
        return cls(routing_key, webhook, events_url, min_severity, retry)

    def notifiers(self, transport: Transport | None = None) -> list[Notifier]:
        """PagerDuty and/or Slack, as configured, sharing one transport."""
        transport = transport or Transport(self.retry)
        out: list[Notifier] = []
        if self.pagerduty_routing_key:
            out.append(
                PagerDuty(self.pagerduty_routing_key, transport=transport, url=self.pagerduty_url)
            )
        if self.slack_webhook_url:
            out.append(Slack(self.slack_webhook_url, transport=transport))
        return out
