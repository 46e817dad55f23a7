"""The one way ``erp`` talks to AWS: client factory, call wrapper, stage names, error translation.

Every AWS caller (the cache, the rotation Lambda, the driver, the operator commands, the alert
check) builds its clients with :func:`secretsmanager_client` / :func:`events_client` and makes
its calls through :func:`call`, so all of them get the same timeouts, the same region and
credential checks before the first request, and the same one-sentence ``erp`` errors.

The endpoint follows boto3's standard configuration (``AWS_ENDPOINT_URL_SECRETS_MANAGER``,
``AWS_ENDPOINT_URL``, ``endpoint_url`` in the AWS config file's profile or ``services``
section), so VPC interface and FIPS endpoints need no code; ``--endpoint-url``,
``ERP_AWS_ENDPOINT_URL`` (an older alias) and the Lambda's ``SECRETS_MANAGER_ENDPOINT`` (as in
AWS's rotation templates) override it. boto3 is imported inside functions, so nothing pays
for it until AWS is used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from erp._settings import (
    fingerprinted,
    looks_like_secret,
    read_float,
    read_int,
    read_pattern,
    read_text,
    read_url,
    shown,
    url_problem,
)
from erp.aws.errors import (
    AwsAccessDenied,
    AwsConfigError,
    AwsCredentialsMissing,
    AwsSecretNotFound,
    AwsUnavailable,
)
from erp.errors import ErpError

__all__ = [
    "CURRENT",
    "PENDING",
    "PREVIOUS",
    "STAGES",
    "AwsSettings",
    "call",
    "check_secret_id",
    "endpoint_of",
    "error_code",
    "events_client",
    "is_loopback",
    "region_of_arn",
    "secretsmanager_client",
    "sns_client",
    "translate_error",
]

CURRENT, PENDING, PREVIOUS = "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"
"""Secrets Manager's staging labels: the live version, the one a rotation builds, the last."""
STAGES = (CURRENT, PENDING, PREVIOUS)

