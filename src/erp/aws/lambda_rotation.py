"""The rotation Lambda for the JWT key-ring secret: ``lambda_handler``.

(``erp.aws.rotation.lambda_handler``, the handler path of earlier templates, still works.)

Secrets Manager invokes it four times per rotation with ``{"Step", "SecretId",
"ClientRequestToken"}`` after labelling an empty version ``AWSPENDING`` under the token:

``createSecret``
    Reads ``AWSCURRENT``, applies :func:`erp.keyring.rotate` under the rotation policy (a
    new active key, or under the staged policy: promote the staged key and stage a new
    one), prunes keys past their retirement, and stores the result as ``AWSPENDING``
    under the token (``derived_from`` = the current version).
``setSecret``
    Nothing to install (every instance reads the ring from Secrets Manager); checks the
    pending ring still extends the current one.
``testSecret``
    Checks the pending ring is a valid successor of the current one (see
    :mod:`erp.aws.successor`), signs and verifies a token with it, and verifies a token
    signed by the current key with it; checks no key with possibly live tokens was dropped.
    On Secrets Manager's test-only path (``RotateSecret`` with ``RotateImmediately=false``:
    a temporary ``AWSPENDING`` version that is empty or a copy of ``AWSCURRENT``) it tests
    the current ring the same way and passes for a healthy setup.
``finishSecret``
    Moves ``AWSCURRENT`` to the token's version (AWS moves ``AWSPREVIOUS``) and removes
    ``AWSPENDING``, so the next rotation is never blocked.

Every step is idempotent under retries, refuses a token that names no version or one not
labelled ``AWSPENDING``, and logs exactly one JSON line (ids and fingerprints only). A step
that fails in a way no retry can fix (the test failed, the rotation was abandoned, the
pending value is malformed, an unexpected error) removes ``AWSPENDING`` from the token's
version before it re-raises: Secrets Manager does not, and a label left behind would make
every later rotation fail ("a previous rotation isn't complete"). Transient failures
(:class:`~erp.errors.TransientError`: AWS throttling or unreachable) keep the label, so the
service's retry, or its next window, resumes the same rotation with the same token.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from erp._settings import read_bool, read_url
from erp.aws.client import (
    CURRENT,
    PENDING,
    AwsSettings,
    call,
    secretsmanager_client,
    translate_error,
)
from erp.aws.document import (
    SecretDocument,
    describe_keys,
    encode,
    parse_version,
    ring_document,
)
from erp.aws.errors import (
    AwsConfigError,
    RotationAbandoned,
    RotationError,
    RotationNotEnabled,
    RotationTestFailed,
    RotationTokenRefused,
    SecretFormatError,
    StageNotFound,
)
from erp.aws.successor import successor_problem
from erp.clock import Clock, system_clock
from erp.errors import ErpError, TransientError
from erp.jwt.keyring import KeyRing, RotationPolicy, prune, rotate
from erp.jwt.rotation import stamp_unknown_retirements

__all__ = ["STEPS", "RotationHandler", "RotationRequest", "lambda_handler"]

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")

log = logging.getLogger("erp.aws.rotation")


class RotationRequest:
    """One invocation: step, secret and token, validated."""

    __slots__ = ("rotation_token", "secret_id", "step", "token")

    def __init__(self, step: str, secret_id: str, token: str, rotation_token: str | None) -> None:
        self.step = step
        self.secret_id = secret_id
        self.token = token
        self.rotation_token = rotation_token

    @classmethod
    def parse(cls, event: Mapping[str, Any]) -> RotationRequest:
        """Validate a Secrets Manager rotation event; :class:`RotationTokenRefused` if bad."""
        if not isinstance(event, Mapping):
            raise RotationTokenRefused("rotation event must be a JSON object")
        fields = {}
        for name in ("Step", "SecretId", "ClientRequestToken"):
            value = event.get(name)
            if not isinstance(value, str) or not value:
                raise RotationTokenRefused(
                    f"rotation event lacks {name}; expected Step, SecretId, ClientRequestToken"
                )
            fields[name] = value
        if fields["Step"] not in STEPS:
            raise RotationTokenRefused(
                f"rotation event has unknown Step {fields['Step'][:40]!r}; "
                f"expected one of {', '.join(STEPS)}"
            )
        rotation_token = event.get("RotationToken")
        return cls(
            fields["Step"],
            fields["SecretId"],
            fields["ClientRequestToken"],
            rotation_token if isinstance(rotation_token, str) and rotation_token else None,
        )


class RotationHandler:
    """The four steps over a Secrets Manager client; ``lambda_handler`` builds one per call."""

    def __init__(
        self,
        client: Any,
        *,
        policy: RotationPolicy | None = None,
        clock: Clock = system_clock,
        require_rotation_enabled: bool = True,
        where: str = "AWS",
    ) -> None:
        self.client = client
        self.policy = policy or RotationPolicy.from_env()
        self.clock = clock
        self.require_rotation_enabled = require_rotation_enabled
        self.where = where

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RotationHandler:
        """The handler the Lambda runtime uses.

        ``SECRETS_MANAGER_ENDPOINT`` (as in the AWS templates) or the ``AWS_*`` variables
        choose the endpoint; ``ERP_JWT_*`` the policy; ``ERP_ROTATION_REQUIRE_ENABLED=0``
        lets a manual invocation rotate a secret whose rotation is disabled.
        """
        env = os.environ if environ is None else environ
        settings = AwsSettings.from_env(env).with_overrides(
            endpoint_url=read_url("SECRETS_MANAGER_ENDPOINT", env=env)
        )
        # every setting is read before the client is built: a bad one costs no boto3 start-up
        policy = RotationPolicy.from_env(env)
        require_enabled = read_bool("ERP_ROTATION_REQUIRE_ENABLED", True, env=env)
        return cls(
            secretsmanager_client(settings),
            policy=policy,
            require_rotation_enabled=require_enabled,
            where=settings.where(),
        )

    def __call__(self, event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
        return self.handle(event)

    # -- dispatch ----------------------------------------------------------------------

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Run one step and log one JSON line; re-raises (as an ``ErpError``) on failure."""
        record: dict[str, Any] = {
            "event": "erp.aws.rotation",
            "step": event.get("Step") if isinstance(event, Mapping) else None,
            "secret": event.get("SecretId") if isinstance(event, Mapping) else None,
            "token": event.get("ClientRequestToken") if isinstance(event, Mapping) else None,
        }
        request: RotationRequest | None = None
        try:
            request = RotationRequest.parse(event)
            record.update(self._dispatch(request))
        except Exception as exc:
            error = (
                exc
                if isinstance(exc, ErpError)
                else translate_error(exc, what=f"rotation step {record['step']}", where=self.where)
            )
            record.update(outcome="error", error=type(error).__name__, message=str(error))
            if request is not None and not isinstance(error, TransientError):
                record["pending_label_removed"] = self._give_up(request)
            log.error("%s", json.dumps(record, sort_keys=True, default=str))
            if error is exc:
                raise
            raise error from None
        log.info("%s", json.dumps(record, sort_keys=True, default=str))
        return record

    def _give_up(self, request: RotationRequest) -> bool:
        """Remove AWSPENDING from the token's version (not if it is current); never raises."""
        try:
            meta = self._call("describe_secret", SecretId=request.secret_id)
            stages = (meta.get("VersionIdsToStages") or {}).get(request.token) or []
            if PENDING not in stages or CURRENT in stages:
                return False
            self._remove_pending(str(meta.get("ARN") or request.secret_id), request.token)
        except Exception as exc:  # the original failure is what the caller must see
            log.error(
                "secret %s: could not remove AWSPENDING from version %s after a failed %s: %s; "
                "remove it by hand (docs/aws.md, 'A stuck rotation')",
                request.secret_id,
                request.token,
                request.step,
                exc,
            )
            return False
        return True

    def _dispatch(self, request: RotationRequest) -> dict[str, Any]:
        meta = self._call("describe_secret", SecretId=request.secret_id)
        arn = str(meta.get("ARN") or request.secret_id)
        if self.require_rotation_enabled and not meta.get("RotationEnabled"):
            raise RotationNotEnabled(
                f"rotation is not enabled for secret {arn}; enable it (RotateSecret with a "
                "rotation Lambda) or set ERP_ROTATION_REQUIRE_ENABLED=0 for a manual run"
            )
        versions: Mapping[str, list[str]] = meta.get("VersionIdsToStages") or {}
        token = request.token
        if token not in versions:
            raise RotationTokenRefused(
                f"token {token[:64]!r} names no version of secret {arn}; refusing "
                f"{request.step} (Secrets Manager labels the token's version AWSPENDING first)"
            )
        stages = list(versions[token])
        if CURRENT in stages:
            if PENDING in stages and request.step == "finishSecret":
                self._remove_pending(arn, token)
                return {"outcome": "pending_label_removed", "current_version": token}
            return {"outcome": "already_current", "current_version": token}
        if PENDING not in stages:
            raise RotationTokenRefused(
                f"version {token[:64]!r} of secret {arn} is labelled {stages or 'nothing'}, "
                f"not AWSPENDING; refusing {request.step}"
            )
        current_id = next((v for v, s in versions.items() if CURRENT in s), None)
        if current_id is None:
            raise StageNotFound(arn, CURRENT)
        step = {
            "createSecret": self._create,
            "setSecret": self._set,
            "testSecret": self._test,
            "finishSecret": self._finish,
        }[request.step]
        return step(request, arn, current_id)

    # -- the steps ---------------------------------------------------------------------

    def _create(self, request: RotationRequest, arn: str, current_id: str) -> dict[str, Any]:
        current = self._read(arn, current_id, CURRENT)
        ring = current.require_ring(self._where(arn, current_id, CURRENT))
        existing = self._read_pending(arn, request.token)
        if existing is not None:
            self._check_successor(existing, arn, current_id)
            pending_ring = existing.require_ring(self._where(arn, request.token, PENDING))
            return {
                "outcome": "already_created",
                "current_version": current_id,
                "active": _key(pending_ring),
            }
        now = self.clock()
        rotated = rotate(stamp_unknown_retirements(ring, now), now, self.policy)
        pruned = prune(rotated.ring, now, self.policy)
        doc = ring_document(pruned.ring, base=current.document, derived_from=current_id)
        params: dict[str, Any] = {
            "SecretId": arn,
            "ClientRequestToken": request.token,
            "SecretString": encode(doc),
            "VersionStages": [PENDING],
        }
        if request.rotation_token is not None:
            params["RotationToken"] = request.rotation_token
        stored = self._call("put_secret_value", expect=("ResourceExistsException",), **params)
        if stored is None:  # a concurrent retry stored its value under this token first
            again = self._read_pending(arn, request.token)
            if again is None:
                raise AwsConfigError(
                    f"secret {arn}: Secrets Manager refused a value for version "
                    f"{request.token[:64]} (ResourceExistsException) yet returns none for it; "
                    "the version's value is immutable, so this rotation cannot go on: cancel "
                    "it (docs/aws.md, 'A stuck rotation') and rotate again"
                )
            again.require_ring(self._where(arn, request.token, PENDING))
            return {"outcome": "already_created", "current_version": current_id}
        return {
            "outcome": "created",
            "policy": self.policy.mode,
            "current_version": current_id,
            "new": rotated.event.get("new"),
            "previous": rotated.event.get("previous"),
            "staged": rotated.event.get("staged"),
            "pruned": pruned.event["removed"],
        }

    def _set(self, request: RotationRequest, arn: str, current_id: str) -> dict[str, Any]:
        pending = self._require_pending(arn, request.token)
        self._check_successor(pending, arn, current_id)
        current_ring = self._read(arn, current_id, CURRENT).require_ring(
            self._where(arn, current_id, CURRENT)
        )
        pending_ring = pending.require_ring(self._where(arn, request.token, PENDING))
        if current_ring.active.id not in pending_ring:
            raise RotationTestFailed(
                f"pending ring of secret {arn} lacks the current signing key "
                f"{current_ring.active.id}; tokens signed now would stop verifying"
            )
        self._require_successor(arn, current_id, current_ring, pending)
        # Instances read the ring from Secrets Manager themselves: nothing to install.
        return {"outcome": "validated", "active": _key(pending_ring), "keys": len(pending_ring)}

    def _test(self, request: RotationRequest, arn: str, current_id: str) -> dict[str, Any]:
        current = self._read_or_none(arn, current_id, CURRENT)
        pending = self._read_pending(arn, request.token)
        if current is None and pending is None:
            # The test-only path right after the template's first deploy: AWSCURRENT still
            # holds the bootstrap placeholder. Nothing to test yet, and nothing is wrong.
            log.warning(
                "secret %s: AWSCURRENT is the template's bootstrap placeholder; push a key ring "
                "with 'erp-secrets aws push' before the first rotation",
                arn,
            )
            return {"outcome": "nothing_to_test_yet", "current_version": current_id}
        if current is None:
            raise SecretFormatError(
                f"{self._where(arn, current_id, CURRENT)} is an empty placeholder version"
            )
        current_ring = current.require_ring(self._where(arn, current_id, CURRENT))
        if pending is None or _same_value(pending.document, current.document):
            return self._test_current(arn, current_id, current_ring)
        self._check_successor(pending, arn, current_id)
        pending_ring = pending.require_ring(self._where(arn, request.token, PENDING))
        self._require_successor(arn, current_id, current_ring, pending)
        now = self.clock()
        for key in current_ring.keys:
            if key.id in pending_ring:
                continue
            may_go = self.policy.prune_after(key)
            if may_go is None or may_go > now:
                raise RotationTestFailed(
                    f"pending ring of secret {arn} drops key {key.id} ({key.fingerprint}), "
                    "whose tokens may still be valid"
                )
        problem = _sign_and_verify(pending_ring, pending_ring, self.clock) or _sign_and_verify(
            current_ring, pending_ring, self.clock
        )
        if problem is not None:
            raise RotationTestFailed(
                f"pending ring of secret {arn} failed its token test: {problem}"
            )
        return {
            "outcome": "passed",
            "signed_with": _key(pending_ring),
            "current_key_verifies": _key(current_ring),
        }

    def _finish(self, request: RotationRequest, arn: str, current_id: str) -> dict[str, Any]:
        pending = self._require_pending(arn, request.token)
        self._check_successor(pending, arn, current_id)
        pending_ring = pending.require_ring(self._where(arn, request.token, PENDING))
        self._call(
            "update_secret_version_stage",
            SecretId=arn,
            VersionStage=CURRENT,
            MoveToVersionId=request.token,
            RemoveFromVersionId=current_id,
        )
        self._remove_pending(arn, request.token)
        return {
            "outcome": "finished",
            "current_version": request.token,
            "previous_version": current_id,
            "active": _key(pending_ring),
            "keys": describe_keys(pending_ring),
        }

    def _test_current(self, arn: str, current_id: str, ring: KeyRing) -> dict[str, Any]:
        """Secrets Manager's test-only path: no new ring exists; test the live one."""
        problem = _sign_and_verify(ring, ring, self.clock)
        if problem is not None:
            raise RotationTestFailed(
                f"AWSCURRENT of secret {arn} (version {current_id}) failed the token test "
                f"of the test-only rotation: {problem}"
            )
        return {"outcome": "tested_current", "current_version": current_id, "active": _key(ring)}

    # -- helpers -----------------------------------------------------------------------

    def _where(self, arn: str, version_id: str, stage: str) -> str:
        return f"secret {arn} version {version_id} ({stage})"

    def _call(self, operation: str, *, expect: tuple[str, ...] = (), **params: Any) -> Any:
        return call(self.client, operation, where=self.where, expect=expect, **params)

    def _read(self, arn: str, version_id: str, stage: str) -> SecretDocument:
        parsed = self._read_or_none(arn, version_id, stage)
        if parsed is None:
            where = self._where(arn, version_id, stage)
            raise SecretFormatError(f"{where} is an empty placeholder version")
        return parsed

    def _read_or_none(self, arn: str, version_id: str, stage: str) -> SecretDocument | None:
        """The version's value; ``None`` for the placeholder the template bootstraps with."""
        response = self._call(
            "get_secret_value", SecretId=arn, VersionId=version_id, VersionStage=stage
        )
        where = self._where(arn, version_id, stage)
        return parse_version(response.get("SecretString"), version_id, where)

    def _read_pending(self, arn: str, token: str) -> SecretDocument | None:
        """The pending version's value, or ``None`` while it is still empty."""
        response = self._call(
            "get_secret_value",
            expect=("ResourceNotFoundException",),
            SecretId=arn,
            VersionId=token,
            VersionStage=PENDING,
        )
        if response is None:
            return None
        return parse_version(response.get("SecretString"), token, self._where(arn, token, PENDING))

    def _require_pending(self, arn: str, token: str) -> SecretDocument:
        pending = self._read_pending(arn, token)
        if pending is None:
            raise RotationError(
                f"secret {arn}: the AWSPENDING version {token[:64]} is still empty; "
                "createSecret has not run for this token"
            )
        return pending

    def _check_successor(self, pending: SecretDocument, arn: str, current_id: str) -> None:
        origin = pending.derived_from
        if origin is not None and origin != current_id:
            raise RotationAbandoned(
                f"AWSCURRENT of secret {arn} moved to version {current_id} after this rotation "
                f"started from {origin} (a manual write?); finishing would drop keys. Run "
                "'erp-secrets aws rotate' again: it abandons this rotation and starts anew"
            )

    def _require_successor(
        self, arn: str, current_id: str, current_ring: KeyRing, pending: SecretDocument
    ) -> None:
        pending_ring = pending.require_ring(self._where(arn, pending.version_id, PENDING))
        problem = successor_problem(
            current_ring,
            pending_ring,
            current_version=current_id,
            derived_from=pending.derived_from,
        )
        if problem is not None:
            raise RotationTestFailed(
                f"pending ring of secret {arn} (version {pending.version_id}) is not a valid "
                f"successor of AWSCURRENT {current_id}: {problem}"
            )

    def _remove_pending(self, arn: str, token: str) -> None:
        self._call(
            "update_secret_version_stage",
            SecretId=arn,
            VersionStage=PENDING,
            RemoveFromVersionId=token,
        )


