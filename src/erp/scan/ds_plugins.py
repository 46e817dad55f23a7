"""The project's detectors as detect-secrets plugins (load with ``--plugin`` or a baseline path).

detect-secrets loads custom plugins from a file path, for example::

    detect-secrets scan --plugin src/erp/scan/ds_plugins.py --no-verify
    # or in .secrets.baseline: {"name": "ErpFernetKeyDetector",
    #                           "path": "file://src/erp/scan/ds_plugins.py"}

Each plugin reports exactly what ``erp-secrets scan`` reports for its detector (same secret
type, same secret value, so the same baseline hash). They subclass ``RegexBasedDetector``
so detect-secrets' ``is_likely_id_string`` filter leaves them alone.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from detect_secrets.core.potential_secret import PotentialSecret
from detect_secrets.plugins.base import RegexBasedDetector

from erp.scan._dsbridge import secrets_in_string, secrets_on_line

__all__ = [
    "ErpAwsAccessKeyIdDetector",
    "ErpAwsArnDetector",
    "ErpAwsSecretAccessKeyDetector",
    "ErpFernetKeyDetector",
    "ErpJwtSecretDetector",
    "ErpPagerDutyRoutingKeyDetector",
    "ErpPrivateKeyDetector",
    "ErpSlackWebhookDetector",
]


class _ErpPlugin(RegexBasedDetector):
    """Shared behaviour; ``secret_type`` stays abstract here so detect-secrets skips this class."""

    denylist = ()
    erp_detector = ""
    """Slug of the :mod:`erp.scan.detectors` detector this plugin wraps."""

    def analyze_line(
        self,
        filename: str,
        line: str,
        line_number: int = 0,
        context: Any = None,
        **kwargs: Any,
    ) -> set[Any]:
        lines = list(context.lines) if context is not None else [line]
        index = context.target_index if context is not None else 0
        values = secrets_on_line(self.erp_detector, filename, line_number, lines, index)
        return {
            PotentialSecret(
                type=self.secret_type,
                filename=filename,
                secret=value,
                line_number=line_number,
            )
            for value in values
        }

    def analyze_string(self, string: str) -> Generator[str, None, None]:
        yield from secrets_in_string(self.erp_detector, string)


class ErpFernetKeyDetector(_ErpPlugin):
    """Fernet keys (url-safe base64 of 32 bytes)."""

    secret_type = "Fernet Key"  # noqa: S105 - a type name
    erp_detector = "fernet-key"


class ErpJwtSecretDetector(_ErpPlugin):
    """HS256 secrets in JWT_SECRETS maps, jwt_secrets.json and JWT secret assignments."""

    secret_type = "JWT Signing Secret"  # noqa: S105 - a type name
    erp_detector = "jwt-secret"


class ErpAwsArnDetector(_ErpPlugin):
    """ARNs naming an AWS account (aws, aws-cn, aws-us-gov partitions)."""

    secret_type = "AWS ARN"  # noqa: S105 - a type name
    erp_detector = "aws-arn"


class ErpAwsAccessKeyIdDetector(_ErpPlugin):
    """AWS access key ids (AKIA..., ASIA...)."""

    secret_type = "AWS Access Key ID"  # noqa: S105 - a type name
    erp_detector = "aws-access-key-id"


class ErpAwsSecretAccessKeyDetector(_ErpPlugin):
    """AWS secret access keys beside their name or key id."""

    secret_type = "AWS Secret Access Key"  # noqa: S105 - a type name
    erp_detector = "aws-secret-access-key"


class ErpPrivateKeyDetector(_ErpPlugin):
    """PEM private-key blocks with a body."""

    secret_type = "Private Key Block"  # noqa: S105 - a type name
    erp_detector = "private-key"


class ErpPagerDutyRoutingKeyDetector(_ErpPlugin):
    """PagerDuty Events API routing (integration) keys."""

    secret_type = "PagerDuty Routing Key"  # noqa: S105 - a type name
    erp_detector = "pagerduty-routing-key"


class ErpSlackWebhookDetector(_ErpPlugin):
    """Slack incoming-webhook and workflow URLs."""

    secret_type = "Slack Webhook URL"  # noqa: S105 - a type name
    erp_detector = "slack-webhook"
