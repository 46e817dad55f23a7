"""An AWS-held ring with key pairs: the rotation Lambda makes the configured key type."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from erp.aws.document import describe_keys, parse_version
from erp.aws.lambda_rotation import STEPS, RotationHandler
from erp.clock import FrozenClock
from erp.jwt.jwks import jwk_set
from erp.jwt.keyring import KeyRing, RotationPolicy
from erp.jwt.keys import PRIVATE_MEMBERS
from erp.jwt.tokens import TokenService

from .conftest import start_rotation

POLICY = RotationPolicy(
    max_token_ttl=timedelta(hours=1), leeway=timedelta(seconds=30), key_alg="EdDSA"
)


def _current(sm: Any, arn: str) -> KeyRing:
    response = sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
    parsed = parse_version(response["SecretString"], response["VersionId"], "AWSCURRENT")
    assert parsed is not None
    assert parsed.ring is not None
    return parsed.ring


def test_lambda_rotation_makes_an_eddsa_key_and_old_tokens_still_verify(
    sm: Any, secret_arn: str, ring: KeyRing, clock: FrozenClock
) -> None:
    """With key_alg EdDSA the four steps add an Ed25519 key; HMAC tokens keep verifying; the
    published set of the AWS ring holds the new key and no private member."""
    before = TokenService(lambda: ring, clock=clock, policy=POLICY)
    old_token = before.issue({"sub": "u1"}, ttl=timedelta(minutes=5))
    handler = RotationHandler(sm, policy=POLICY, clock=clock, require_rotation_enabled=False)
    token = str(uuid.uuid4())
    start_rotation(sm, secret_arn, token)
    for step in STEPS:
        handler.handle({"Step": step, "SecretId": secret_arn, "ClientRequestToken": token})
    current = _current(sm, secret_arn)
    assert current.active.alg == "EdDSA"
    after = TokenService(lambda: current, clock=clock, policy=POLICY)
    assert after.verify(old_token)["sub"] == "u1"
    new_token = after.issue({"sub": "u2"}, ttl=timedelta(minutes=5))
    assert after.verify(new_token)["sub"] == "u2"
    published = jwk_set(current)["keys"]
    assert [k["kid"] for k in published] == [current.active.id]
    assert not PRIVATE_MEMBERS & set(published[0])


def test_key_views_show_each_keys_algorithm_and_never_the_private_key(
    sm: Any, secret_arn: str, ring: KeyRing, clock: FrozenClock
) -> None:
    """What `aws status` prints of a mixed ring names HS256 and EdDSA keys, without secrets."""
    handler = RotationHandler(sm, policy=POLICY, clock=clock, require_rotation_enabled=False)
    token = str(uuid.uuid4())
    start_rotation(sm, secret_arn, token)
    for step in STEPS:
        handler.handle({"Step": step, "SecretId": secret_arn, "ClientRequestToken": token})
    current = _current(sm, secret_arn)
    views = {view["id"]: view for view in describe_keys(current)}
    assert views[current.active.id]["alg"] == "EdDSA"
    assert {view["alg"] for view in views.values()} == {"HS256", "EdDSA"}
    shown = repr(views)
    assert all(key.secret not in shown for key in current.keys)
