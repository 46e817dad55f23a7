"""boto3 clients for Secrets Manager and EventBridge, and AWS errors turned into ``erp`` errors.

boto3 is imported here, inside functions, so nothing pays for it until the AWS backend is
used. Region and credentials are checked before the first call, so a missing one is one
clear error and no request is sent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from erp.aws.errors import (
    AwsAccessDenied,
    AwsConfigError,
    AwsCredentialsMissing,
    AwsSecretNotFound,
    AwsUnavailable,
)
from erp.errors import ErpError

__all__ = [
    "AwsSettings",
    "CallCounter",
    "error_code",
    "events_client",
    "region_of_arn",
    "secretsmanager_client",
    "translate_error",
]

_DENIED = {
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "InvalidClientTokenId",
    "ExpiredTokenException",
    "ExpiredToken",
    "DecryptionFailure",
    "KMSAccessDeniedException",
}
_TRANSIENT = {
    "ThrottlingException",
    "TooManyRequestsException",
    "InternalServiceError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
}


@dataclass(frozen=True)
class AwsSettings:
    """Where and how to reach AWS. ``None`` fields fall back to boto3's own resolution."""

    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    connect_timeout_seconds: float = 3.0
    read_timeout_seconds: float = 5.0
    max_attempts: int = 2

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AwsSettings:
        """Read ``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_PROFILE`` and the endpoint.

        The endpoint is ``ERP_AWS_ENDPOINT_URL``, else ``AWS_ENDPOINT_URL_SECRETS_MANAGER``,
        else ``AWS_ENDPOINT_URL`` (an emulator such as moto or LocalStack).
        ``ERP_AWS_MAX_ATTEMPTS`` sets the SDK's attempts per call (default 2).
        """
        env = os.environ if environ is None else environ
        attempts_text = env.get("ERP_AWS_MAX_ATTEMPTS")
        attempts = 2
        if attempts_text:
            try:
                attempts = int(attempts_text)
            except ValueError:
                raise AwsConfigError(
                    f"environment variable ERP_AWS_MAX_ATTEMPTS={attempts_text!r} is not an "
                    "integer; set it to 1 or more"
                ) from None
            if attempts < 1:
                raise AwsConfigError("ERP_AWS_MAX_ATTEMPTS must be 1 or more")
        return cls(
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            endpoint_url=(
                env.get("ERP_AWS_ENDPOINT_URL")
                or env.get("AWS_ENDPOINT_URL_SECRETS_MANAGER")
                or env.get("AWS_ENDPOINT_URL")
                or None
            ),
            profile=env.get("AWS_PROFILE") or None,
            max_attempts=attempts,
        )

    def with_overrides(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
    ) -> AwsSettings:
        """These settings with the given (non-``None``) fields replaced."""
        return replace(
            self,
            region=region or self.region,
            endpoint_url=endpoint_url or self.endpoint_url,
            profile=profile or self.profile,
        )

    def where(self, region: str | None = None) -> str:
        """``region us-east-1 at http://127.0.0.1:5000``: for error messages."""
        place = f"region {region or self.region or '(unset)'}"
        return f"{place} at {self.endpoint_url}" if self.endpoint_url else place


def region_of_arn(secret_id: str) -> str | None:
    """The region field of a Secrets Manager ARN, or ``None`` for a plain name."""
    if not secret_id.startswith("arn:"):
        return None
    parts = secret_id.split(":")
    return parts[3] if len(parts) > 6 and parts[3] else None


def _session(settings: AwsSettings) -> Any:
    import boto3  # only the AWS backend pays for boto3
    import botocore.exceptions

    try:
        return boto3.session.Session(profile_name=settings.profile, region_name=settings.region)
    except botocore.exceptions.ProfileNotFound:
        raise AwsConfigError(
            f"AWS profile {settings.profile!r} is not in your AWS config; "
            "fix AWS_PROFILE or --profile"
        ) from None


def _checked_session(settings: AwsSettings, secret_id: str | None) -> tuple[Any, str]:
    session = _session(settings)
    region = session.region_name
    if not region:
        raise AwsConfigError(
            "no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in "
            "your AWS profile), or pass --region"
        )
    arn_region = region_of_arn(secret_id) if secret_id else None
    if arn_region is not None and arn_region != region:
        raise AwsConfigError(
            f"secret ARN is in region {arn_region} but the client is configured for {region}; "
            f"set AWS_REGION={arn_region} (or pass --region {arn_region})"
        )
    if session.get_credentials() is None:
        raise AwsCredentialsMissing(
            "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run with an IAM role"
        )
    return session, region


