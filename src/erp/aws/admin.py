"""Operator actions on the key-ring secret: push a local ring, show versions and stages.

The CLI (``erp-secrets aws push|status``) is a thin shell over these functions. Every
check that can fail (an empty ring, a missing secret, a rotation in progress) runs before
the first write, so a refused push writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from erp.aws.client import CURRENT, PENDING, STAGES, call, translate_error
from erp.aws.document import (
    META,
    KeyView,
    SecretDocument,
    encode,
    key_views,
    parse_version,
    ring_document,
)
from erp.aws.errors import AwsConfigError, AwsSecretNotFound
from erp.errors import ErpError, PolicyViolation
from erp.jwt.keyring import KeyRing

__all__ = ["PushResult", "SecretStatus", "VersionStatus", "push_ring", "secret_status"]


@dataclass(frozen=True)
class PushResult:
    """What ``push`` did; key ids and fingerprints only."""

    arn: str
    version_id: str | None
    created: bool
    unchanged: bool
    keys: tuple[KeyView, ...]
    active: str

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` shape: ids and fingerprints, never a secret."""
        return {
            "secret": self.arn,
            "version_id": self.version_id,
            "created": self.created,
            "unchanged": self.unchanged,
            "active": self.active,
            "keys": [k.as_dict() for k in self.keys],
        }


@dataclass(frozen=True)
class VersionStatus:
    """One version of the secret: labels, when, and which keys (never their secrets)."""

    version_id: str
    stages: list[str]
    created: datetime | None
    keys: tuple[KeyView, ...] = ()
    active: str | None = None
    derived_from: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class SecretStatus:
    """The secret's rotation settings and its labelled versions."""

    arn: str
    name: str
    rotation_enabled: bool
    rotation_lambda: str | None
    rotation_rules: Mapping[str, Any]
    last_rotated: datetime | None
    next_rotation: datetime | None
    versions: list[VersionStatus]

    @property
    def rotation_in_progress(self) -> bool:
        """``AWSPENDING`` sits on a version other than ``AWSCURRENT``'s."""
        return any(PENDING in v.stages and CURRENT not in v.stages for v in self.versions)

    def as_dict(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "name": self.name,
            "rotation_enabled": self.rotation_enabled,
            "rotation_lambda": self.rotation_lambda,
            "rotation_rules": dict(self.rotation_rules),
            "last_rotated": self.last_rotated,
            "next_rotation": self.next_rotation,
            "rotation_in_progress": self.rotation_in_progress,
            "versions": [
                {
                    "version_id": v.version_id,
                    "stages": v.stages,
                    "created": v.created,
                    "active": v.active,
                    "derived_from": v.derived_from,
                    "keys": [k.as_dict() for k in v.keys],
                    "note": v.note,
                }
                for v in self.versions
            ],
        }


def _call(client: Any, operation: str, where: str, **params: Any) -> Any:
    return call(client, operation, where=where, **params)


def push_ring(
    client: Any,
    secret_id: str,
    ring: KeyRing,
    *,
    create: bool = False,
    force: bool = False,
    description: str | None = None,
    where: str = "AWS",
) -> PushResult:
    """Store ``ring`` as the secret's new ``AWSCURRENT`` version.

    No new version is written when ``AWSCURRENT`` already holds exactly this ring. With
    ``create``, a missing secret is created. A rotation in progress refuses the push
    (writing would abandon it) unless ``force``.
    """
    if not ring.keys:
        raise PolicyViolation(
            "the local key ring is empty: run 'erp-secrets jwt rotate' first, then push"
        )
    keys = key_views(ring)
    try:
        meta = _call(client, "describe_secret", where, SecretId=secret_id)
    except AwsSecretNotFound:
        if not create:
            raise
        if secret_id.startswith("arn:"):
            raise AwsConfigError(
                f"secret {secret_id} does not exist and cannot be created by ARN; "
                "pass its name with --create"
            ) from None
        params: dict[str, Any] = {
            "Name": secret_id,
            "SecretString": encode(ring_document(ring)),
            "ClientRequestToken": str(uuid.uuid4()),
        }
        if description:
            params["Description"] = description
        made = _call(client, "create_secret", where, **params)
        return PushResult(
            str(made.get("ARN")), made.get("VersionId"), True, False, keys, ring.active.id
        )
    arn = str(meta.get("ARN") or secret_id)
    labels: dict[str, str] = {}
    for version_id, stages in (meta.get("VersionIdsToStages") or {}).items():
        for stage in stages or ():
            labels.setdefault(stage, version_id)
    pending, current_id = labels.get(PENDING), labels.get(CURRENT)
    if pending is not None and pending != current_id and not force:
        raise AwsConfigError(
            f"a rotation of secret {arn} is in progress (AWSPENDING on version {pending}); "
            "pushing now would abandon it. Let it finish, or pass --force"
        )
    base: Mapping[str, Any] = {}
    if current_id is not None:
        current = _read_quietly(client, arn, current_id, CURRENT, where)
        if current is not None:
            base = current.document
    doc = ring_document(ring, base=base)
    if current_id is not None and _same(doc, base):
        return PushResult(arn, current_id, False, True, keys, ring.active.id)
    stored = _call(
        client,
        "put_secret_value",
        where,
        SecretId=arn,
        SecretString=encode(doc),
        ClientRequestToken=str(uuid.uuid4()),
        VersionStages=[CURRENT],
    )
    return PushResult(arn, stored.get("VersionId"), False, False, keys, ring.active.id)


