"""Errors of the AWS backend: each names the secret, the region or the step, never a value.

Each sits in one branch of :mod:`erp.errors`: :class:`~erp.errors.ConfigError` when the setup
or the stored secret needs fixing, :class:`~erp.errors.TransientError` when the same call may
succeed later (AWS unreachable or throttling, a rotation already running). The CLI turns any
of them into one ``error: ...`` line and exit status 1.
"""

from __future__ import annotations

from erp.errors import ConfigError, TransientError

__all__ = [
    "AwsAccessDenied",
    "AwsConfigError",
    "AwsCredentialsMissing",
    "AwsSecretNotFound",
    "AwsUnavailable",
    "CronError",
    "RotationAbandoned",
    "RotationError",
    "RotationFailed",
    "RotationInProgress",
    "RotationNotEnabled",
    "RotationTestFailed",
    "RotationTokenRefused",
    "ScheduleError",
    "SecretFormatError",
    "StageNotFound",
]


class AwsConfigError(ConfigError):
    """The AWS setup is wrong: region, endpoint, parameters."""


class AwsCredentialsMissing(AwsConfigError):
    """No AWS credentials were found in the environment, profile or instance role."""


class AwsAccessDenied(AwsConfigError):
    """AWS refused the call: bad or expired credentials, or a missing IAM permission."""


class AwsSecretNotFound(AwsConfigError):
    """The secret does not exist in this region and account (or is scheduled for deletion)."""


class AwsUnavailable(TransientError):
    """AWS could not be reached or answered with a transient error; try again later."""


class SecretFormatError(ConfigError):
    """The secret's value is not what ``erp`` stores there (a JSON key-ring document)."""


class StageNotFound(ConfigError):
    """No version of the secret carries the requested staging label."""

    def __init__(self, secret_id: str, stage: str) -> None:
        self.secret_id = secret_id
        self.stage = stage
        super().__init__(
            f"secret {secret_id!r} has no version labelled {stage}"
            + (
                "; push a key ring first ('erp-secrets aws push')"
                if stage == "AWSCURRENT"
                else " (no rotation is in progress, or none has finished yet)"
            )
        )


class RotationError(ConfigError):
    """A rotation step could not complete; ``AWSCURRENT`` is unchanged unless stated."""


class RotationNotEnabled(RotationError):
    """The rotation Lambda was invoked for a secret whose rotation is disabled."""


class RotationTokenRefused(RotationError):
    """The request token names no version of the secret, or one not labelled AWSPENDING."""


class RotationTestFailed(RotationError):
    """``testSecret`` found the pending key ring unusable; the rotation must not finish."""


class RotationAbandoned(RotationError):
    """``AWSCURRENT`` moved during the rotation (a manual write); the pending ring is stale."""


class RotationFailed(RotationError):
    """The local driver gave up after its last attempt; the events say which step failed."""


class RotationInProgress(TransientError):
    """Another rotation holds ``AWSPENDING`` on a version that is not ``AWSCURRENT``."""

    def __init__(self, secret_id: str, version_id: str) -> None:
        self.secret_id = secret_id
        self.version_id = version_id
        super().__init__(
            f"a rotation is in progress (version {version_id}) for secret {secret_id}; wait for "
            "it to finish, or if it is stuck clear it as docs/aws.md shows, then retry"
        )


class ScheduleError(ConfigError):
    """Rotation rules Secrets Manager would reject (or that cannot be evaluated)."""


class CronError(ValueError):
    """A cron expression Secrets Manager would reject; the message says which field and why.

    A ``ValueError`` (a malformed string), wrapped in :class:`ScheduleError` by the rule parser.
    """
