"""Lambda handler: SNS messages and EventBridge rotation events to PagerDuty and Slack.

It accepts what the template wires to it:

* an SNS event (``Records[].Sns.Message``) carrying a check report from
  :mod:`erp.alerts.lambda_check`, a Secrets Manager event, or a CloudWatch alarm;
* an EventBridge event itself (``RotationFailed``, ``RotationAbandoned``,
  ``TestRotationFailed`` open an alert; ``RotationSucceeded``/``TestRotationSucceeded``
  resolve it).

The routing key and webhook URL come from ``get_secret`` (in the template, from the secret
named by ``ERP_AWS_SECRET_ID``). Every delivery is logged as one JSON line without
secrets. If any delivery fails after its retries, or a message is not understood, the
handler raises after trying everything else, so Lambda retries the event and finally
parks it in the dead-letter queue: a failure is never silently dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from erp.alerts.config import AlertSettings
from erp.alerts.delivery import DeliveryResult, Transport
from erp.alerts.errors import DeliveryFailed, UnknownMessage
from erp.alerts.events import (
    EventAction,
    actions_for_alarm,
    actions_for_event,
    is_alarm,
    is_rotation_event,
)
from erp.alerts.findings import Report
from erp.alerts.router import AlertRouter
from erp.errors import ConfigError

__all__ = ["UnknownMessage", "handler", "messages_of"]


def messages_of(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The messages inside a Lambda event: SNS records, an SNS envelope, or the event."""
    records = event.get("Records")
    if isinstance(records, list):
        out = []
        for record in records:
            sns = record.get("Sns") if isinstance(record, Mapping) else None
            if not isinstance(sns, Mapping):
                raise UnknownMessage("a record without an Sns body: only SNS records are handled")
            out.append(_json(sns.get("Message")))
        return out
    if event.get("Type") == "Notification" and "Message" in event:
        return [_json(event.get("Message"))]
    return [event]


def _json(text: object) -> Mapping[str, Any]:
    try:
        value = json.loads(str(text))
    except ValueError:
        raise UnknownMessage("an SNS message that is not JSON") from None
    if not isinstance(value, Mapping):
        raise UnknownMessage(f"an SNS message holding a JSON {type(value).__name__}")
    return value


def _apply(router: AlertRouter, actions: list[EventAction]) -> list[DeliveryResult]:
    results: list[DeliveryResult] = []
    for action in actions:
        if action.action == "trigger" and action.finding is not None:
            results += router.trigger(action.finding, action.timestamp)
        else:
            results += router.resolve(action.key, action.finding, action.timestamp)
    return results


def handler(
    event: Mapping[str, Any],
    context: Any,
    *,
    settings: AlertSettings | None = None,
    transport: Transport | None = None,
) -> dict[str, Any]:
    """Deliver what ``event`` carries; raise :class:`DeliveryFailed` if anything failed."""
    settings = settings or AlertSettings.from_env()
    if not settings.configured:
        raise ConfigError(
            "no alert destination: set the secret ERP_PAGERDUTY_ROUTING_KEY and/or "
            "ERP_SLACK_WEBHOOK_URL"
        )
    router = AlertRouter(
        settings.notifiers(transport or Transport(settings.retry)),
        min_severity=settings.min_severity,
    )
    results: list[DeliveryResult] = []
    unknown: list[str] = []
    for message in messages_of(event):
        if message.get("type") == "erp.check":
            results += router.process(Report.from_dict(message))
        elif is_rotation_event(message):
            results += _apply(router, actions_for_event(message))
        elif is_alarm(message):
            results += _apply(router, actions_for_alarm(message))
        else:
            unknown.append(str(message.get("detail-type") or sorted(message)[:5]))
    for result in results:
        print(json.dumps({"erp": "notify", **result.to_dict()}))
    if any(not r.ok for r in results):
        raise DeliveryFailed(results)
    if unknown:
        raise UnknownMessage(f"{len(unknown)} message(s) not understood: {'; '.join(unknown)}")
    return {"delivered": len(results), "failed": 0}