def _same(doc: Mapping[str, Any], base: Mapping[str, Any]) -> bool:
    strip = {k: v for k, v in doc.items() if k != META}
    return encode(strip) == encode({k: v for k, v in base.items() if k != META})


def _read_quietly(
    client: Any, arn: str, version_id: str, stage: str, where: str
) -> SecretDocument | None:
    """The version's parsed value, or ``None`` if it is empty or malformed (push repairs it)."""
    response = _call(
        client, "get_secret_value", where, SecretId=arn, VersionId=version_id, VersionStage=stage
    )
    try:
        return parse_version(
            response.get("SecretString"), version_id, f"secret {arn} version {version_id}"
        )
    except ErpError:
        return None


def secret_status(client: Any, secret_id: str, *, where: str = "AWS") -> SecretStatus:
    """Describe the secret and every labelled version (values read with explicit stages)."""
    meta = _call(client, "describe_secret", where, SecretId=secret_id)
    arn = str(meta.get("ARN") or secret_id)
    versions: list[VersionStatus] = []
    created: dict[str, datetime | None] = {}
    listing = _call(client, "list_secret_version_ids", where, SecretId=arn)
    for item in listing.get("Versions") or []:
        created[str(item.get("VersionId"))] = item.get("CreatedDate")
    for version_id, stages in (meta.get("VersionIdsToStages") or {}).items():
        stages = list(stages or [])
        when = created.get(version_id)
        stage = next((s for s in STAGES if s in stages), stages[0] if stages else None)
        if stage is None:
            versions.append(VersionStatus(version_id, stages, when, note="no label (deprecated)"))
            continue
        import botocore.exceptions as bce

        try:
            response = client.get_secret_value(
                SecretId=arn, VersionId=version_id, VersionStage=stage
            )
            parsed = parse_version(
                response.get("SecretString"), version_id, f"version {version_id} ({stage})"
            )
        except bce.ClientError as exc:
            error = translate_error(exc, what=f"reading version {version_id}", where=where)
            versions.append(VersionStatus(version_id, stages, when, note=str(error)))
            continue
        except ErpError as exc:
            versions.append(VersionStatus(version_id, stages, when, note=str(exc)))
            continue
        if parsed is None:
            versions.append(
                VersionStatus(version_id, stages, when, note="empty: awaiting createSecret")
            )
            continue
        ring = parsed.ring
        versions.append(
            VersionStatus(
                version_id,
                stages,
                when,
                keys=key_views(ring),
                active=ring.active.id if ring is not None and ring.keys else None,
                derived_from=parsed.derived_from,
                note=None if ring is not None else "holds no JWT key ring",
            )
        )
    order = {s: i for i, s in enumerate(STAGES)}
    versions.sort(key=lambda v: min((order.get(s, 9) for s in v.stages), default=10))
    rules = meta.get("RotationRules") or {}
    return SecretStatus(
        arn=arn,
        name=str(meta.get("Name") or secret_id),
        rotation_enabled=bool(meta.get("RotationEnabled")),
        rotation_lambda=meta.get("RotationLambdaARN") or None,
        rotation_rules=rules,
        last_rotated=meta.get("LastRotatedDate"),
        next_rotation=meta.get("NextRotationDate"),
        versions=versions,
    )
