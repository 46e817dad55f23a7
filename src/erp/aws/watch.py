"""Rotate on AWS: ``RotateSecret``, then watch the rotation's steps in the version stages.

On AWS the service orchestrates a rotation and the Lambda does the work, so
``erp-secrets aws rotate`` only asks for one and follows it. What a caller can see from the
outside is the token's version: created empty and labelled ``AWSPENDING`` (the service
started, ``createSecret`` runs), holding a value (``createSecret`` stored the new ring;
``setSecret``, ``testSecret``, ``finishSecret`` run), labelled ``AWSCURRENT`` (finished),
or no longer labelled at all (the Lambda gave the rotation up). Polling uses
``DescribeSecret`` and at most one ``GetSecretValue`` per poll, with an injected sleep.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from erp.aws.client import CURRENT, PENDING, call
from erp.aws.errors import AwsConfigError, RotationFailed, RotationInProgress

__all__ = ["ServiceRotation", "rotate_with_service"]

STARTED = "started: AWSPENDING is on an empty version; createSecret runs"
CREATED = "createSecret stored the new key ring; setSecret, testSecret, finishSecret run"
FINISHED = "finishSecret moved AWSCURRENT to the new version"


@dataclass(frozen=True)
class ServiceRotation:
    """What ``rotate_with_service`` saw: the token and each step it observed, in order."""

    secret_arn: str
    token: str
    previous_version: str
    steps: tuple[str, ...] = field(default=())
    ok: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "secret": self.secret_arn,
            "token": self.token,
            "previous_version": self.previous_version,
            "steps": list(self.steps),
        }


def _labels(meta: Any) -> dict[str, list[str]]:
    return {str(v): list(s or ()) for v, s in (meta.get("VersionIdsToStages") or {}).items()}


def _holder(versions: dict[str, list[str]], stage: str) -> str | None:
    return next((v for v, stages in versions.items() if stage in stages), None)


def rotate_with_service(
    client: Any,
    secret_id: str,
    *,
    where: str = "AWS",
    timeout_seconds: float = 900.0,
    poll_seconds: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    on_step: Callable[[str], None] = lambda _step: None,
    token_factory: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> ServiceRotation:
    """Start a rotation with ``RotateSecret`` and wait until it finishes or fails.

    :class:`RotationInProgress` (nothing started) if ``AWSPENDING`` is on another version;
    :class:`RotationFailed` if the rotation was given up or is still running at the timeout.
    """
    meta = call(client, "describe_secret", where=where, SecretId=secret_id)
    arn = str(meta.get("ARN") or secret_id)
    if not meta.get("RotationEnabled") and not meta.get("RotationLambdaARN"):
        raise AwsConfigError(
            f"secret {arn} has no rotation Lambda: deploy infra/template.yaml (its "
            "RotationSchedule attaches erp.aws.lambda_rotation.lambda_handler) or run "
            "'aws secretsmanager rotate-secret --rotation-lambda-arn ...' once"
        )
    versions = _labels(meta)
    current = _holder(versions, CURRENT)
    pending = _holder(versions, PENDING)
    if pending is not None and pending != current:
        raise RotationInProgress(arn, pending)
    token = token_factory()
    try:
        call(client, "rotate_secret", where=where, SecretId=arn, ClientRequestToken=token)
    except AwsConfigError as exc:
        holder = _holder(
            _labels(call(client, "describe_secret", where=where, SecretId=arn)), PENDING
        )
        if holder is not None and holder != token and "previous rotation" in str(exc).lower():
            raise RotationInProgress(arn, holder) from None
        raise
    seen: list[str] = []

    def report(step: str) -> None:
        if step not in seen:
            seen.append(step)
            on_step(step)

    deadline = monotonic() + timeout_seconds
    while True:
        versions = _labels(call(client, "describe_secret", where=where, SecretId=arn))
        stages = versions.get(token)
        if stages is not None and CURRENT in stages:
            report(FINISHED)
            return ServiceRotation(arn, token, str(current), tuple(seen))
        if stages is not None and PENDING in stages:
            report(STARTED)
            if _has_value(client, arn, token, where):
                report(CREATED)
        elif stages is not None or seen:
            raise RotationFailed(
                f"the rotation of secret {arn} (version {token}) failed: AWSPENDING was removed "
                "before finishSecret, so the Lambda gave it up; AWSCURRENT is unchanged. Read "
                "the rotation Lambda's logs (CloudWatch) for the step and the reason"
            )
        if monotonic() >= deadline:
            raise RotationFailed(
                f"the rotation of secret {arn} (version {token}) is still running after "
                f"{timeout_seconds:.0f} s ({seen[-1] if seen else 'not started'}); follow it "
                "with 'erp-secrets aws status'"
            )
        sleep(poll_seconds)


def _has_value(client: Any, arn: str, token: str, where: str) -> bool:
    found = call(
        client,
        "get_secret_value",
        where=where,
        expect=("ResourceNotFoundException",),
        SecretId=arn,
        VersionId=token,
        VersionStage=PENDING,
    )
    return found is not None
