"""The project's detectors, in report order, and lookup by slug or detect-secrets type."""

from __future__ import annotations

from erp.scan._aws import AwsAccessKeyId, AwsArn, AwsSecretAccessKey
from erp.scan._base import Detector, Hit, redact
from erp.scan._jwt import JwtSigningSecret
from erp.scan._keys import FernetKey, PrivateKeyBlock
from erp.scan._webhooks import PagerDutyRoutingKey, SlackWebhookUrl

__all__ = ["DETECTORS", "Detector", "Hit", "by_name", "by_slug", "redact"]

DETECTORS: tuple[Detector, ...] = (
    FernetKey(),
    JwtSigningSecret(),
    AwsArn(),
    AwsAccessKeyId(),
    AwsSecretAccessKey(),
    PrivateKeyBlock(),
    PagerDutyRoutingKey(),
    SlackWebhookUrl(),
)

_BY_SLUG = {d.slug: d for d in DETECTORS}
_BY_NAME = {d.name: d for d in DETECTORS}


def by_slug(slug: str) -> Detector:
    """The detector with this slug (``KeyError`` if none)."""
    return _BY_SLUG[slug]


def by_name(name: str) -> Detector:
    """The detector whose name (detect-secrets secret type) is ``name`` (``KeyError`` if none)."""
    return _BY_NAME[name]