_DENIED = {
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "InvalidClientTokenId",
    "ExpiredTokenException",
    "ExpiredToken",
}
_KMS = {
    # Secrets Manager's codes when the secret's KMS key refuses it, with the permission to grant
    "EncryptionFailure": "kms:GenerateDataKey",
    "DecryptionFailure": "kms:Decrypt",
    "KMSAccessDeniedException": "kms:Decrypt and kms:GenerateDataKey",
    "KMSDisabledException": "an enabled key (the key is disabled)",
    "KMSInvalidStateException": "a usable key (the key is pending deletion or import)",
    "KMSNotFoundException": "an existing key (check KmsKeyId)",
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


REGION_PATTERN = r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}"
"""Every AWS region name: us-east-1, eu-central-2, us-gov-west-1, cn-northwest-1, ..."""
_REGION_EXPECT = "an AWS region name such as us-east-1"
_ENDPOINT_SOURCES = "--endpoint-url, ERP_AWS_ENDPOINT_URL or SECRETS_MANAGER_ENDPOINT"


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
        """Read ``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_PROFILE`` and the ``ERP_AWS_*`` knobs.

        ``ERP_AWS_ENDPOINT_URL`` overrides boto3's endpoint resolution (else ``None``: boto3
        reads ``AWS_ENDPOINT_URL_SECRETS_MANAGER``, ``AWS_ENDPOINT_URL`` and the config file).
        ``ERP_AWS_MAX_ATTEMPTS`` (1-10, default 2) sets the SDK's attempts per call;
        ``ERP_AWS_CONNECT_TIMEOUT_SECONDS`` / ``ERP_AWS_READ_TIMEOUT_SECONDS`` the timeouts.
        """
        # boto3 reads AWS_ENDPOINT_URL(_SECRETS_MANAGER) and the rest of its configuration
        # (credentials, config file, AWS_MAX_ATTEMPTS, ...) itself; that is boto3's business.
        # The endpoint variables are checked here only so that a malformed one is one sentence
        # naming it, not boto3's "Invalid endpoint: <the whole URL>" traceback.
        for name in ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL"):
            read_url(name, env=environ)
        return cls(
            region=read_pattern("AWS_REGION", REGION_PATTERN, _REGION_EXPECT, env=environ)
            or read_pattern("AWS_DEFAULT_REGION", REGION_PATTERN, _REGION_EXPECT, env=environ),
            endpoint_url=read_url("ERP_AWS_ENDPOINT_URL", env=environ),
            profile=read_text("AWS_PROFILE", env=environ),
            connect_timeout_seconds=read_float(
                "ERP_AWS_CONNECT_TIMEOUT_SECONDS", 3.0, minimum=0.1, maximum=300, env=environ
            ),
            read_timeout_seconds=read_float(
                "ERP_AWS_READ_TIMEOUT_SECONDS", 5.0, minimum=0.1, maximum=900, env=environ
            ),
            max_attempts=read_int("ERP_AWS_MAX_ATTEMPTS", 2, minimum=1, maximum=10, env=environ),
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


def is_loopback(url: str | None) -> bool:
    """Whether ``url`` points at this machine (a local emulator), never at AWS."""
    if not url:
        return False
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def check_secret_id(secret_id: str, where: str = "ERP_AWS_SECRET_ID or --secret-id") -> str:
    """``secret_id`` stripped, if it can be a Secrets Manager name or ARN; else one sentence.

    A value that looks like a key pasted into the wrong variable is refused before it reaches
    a request, a log line or an error message, and named by its fingerprint only.
    """
    text = secret_id.strip()
    if not text:
        raise AwsConfigError(f"the AWS secret id is empty; set {where} to the secret's name")
    if looks_like_secret(text):
        raise AwsConfigError(
            f"the AWS secret id {fingerprinted(text)} looks like a secret value, not the name "
            f"of a secret; set {where} to the secret's name (e.g. erp/jwt-keys) or its ARN"
        )
    if _SECRET_NAME.fullmatch(text) is None and _SECRET_ARN.fullmatch(text) is None:
        raise AwsConfigError(
            f"the AWS secret id {shown(text)} is neither a Secrets Manager name (letters, "
            f"digits and /_+=.@-, at most 512) nor a secret ARN; set {where} to one"
        )
    return text


_SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
# a name of up to 512 characters, and the "-" and six random characters AWS adds to it
_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[^\s]{1,519}")


def endpoint_of(client: Any) -> str:
    """The endpoint a client resolved (boto3's standard configuration included)."""
    return str(getattr(getattr(client, "meta", None), "endpoint_url", "") or "")


def _session(settings: AwsSettings) -> Any:
    from erp._extras import require

    boto3 = require("boto3")  # only the AWS backend pays for boto3; a missing [aws] is named
    import botocore.exceptions

    try:
        return boto3.session.Session(profile_name=settings.profile, region_name=settings.region)
    except botocore.exceptions.ProfileNotFound as exc:
        # boto3 reads AWS_PROFILE itself when no profile is given, blank values included
        profile = str(exc.kwargs.get("profile", settings.profile))
        raise AwsConfigError(
            f"AWS profile {shown(profile)} is not in your AWS config; fix AWS_PROFILE or --profile"
        ) from None


def _checked_settings(settings: AwsSettings) -> None:
    """Region and endpoint given as arguments or flags get the checks their variables get."""
    if settings.endpoint_url is not None:
        problem = url_problem(settings.endpoint_url)
        if problem is not None:
            raise AwsConfigError(
                f"the Secrets Manager endpoint URL {shown(settings.endpoint_url)} (from "
                f"{_ENDPOINT_SOURCES}) {problem}; give an https:// or http:// URL with a host"
            )
    if settings.region is not None and re.fullmatch(REGION_PATTERN, settings.region) is None:
        raise AwsConfigError(
            f"the AWS region {_region_text(settings.region)} (--region or AWS_REGION) is "
            f"not {_REGION_EXPECT}; fix it"
        )


def _region_text(region: str) -> str:
    return shown(region)


def _checked_session(settings: AwsSettings, secret_id: str | None) -> tuple[Any, str]:
    _checked_settings(settings)
    if secret_id is not None:
        check_secret_id(secret_id)
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


def _client(service: str, settings: AwsSettings, secret_id: str | None) -> Any:
    session, region = _checked_session(settings, secret_id)
    params: dict[str, Any] = {"region_name": region, "config": _config(settings)}
    if settings.endpoint_url:  # else boto3's standard endpoint configuration applies
        params["endpoint_url"] = settings.endpoint_url
    import botocore.exceptions

    try:
        return session.client(service, **params)
    except botocore.exceptions.InvalidRegionError:
        raise AwsConfigError(
            f"the AWS region {_region_text(region)} (from your AWS profile) is not "
            f"{_REGION_EXPECT}; fix region in the AWS config file or set AWS_REGION"
        ) from None
    except ValueError:
        # boto3's "Invalid endpoint: <url>" would print a URL that may carry credentials
        raise AwsConfigError(
            "the AWS endpoint URL is not a valid http(s) URL; fix endpoint_url in the AWS "
            "config file (or AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_SECRETS_MANAGER)"
        ) from None


def secretsmanager_client(settings: AwsSettings, secret_id: str | None = None) -> Any:
    """A Secrets Manager client; raises :class:`AwsConfigError` before any request if unusable.

    Checks: a region is configured, it matches the region of ``secret_id`` when that is an
    ARN, and credentials can be found.
    """
    return _client("secretsmanager", settings, secret_id)


def events_client(settings: AwsSettings) -> Any:
    """An EventBridge client with the same region, endpoint and credentials checks."""
    return _client("events", settings, None)


def sns_client(settings: AwsSettings) -> Any:
    """An SNS client (the alert topic) with the same region, endpoint and credentials checks."""
    return _client("sns", settings, None)


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (``None`` for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        return str(code) if code else None
    return None


def call(
    client: Any,
    operation: str,
    *,
    where: str = "AWS",
    expect: tuple[str, ...] = (),
    **params: Any,
) -> Any:
    """``client.<operation>(**params)``, with AWS's exceptions turned into ``erp`` errors.

    An error whose code is in ``expect`` returns ``None`` instead (the caller's "not there
    yet" case, e.g. ``ResourceNotFoundException`` for an empty pending version).
    """
    import botocore.exceptions as bce

    try:
        return getattr(client, operation)(**params)
    except (bce.BotoCoreError, bce.ClientError) as exc:
        if expect and error_code(exc) in expect:
            return None
        secret = params.get("SecretId") or params.get("Name") or "?"
        raise translate_error(exc, what=f"{operation} on secret {secret}", where=where) from None


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
        response = getattr(exc, "response", {})
        message = str((response.get("Error") or {}).get("Message") or "")
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode", 0)
        detail = f"{code}: {message}" if message else code
        if code == "ResourceNotFoundException":
            return AwsSecretNotFound(
                f"{what} failed in {where}: {detail}. Check the secret id and region "
                "(ERP_AWS_SECRET_ID, AWS_REGION), or create it with "
                "'erp-secrets aws push --create'"
            )
        if code in _KMS:
            return AwsAccessDenied(
                f"KMS refused {what} in {where}: {detail}. The secret is encrypted with a KMS "
                f"key; the caller needs {_KMS[code]} on it (through "
                "secretsmanager.<region>.amazonaws.com) in both its IAM policy and the key "
                "policy; see docs/infra.md"
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
            "check the network, the endpoint URL or the VPC endpoint (docs/aws.md)"
        )
    if isinstance(exc, bce.ParamValidationError):
        return AwsConfigError(f"{what} failed: invalid request parameters ({exc})")
    if isinstance(exc, bce.BotoCoreError):
        return AwsConfigError(f"{what} failed in {where}: {type(exc).__name__}: {exc}")
    return AwsConfigError(f"{what} failed in {where}: {type(exc).__name__}")
