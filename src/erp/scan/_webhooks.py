"""On-call delivery credentials: PagerDuty routing (integration) keys and Slack webhook URLs."""

from __future__ import annotations

import re
from collections.abc import Iterator

from erp.scan._assign import value_after
from erp.scan._base import Detector, Hit, redact
from erp.scan._text import ALNUM_CLASS, Text, find_all
from erp.scan.rules import is_documentation_example

__all__ = ["PagerDutyRoutingKey", "SlackWebhookUrl"]

# A routing key is 32 letters and digits with no prefix: it needs its name beside it
# (routing_key, integration-key, service_key, pd_key, PAGERDUTY_..._KEY). The literal "key" is
# found first and the word before it checked: a regex alternation tried at every offset of the
# file is ten times slower.
_PD_WORDS = (b"routing", b"integration", b"service", b"pd")
_PD_VENDOR = re.compile(rb"pagerduty[a-z_-]{0,24}key")
_PD_NAME_TAIL = re.compile(rb"[\w.-]{0,20}")
_PD_VALUE = re.compile(rb"([A-Za-z0-9]{32})(?![A-Za-z0-9_-])")
# The US and EU Events API hosts; the key is the path segment after /integration/.
_PD_URL = re.compile(
    rb"events\.(?:eu\.)?pagerduty\.com/(?:integration|x-ere)/([A-Za-z0-9]{32})(?![A-Za-z0-9])"
)
# pdpyras takes the routing key as the first positional argument of its Events API sessions.
_PD_SESSION = re.compile(
    rb"(?:events|changeevents)api(?:v2)?session\([ \t]*(?:\r?\n[ \t]*)?[rbu]?[\"']"
    rb"([a-z0-9]{32})[\"']"
)

_SLACK = re.compile(
    rb"(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{10,300}"
)

_TEMPLATE_START = (b"{", b"$", b"<", b"%")
# A URL written as adjacent or concatenated string literals ("...T0/B0/" "token",
# '...' + '...'), or with JSON's escaped slashes (https:\/\/hooks.slack.com\/services\/...).
_GLUE = re.compile(rb"[\"'`][ \t]*(?:\+|\.|&)?[ \t]*(?:\\?\r?\n[ \t]*)?[rbuf]?[\"'`]|\\(?=/)")
_SLACK_REACH = 400


def _pd_word_before(lower: bytes, index: int) -> bool:
    """``routing``/``integration``/``service``/``pd`` (and one ``_`` or ``-``) end at ``index``."""
    before = lower[max(0, index - 12) : index]
    if before[-1:] in (b"_", b"-"):
        before = before[:-1]
    return before.endswith(_PD_WORDS)


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
        if not text.has_run(ALNUM_CLASS, 32):
            return  # no 32-character value anywhere
        lower = text.lower
        data = text.data
        seen: set[int] = set()
        ends = [index + 3 for index in find_all(lower, b"key") if _pd_word_before(lower, index)]
        if b"pagerduty" in lower:
            ends += [
                name.end()
                for i in find_all(lower, b"pagerduty")
                if (name := _PD_VENDOR.match(lower, i)) is not None
            ]
        candidates = []
        for end in ends:
            tail = _PD_NAME_TAIL.match(lower, end)
            match = value_after(lower, tail.end() if tail else end, _PD_VALUE, data)
            if match is None:
                match = value_after(lower, end, _PD_VALUE, data)
            if match is not None:
                candidates.append((match.start(1), match.group(1)))
        if b"pagerduty" in lower:
            candidates += [(m.start(1), m.group(1)) for m in _PD_URL.finditer(data)]
        if b"apisession(" in lower:
            candidates += [
                (m.start(1), data[m.start(1) : m.end(1)]) for m in _PD_SESSION.finditer(lower)
            ]
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
        if b"hooks.slack.com" not in data:
            return
        for index in find_all(data, b"hooks.slack.com"):
            start = max(0, index - 12)
            window = _GLUE.sub(b"", data[start : index + _SLACK_REACH])
            match = _SLACK.search(window)
            if match is None or match.start() > index - start:
                continue
            if window[match.end() : match.end() + 1] in _TEMPLATE_START:
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
            offset = data.rfind(b"http", start, index)
            yield Hit(
                offset if offset >= 0 else index,
                value,
                shown,
                is_documentation_example(value, parts[-1]),
            )