def _config(settings: AwsSettings) -> Any:
    from botocore.config import Config

    return Config(
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        retries={"max_attempts": settings.max_attempts, "mode": "standard"},
        user_agent_extra="erp-secrets",
    )


def secretsmanager_client(settings: AwsSettings, secret_id: str | None = None) -> Any:
    """A Secrets Manager client; raises :class:`AwsConfigError` before any request if unusable.

    Checks: a region is configured, it matches the region of ``secret_id`` when that is an
    ARN, and credentials can be found.
    """
    session, region = _checked_session(settings, secret_id)
    return session.client(
        "secretsmanager",
        region_name=region,
        endpoint_url=settings.endpoint_url,
        config=_config(settings),
    )


def events_client(settings: AwsSettings) -> Any:
    """An EventBridge client with the same region, endpoint and credentials checks."""
    session, region = _checked_session(settings, None)
    endpoint = settings.endpoint_url
    return session.client(
        "events", region_name=region, endpoint_url=endpoint, config=_config(settings)
    )


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (``None`` for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        return str(code) if code else None
    return None


def translate_error(exc: Exception, *, what: str, where: str) -> ErpError:
    """Turn a boto3/botocore exception into one clear ``erp`` error.

    ``what`` says what was being done ("reading AWSCURRENT of secret 'jwt'"), ``where``
    the region and endpoint. AWS error messages name ARNs and codes, never secret values.
    """
    if isinstance(exc, ErpError):
        return exc
    import botocore.exceptions as bce

    if isinstance(exc, (bce.NoCredentialsError, bce.PartialCredentialsError)):
        return AwsCredentialsMissing(
            f"{what} failed: no usable AWS credentials ({type(exc).__name__}); set "
            "AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use an IAM role"
        )
    if isinstance(exc, bce.NoRegionError):
        return AwsConfigError(f"{what} failed: no AWS region configured; set AWS_REGION")
    code = error_code(exc)
    if code is not None:
        message = str((getattr(exc, "response", {}).get("Error") or {}).get("Message") or "")
        status = (getattr(exc, "response", {}).get("ResponseMetadata") or {}).get(
            "HTTPStatusCode", 0
        )
        detail = f"{code}: {message}" if message else code
        if code == "ResourceNotFoundException":
            return AwsSecretNotFound(
                f"{what} failed in {where}: {detail}. Check the secret id and region "
                "(ERP_AWS_SECRET_ID, AWS_REGION), or create it with "
                "'erp-secrets aws push --create'"
            )
        if code in _DENIED:
            return AwsAccessDenied(
                f"AWS refused {what} in {where}: {detail}. Check the credentials and that the "
                "role may call this Secrets Manager action on the secret"
            )
        if code in _TRANSIENT or (isinstance(status, int) and status >= 500):
            return AwsUnavailable(f"{what} failed in {where}: {detail} (transient; retry later)")
        return AwsConfigError(f"{what} failed in {where}: {detail}")
    if isinstance(exc, (bce.EndpointConnectionError, bce.ConnectionError, bce.HTTPClientError)):
        return AwsUnavailable(
            f"{what} failed: AWS is unreachable in {where} ({type(exc).__name__}); "
            "check the network or the endpoint URL"
        )
    if isinstance(exc, bce.ParamValidationError):
        return AwsConfigError(f"{what} failed: invalid request parameters ({exc})")
    if isinstance(exc, bce.BotoCoreError):
        return AwsConfigError(f"{what} failed in {where}: {type(exc).__name__}: {exc}")
    return AwsConfigError(f"{what} failed in {where}: {type(exc).__name__}")


class CallCounter:
    """Counts the AWS API calls a client makes (one per operation, retries not included)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, *, model: Any = None, **_: Any) -> None:
        self.calls.append(getattr(model, "name", "?"))

    @property
    def total(self) -> int:
        return len(self.calls)

    def attach(self, client: Any) -> CallCounter:
        """Count every call ``client`` makes from now on; returns ``self``."""
        register: Callable[..., Any] = client.meta.events.register
        register("before-call.*.*", self)
        return self