def _key(ring: KeyRing) -> dict[str, str]:
    return {"id": ring.active.id, "fingerprint": ring.active.fingerprint}


def _same_value(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return encode(a) == encode(b)


def _sign_and_verify(signer: KeyRing, verifier: KeyRing, clock: Clock) -> str | None:
    """Why a token signed by ``signer``'s active key fails against ``verifier`` (or ``None``).

    Uses the token layer itself (:class:`erp.jwt.tokens.TokenService`), so the test passes
    exactly when applications would accept the token.
    """
    from erp.errors import InvalidToken
    from erp.jwt.tokens import TokenService

    policy = RotationPolicy(max_token_ttl=timedelta(minutes=1))
    audience = "erp-rotation-test"
    sign = TokenService(lambda: signer, policy=policy, clock=clock)
    check = TokenService(lambda: verifier, policy=policy, clock=clock)
    token = sign.issue({"sub": "erp-rotation-test", "aud": audience, "jti": uuid.uuid4().hex})
    try:
        check.verify(token, audience=audience)
    except InvalidToken as exc:
        return f"a token signed by {signer.active.id} does not verify ({exc})"
    return None


def lambda_handler(event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
    """The Lambda entry point (``erp.aws.rotation.lambda_handler``)."""
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    try:
        handler = RotationHandler.from_env()
    except ErpError as exc:
        fields = event if isinstance(event, Mapping) else {}
        record = {
            "event": "erp.aws.rotation",
            "step": fields.get("Step"),
            "secret": fields.get("SecretId"),
            "token": fields.get("ClientRequestToken"),
            "outcome": "error",
            "error": type(exc).__name__,
            "message": str(exc),
        }
        log.error("%s", json.dumps(record, sort_keys=True, default=str))
        raise
    return handler.handle(event)
