"""The local rotation driver: what Secrets Manager does around the rotation Lambda.

Used against an emulator endpoint only (``erp-secrets aws rotate`` calls ``RotateSecret`` on
real AWS), and by the strict emulator layer (:mod:`erp.aws.strict`) to run ``RotateSecret``.
It does exactly what the service does, no more:

1. read ``AWSCURRENT`` and check it holds a valid key ring (else nothing is written);
2. claim the rotation: an **empty** version labelled ``AWSPENDING`` under a fresh token,
   refused while ``AWSPENDING`` sits on another version (:class:`RotationInProgress`:
   another rotation runs, or a failed one was not cleaned up); ``resume=True`` reattempts
   that rotation with its token instead, as the service does;
3. invoke ``createSecret``, ``setSecret``, ``testSecret``, ``finishSecret`` in order,
   stopping at the first failure; retry the whole rotation up to ``max_attempts`` times
   (waits from :class:`erp._retry.Backoff`), unless the Lambda gave the rotation up
   (removed ``AWSPENDING``) or a manual write abandoned it;
4. after success, remove ``AWSPENDING`` from the new current version (the service's own
   clean-up); after a failure, change nothing: clearing a failed rotation is the Lambda's
   job, so a rehearsal shows what AWS would leave behind;
5. emit ``RotationStarted``/``RotationSucceeded``/``RotationFailed``/``RotationAbandoned``
   (``TestRotation*`` for :meth:`LocalRotationDriver.test_rotation`) shaped like Secrets
   Manager's CloudTrail service events: logged, returned, and sent to an EventBridge bus
   when one is configured.

No value is ever written by the driver: the empty version needs an endpoint that can hold
one (the strict layer can; plain moto cannot and gets a clear error), and a version's value
is immutable once the Lambda stored it.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from erp._retry import Backoff
from erp._settings import fingerprinted, looks_like_secret, shown
from erp.aws.client import CURRENT, PENDING, call, error_code
from erp.aws.document import parse_version
from erp.aws.errors import (
    AwsConfigError,
    RotationAbandoned,
    RotationFailed,
    RotationInProgress,
    SecretFormatError,
    StageNotFound,
)
from erp.aws.lambda_rotation import STEPS, RotationHandler
from erp.clock import Clock, system_clock, to_iso
from erp.jwt.keyring import RotationPolicy

__all__ = [
    "DEFAULT_EVENT_SOURCE",
    "LocalRotationDriver",
    "RotationClaim",
    "RotationEvent",
    "RotationOutcome",
    "StepResult",
]

DEFAULT_EVENT_SOURCE = "erp.rotation"
"""EventBridge refuses custom events whose source starts with ``aws.``; match on ``detail``."""

DETAIL_TYPE = "AWS Service Event via CloudTrail"

log = logging.getLogger("erp.aws.driver")

Invoke = Callable[[Mapping[str, Any]], object]
"""Runs one rotation step (the Lambda); raises when the step fails."""


@dataclass(frozen=True)
class RotationEvent:
    """One rotation event. ``detail()`` has the CloudTrail service-event shape."""

    name: str
    secret_arn: str
    token: str
    time: datetime
    attempt: int
    step: str | None = None
    error: str | None = None

    def _arn_field(self, index: int) -> str:
        parts = self.secret_arn.split(":")
        return parts[index] if len(parts) > 6 else ""

    def _event_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.token}/{self.name}/{self.attempt}"))

    def detail(self) -> dict[str, Any]:
        """The event's ``detail``, as CloudTrail records Secrets Manager service events."""
        account = self._arn_field(4)
        extra: dict[str, Any] = {"token": self.token, "attempt": self.attempt, "rehearsal": True}
        if self.step is not None:
            extra["step"] = self.step
        if self.error is not None:
            extra["error"] = self.error
        return {
            "eventVersion": "1.08",
            "userIdentity": {"accountId": account, "invokedBy": "secretsmanager.amazonaws.com"},
            "eventTime": self.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": "secretsmanager.amazonaws.com",
            "eventName": self.name,
            "awsRegion": self._arn_field(3),
            "sourceIPAddress": "secretsmanager.amazonaws.com",
            "userAgent": "secretsmanager.amazonaws.com",
            "requestParameters": None,
            "responseElements": None,
            "additionalEventData": {"SecretId": self.secret_arn},
            "eventID": self._event_id(),
            "readOnly": False,
            "eventType": "AwsServiceEvent",
            "managementEvent": True,
            "recipientAccountId": account,
            "eventCategory": "Management",
            "erp": extra,
        }

    def entry(self, bus: str, source: str = DEFAULT_EVENT_SOURCE) -> dict[str, Any]:
        """A ``PutEvents`` entry for ``bus``."""
        return {
            "Time": self.time,
            "Source": source,
            "Resources": [self.secret_arn],
            "DetailType": DETAIL_TYPE,
            "Detail": json.dumps(self.detail(), sort_keys=True),
            "EventBusName": bus,
        }

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event": self.name,
            "secret": self.secret_arn,
            "token": self.token,
            "time": to_iso(self.time),
            "attempt": self.attempt,
        }
        if self.step is not None:
            out["step"] = self.step
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class StepResult:
    """One step as the Lambda reported it: the step, its outcome, the key it made or used."""

    step: str
    outcome: str
    key_id: str | None = None
    key_fingerprint: str | None = None
    record: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> StepResult:
        """From the Lambda's JSON record (ids and fingerprints only; ``keys`` dropped)."""
        kept = {k: v for k, v in record.items() if k != "keys"}
        key = kept.get("new") or kept.get("staged") or kept.get("active")
        shown = key if isinstance(key, Mapping) else {}
        return cls(
            str(kept.get("step") or "?"),
            str(kept.get("outcome") or "?"),
            shown.get("id"),
            shown.get("fingerprint"),
            kept,
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(self.record)


@dataclass(frozen=True)
class RotationOutcome:
    """What one driver run did."""

    ok: bool
    secret_arn: str
    token: str
    attempts: int
    events: tuple[RotationEvent, ...]
    resumed: bool = False
    abandoned: bool = False
    failed_step: str | None = None
    error: str | None = None
    undelivered_events: int = 0
    steps: tuple[StepResult, ...] = field(default=())

    def raise_for_failure(self) -> RotationOutcome:
        """``self`` when the rotation succeeded, else :class:`RotationFailed`."""
        if self.ok:
            return self
        what = "was abandoned" if self.abandoned else f"failed after {self.attempts} attempt(s)"
        raise RotationFailed(
            f"rotation of secret {self.secret_arn} {what} at {self.failed_step}: {self.error}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "secret": self.secret_arn,
            "token": self.token,
            "attempts": self.attempts,
            "resumed": self.resumed,
            "abandoned": self.abandoned,
            "failed_step": self.failed_step,
            "error": self.error,
            "undelivered_events": self.undelivered_events,
            "events": [e.as_dict() for e in self.events],
            "steps": [s.as_dict() for s in self.steps],
        }


@dataclass(frozen=True)
class RotationClaim:
    """A started rotation: ``AWSPENDING`` is on ``token``'s version, built from ``current_id``."""

    arn: str
    token: str
    current_id: str
    resumed: bool = False


DEFAULT_BACKOFF = Backoff(base_seconds=1.0, max_seconds=30.0)


class LocalRotationDriver:
    """Runs rotations the way Secrets Manager does (see the module docstring)."""

    def __init__(
        self,
        client: Any,
        *,
        invoke: Invoke | None = None,
        policy: RotationPolicy | None = None,
        clock: Clock = system_clock,
        max_attempts: int = 3,
        backoff: Backoff = DEFAULT_BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
        events_client: Any = None,
        event_bus: str | None = None,
        event_source: str = DEFAULT_EVENT_SOURCE,
        token_factory: Callable[[], str] = lambda: str(uuid.uuid4()),
        where: str = "AWS",
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if event_bus is not None:
            event_bus = _checked_event_bus(event_bus)
        self.client = client
        self.clock = clock
        self.invoke: Invoke = (
            invoke
            or RotationHandler(
                client, policy=policy, clock=clock, require_rotation_enabled=False, where=where
            ).handle
        )
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.sleep = sleep
        self.events_client = events_client
        self.event_bus = event_bus
        self.event_source = event_source
        self.token_factory = token_factory
        self.where = where

    # -- AWS calls -----------------------------------------------------------------------

    def _call(self, operation: str, **params: Any) -> Any:
        return call(self.client, operation, where=self.where, **params)

    def _labels(self, secret_id: str) -> tuple[Mapping[str, Any], dict[str, str]]:
        meta = self._call("describe_secret", SecretId=secret_id)
        labels: dict[str, str] = {}
        for version_id, stages in (meta.get("VersionIdsToStages") or {}).items():
            for stage in stages or ():
                labels.setdefault(stage, version_id)
        return meta, labels

    # -- starting ----------------------------------------------------------------------------

    def start(
        self,
        secret_id: str,
        *,
        token: str | None = None,
        resume: bool = False,
        copy: bool = False,
        validate: bool = True,
    ) -> RotationClaim:
        """Check ``AWSCURRENT`` and claim the rotation (see the module docstring, steps 1-2).

        Errors before the claim (no such secret, wrong region, no credentials, a malformed
        ``AWSCURRENT``) raise one clear ``ErpError`` and write nothing. ``copy`` makes the
        pending version a copy of ``AWSCURRENT`` instead of empty (one of the two shapes of
        the service's test-only path). ``validate=False`` skips the check of ``AWSCURRENT``'s
        value, as the service does (the strict layer's ``RotateSecret``).
        """
        meta, labels = self._labels(secret_id)
        arn = str(meta.get("ARN") or secret_id)
        current_id = labels.get(CURRENT)
        if current_id is None:
            raise StageNotFound(arn, CURRENT)
        response = self._call(
            "get_secret_value", SecretId=arn, VersionId=current_id, VersionStage=CURRENT
        )
        where = f"secret {arn} version {current_id} (AWSCURRENT)"
        current_text = str(response.get("SecretString") or "")
        if validate:
            current = parse_version(response.get("SecretString"), current_id, where)
            if current is None:
                raise SecretFormatError(f"{where} is an empty version; push a key ring")
            current.require_ring(where)
        pending_id = labels.get(PENDING)
        if pending_id is not None and pending_id != current_id:
            if not resume:
                raise RotationInProgress(arn, pending_id)
            log.warning("secret %s: reattempting the unfinished rotation %s", arn, pending_id)
            return RotationClaim(arn, pending_id, current_id, resumed=True)
        if pending_id is not None:  # a template-style finish left it on AWSCURRENT
            self._remove_pending(arn, pending_id)
        token = token or self.token_factory()
        params: dict[str, Any] = {
            "SecretId": arn,
            "ClientRequestToken": token,
            "VersionStages": [PENDING],
        }
        if copy:
            params["SecretString"] = current_text
        try:
            self._call("put_secret_value", **params)
        except AwsConfigError as exc:
            _, now = self._labels(arn)
            other = now.get(PENDING)
            if other is not None and other not in (current_id, token):
                raise RotationInProgress(arn, other) from None
            if copy:
                raise
            raise AwsConfigError(
                f"the endpoint in {self.where} cannot create the empty AWSPENDING version a "
                f"rotation starts with ({exc}). The local driver runs only against the strict "
                "emulator layer ('erp-secrets infra emulator', docs/aws.md); on AWS, "
                "'erp-secrets aws rotate' calls RotateSecret instead"
            ) from None
        return RotationClaim(arn, token, current_id)

    # -- the run ---------------------------------------------------------------------------

    def rotate(
        self, secret_id: str, *, token: str | None = None, resume: bool = False
    ) -> RotationOutcome:
        """Rotate ``secret_id`` once (with retries). Raises only if nothing could start.

        A failed rotation is an outcome with ``ok=False`` (see
        :meth:`RotationOutcome.raise_for_failure`); :class:`RotationInProgress` if another
        rotation holds ``AWSPENDING``.
        """
        return self.run(self.start(secret_id, token=token, resume=resume))

    def run(self, claim: RotationClaim) -> RotationOutcome:
        """Invoke the four steps for a claimed rotation, retrying as the service does."""
        arn, token = claim.arn, claim.token
        events: list[RotationEvent] = []
        undelivered = self._emit(events, "RotationStarted", arn, token, attempt=1)
        failed_step: str | None = None
        error: str | None = None
        steps: list[StepResult] = []
        attempt = 0

        def outcome(*, ok: bool, abandoned: bool = False) -> RotationOutcome:
            return RotationOutcome(
                ok=ok,
                secret_arn=arn,
                token=token,
                attempts=attempt,
                events=tuple(events),
                resumed=claim.resumed,
                abandoned=abandoned,
                failed_step=failed_step,
                error=error,
                undelivered_events=undelivered,
                steps=tuple(steps),
            )

        for attempt in range(1, self.max_attempts + 1):
            try:
                for step in STEPS:
                    failed_step = step
                    result = self.invoke(
                        {"Step": step, "SecretId": arn, "ClientRequestToken": token}
                    )
                    if isinstance(result, Mapping):
                        steps.append(StepResult.from_record(result))
            except Exception as exc:  # the Lambda failed: as AWS, retry the whole rotation
                error = error if _is_refusal(exc) and error else f"{type(exc).__name__}: {exc}"
                log.warning(
                    "secret %s: rotation attempt %d/%d failed at %s: %s",
                    arn,
                    attempt,
                    self.max_attempts,
                    failed_step,
                    error,
                )
                state = self._after_failure(arn, token, claim.current_id, exc)
                if state == "abandoned":
                    undelivered += self._emit(
                        events, "RotationAbandoned", arn, token, attempt, failed_step, error
                    )
                    return outcome(ok=False, abandoned=True)
                if state == "given_up":
                    break
                if attempt < self.max_attempts:
                    self.sleep(self.backoff.delay_seconds(attempt))
                continue
            self._cleanup_succeeded(arn, token)
            undelivered += self._emit(events, "RotationSucceeded", arn, token, attempt)
            failed_step = error = None
            return outcome(ok=True)
        undelivered += self._emit(events, "RotationFailed", arn, token, attempt, failed_step, error)
        return outcome(ok=False)

    def test_rotation(
        self,
        secret_id: str,
        *,
        token: str | None = None,
        copy: bool = False,
        validate: bool = True,
    ) -> RotationOutcome:
        """``RotateSecret`` with ``RotateImmediately=false``: only ``testSecret``, then clean up.

        The pending version is empty (or, with ``copy``, a copy of ``AWSCURRENT``); its
        ``AWSPENDING`` label is removed afterwards whatever the result, as the service does.
        """
        claim = self.start(secret_id, token=token, copy=copy, validate=validate)
        arn, token = claim.arn, claim.token
        events: list[RotationEvent] = []
        undelivered = self._emit(events, "TestRotationStarted", arn, token, attempt=1)
        error: str | None = None
        steps: list[StepResult] = []
        try:
            result = self.invoke(
                {"Step": "testSecret", "SecretId": arn, "ClientRequestToken": token}
            )
            if isinstance(result, Mapping):
                steps.append(StepResult.from_record(result))
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        self._cleanup_failed(arn, token)
        name = "TestRotationFailed" if error else "TestRotationSucceeded"
        step = "testSecret" if error else None
        undelivered += self._emit(events, name, arn, token, 1, step, error)
        return RotationOutcome(
            ok=error is None,
            secret_arn=arn,
            token=token,
            attempts=1,
            events=tuple(events),
            failed_step=step,
            error=error,
            undelivered_events=undelivered,
            steps=tuple(steps),
        )

    def _after_failure(self, arn: str, token: str, started_from: str, exc: Exception) -> str:
        """``abandoned`` (AWSCURRENT moved), ``given_up`` (no AWSPENDING left) or ``retry``."""
        if isinstance(exc, RotationAbandoned):
            return "abandoned"
        try:
            _, labels = self._labels(arn)
        except Exception:  # cannot tell: retrying is what the service would do
            return "retry"
        if labels.get(CURRENT) not in (started_from, token):
            return "abandoned"
        if labels.get(PENDING) != token:
            return "given_up"
        return "retry"

    # -- cleaning up -----------------------------------------------------------------------

    def _remove_pending(self, arn: str, version_id: str) -> None:
        self._call(
            "update_secret_version_stage",
            SecretId=arn,
            VersionStage=PENDING,
            RemoveFromVersionId=version_id,
        )

    def _cleanup_succeeded(self, arn: str, token: str) -> None:
        """No version keeps AWSPENDING (the AWS service does this after a rotation)."""
        try:
            _, labels = self._labels(arn)
            pending = labels.get(PENDING)
            if pending is not None:
                self._remove_pending(arn, pending)
        except Exception as exc:
            log.error(
                "secret %s: rotation %s succeeded but AWSPENDING could not be removed (%s); "
                "the next rotation removes it",
                arn,
                token,
                exc,
            )

    def _cleanup_failed(self, arn: str, token: str) -> None:
        """The test-only path's temporary AWSPENDING label goes, whatever the result."""
        try:
            _, labels = self._labels(arn)
            if labels.get(PENDING) == token and labels.get(CURRENT) != token:
                self._remove_pending(arn, token)
        except Exception as exc:
            log.error(
                "secret %s: could not remove AWSPENDING from version %s (%s)", arn, token, exc
            )

    # -- events ----------------------------------------------------------------------------

    def _emit(
        self,
        events: list[RotationEvent],
        name: str,
        arn: str,
        token: str,
        attempt: int,
        step: str | None = None,
        error: str | None = None,
    ) -> int:
        """Record, log and (with a bus) send one event; returns 1 if sending failed."""
        event = RotationEvent(name, arn, token, self.clock(), attempt, step, error)
        events.append(event)
        level = logging.INFO if name in ("RotationStarted", "RotationSucceeded") else logging.ERROR
        log.log(level, "%s", json.dumps(event.as_dict(), sort_keys=True))
        if self.events_client is None or not self.event_bus:
            return 0
        try:
            result = self.events_client.put_events(
                Entries=[event.entry(self.event_bus, self.event_source)]
            )
            failed = int(result.get("FailedEntryCount") or 0)
        except Exception as exc:
            log.error("could not send %s to event bus %s: %s", name, self.event_bus, exc)
            return 1
        if failed:
            codes = [e.get("ErrorCode") for e in result.get("Entries") or [] if e.get("ErrorCode")]
            log.error("event bus %s refused %s: %s", self.event_bus, name, codes)
            return 1
        return 0


def _is_refusal(exc: Exception) -> bool:
    """The Lambda refused the token (its label is gone): the earlier error is the cause."""
    from erp.aws.errors import RotationTokenRefused

    return isinstance(exc, RotationTokenRefused) or error_code(exc) == "InvalidRequestException"


_EVENT_BUS = re.compile(
    r"[A-Za-z0-9._\-/]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._\-/]+"
)


def _checked_event_bus(bus: str) -> str:
    """An EventBridge bus name or ARN, checked before the rotation starts, never echoed if secret.

    A bad name would only show up after the rotation, as events EventBridge refused.
    """
    text = bus.strip()
    where = "--event-bus (or ERP_AWS_EVENT_BUS)"
    if looks_like_secret(text):
        raise AwsConfigError(
            f"{where} is {fingerprinted(text)}, which looks like a secret, not an event bus "
            "name; set it to the bus name (e.g. default) or its ARN"
        )
    if _EVENT_BUS.fullmatch(text) is None:
        raise AwsConfigError(
            f"{where} is {shown(text)}, not an EventBridge bus name (letters, digits, . _ - /; "
            "at most 256) or ARN; fix it"
        )
    return text
