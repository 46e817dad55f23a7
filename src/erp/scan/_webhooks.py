"""On-call delivery credentials: PagerDuty routing (integration) keys and Slack webhook URLs."""

from __future__ import annotations

import re
from collections.abc import Iterator

from erp.scan._base import Detector, Hit, redact
from erp.scan._text import Text, find_all
from erp.scan.rules import is_documentation_example

__all__ = ["PagerDutyRoutingKey", "SlackWebhookUrl"]

# A routing key is 32 letters and digits with no prefix: it needs its name beside it
# (routing_key, integration-key, service_key, pd_key, PAGERDUTY_..._KEY). The literal "key" is
# found first and the word before it checked: a regex alternation tried at every offset of the
# file is ten times slower.
_KEY = re.compile(rb"key")
_PD_WORD = re.compile(rb"(?:routing|integration|service|pd)[_-]?$")
_PD_VENDOR = re.compile(rb"pagerduty[a-z_-]{0,24}key")
_PD_ASSIGNED = re.compile(
    rb"[\w\"'\]\)-]{0,20}?[ \t]{0,4}(?:=>|:=|=|:|,|\(|[ \t])\s{0,4}(?:[rbuRBU]?[\"'`])?"
    rb"([A-Za-z0-9]{32})(?![A-Za-z0-9])"
)
_PD_URL = re.compile(rb"events\.pagerduty\.com/integration/([A-Za-z0-9]{32})(?![A-Za-z0-9])")

_SLACK = re.compile(
    rb"(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{10,300}"
)

_TEMPLATE_START = (b"{", b"$", b"<", b"%")


def _routing_key_shape(value: str) -> bool:
    return (
        any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and len(set(value)) >= 10
    )


class PagerDutyRoutingKey(Detector):
    name = "PagerDuty Routing Key"
    slug = "pagerduty-routing-key"
    plugin = "ErpPagerDutyRoutingKeyDetector"
    summary = (
        "32-character keys assigned to a routing/integration/service key name, "
        "or in an events.pagerduty.com/integration/ URL"
    )

    def find(self, text: Text) -> Iterator[Hit]:
        lower = text.lower
        if b"key" not in lower and b"pagerduty" not in lower:
            return
        data = text.data
        seen: set[int] = set()
        ends = [
            key.end()
            for key in _KEY.finditer(lower)
            if _PD_WORD.search(lower, max(0, key.start() - 12), key.start()) is not None
        ]
        if b"pagerduty" in lower:
            ends += [
                name.end()
                for i in find_all(lower, b"pagerduty")
                if (name := _PD_VENDOR.match(lower, i)) is not None
            ]
        candidates = [
            (m.start(1), m.group(1))
            for end in ends
            if (m := _PD_ASSIGNED.match(data, end)) is not None
        ]
        if b"pagerduty" in lower:
            candidates += [(m.start(1), m.group(1)) for m in _PD_URL.finditer(data)]
        for offset, raw in candidates:
            value = raw.decode()
            if offset in seen or not _routing_key_shape(value):
                continue
            seen.add(offset)
            yield Hit(offset, value, redact(value), is_documentation_example(value))


class SlackWebhookUrl(Detector):
    name = "Slack Webhook URL"
    slug = "slack-webhook"
    plugin = "ErpSlackWebhookDetector"
    summary = "https://hooks.slack.com/services|workflows|triggers/T…/…/<token> URLs"

    def find(self, text: Text) -> Iterator[Hit]:
        data = text.data
        if b"hooks.slack.com/" not in data:
            return
        for match in _SLACK.finditer(data):
            if data[match.end() : match.end() + 1] in _TEMPLATE_START:
                continue  # an f-string or template: the token is not in the file
            value = match.group().decode().rstrip("/")
            path = value.split("hooks.slack.com/", 1)[1]
            kind, *parts = path.split("/")
            if len(parts) < 3 or not parts[0].startswith("T") or len(parts[-1]) < 16:
                continue
            if kind == "services" and not parts[1].startswith("B"):
                continue
            prefix = value[: value.index("hooks.slack.com/") + len("hooks.slack.com/")]
            shown = f"{prefix}{kind}/…({len(value)} chars)"
            yield Hit(match.start(), value, shown, is_documentation_example(value, parts[-1]))
