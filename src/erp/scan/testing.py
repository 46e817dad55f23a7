"""Secret-looking values of every kind the scanner claims, made at run time for tests.

Tests and benchmarks must never commit such strings (the pre-commit hooks would reject them,
rightly): they call these functions instead. Every function takes an optional
``random.Random`` for reproducible corpora; the default is the OS CSPRNG. Nothing made here
is a live credential: the values are random.

    >>> from erp.scan import testing
    >>> key = testing.fernet_key()
    >>> len(key), key.endswith("=")
    (44, True)
"""

from __future__ import annotations

import base64
import random
import secrets
import string
from collections.abc import Callable

__all__ = [
    "KINDS",
    "access_key_id",
    "aws_account",
    "aws_arn",
    "documented_access_key_id",
    "documented_secret_access_key",
    "fernet_key",
    "jwt_secret",
    "make",
    "pagerduty_routing_key",
    "pem_armour",
    "private_key_pem",
    "secret_access_key",
    "slack_webhook_url",
]

_SYSTEM = secrets.SystemRandom()
_BASE32 = string.ascii_uppercase + "234567"
_BASE64 = string.ascii_letters + string.digits + "+/"
_PEM_LABELS = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY")


def _bytes(rng: random.Random | None, count: int) -> bytes:
    return rng.randbytes(count) if rng else secrets.token_bytes(count)


def _pick(rng: random.Random | None, alphabet: str, count: int) -> str:
    chooser = rng or _SYSTEM
    return "".join(chooser.choice(alphabet) for _ in range(count))


def fernet_key(rng: random.Random | None = None) -> str:
    """A Fernet key: url-safe base64 of 32 random bytes (as ``Fernet.generate_key()``)."""
    return base64.urlsafe_b64encode(_bytes(rng, 32)).decode()


def jwt_secret(rng: random.Random | None = None) -> str:
    """An HS256 signing secret as ``erp.keyring.generate_secret()`` makes them."""
    return base64.urlsafe_b64encode(_bytes(rng, 48)).decode().rstrip("=")


def aws_account(rng: random.Random | None = None) -> str:
    """A 12-digit account id that is not a documentation account."""
    while True:
        account = _pick(rng, string.digits, 12)
        if len(set(account)) > 3 and account not in {"123456789012", "012345678901"}:
            return account


def aws_arn(rng: random.Random | None = None, partition: str = "aws", service: str = "iam") -> str:
    """An ARN naming a (random) account, e.g. an IAM role or a Secrets Manager secret."""
    account = aws_account(rng)
    suffix = _pick(rng, string.ascii_lowercase, 8)
    if service == "iam":
        return f"arn:{partition}:iam::{account}:role/deploy-{suffix}"
    region = {"aws": "eu-west-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}.get(
        partition, "us-east-1"
    )
    tail = _pick(rng, string.ascii_letters, 6)
    return f"arn:{partition}:{service}:{region}:{account}:secret:erp/jwt-{suffix}-{tail}"


def access_key_id(rng: random.Random | None = None, prefix: str = "AKIA") -> str:
    """An AWS access key id: ``AKIA`` (long-term) or ``ASIA`` (session) + 16 base32 chars."""
    return prefix + _pick(rng, _BASE32, 16)


def secret_access_key(rng: random.Random | None = None) -> str:
    """An AWS secret access key: 40 base64 characters."""
    while True:
        value = _pick(rng, _BASE64, 40)
        if any(c.isupper() for c in value) and any(c.islower() for c in value):
            return value


def documented_access_key_id() -> str:
    """The access key id AWS's documentation prints as its example (the scanner suppresses it).

    Put together at run time, like every value here, so that no file holds it.
    """
    return "AKIA" + "IOSFODNN7" + "EXAMPLE"


def documented_secret_access_key() -> str:
    """The secret access key AWS's documentation prints beside that key id."""
    return "/".join(("wJalrXUtnFEMI", "K7MDENG", "bPxRfiCY" + "EXAMPLEKEY"))


def pem_armour(edge: str, label: str = "PRIVATE KEY") -> str:
    """A PEM armour line: five dashes, ``edge`` (BEGIN or END) and ``label``, five dashes."""
    return f"-----{edge} {label}-----"


def private_key_pem(rng: random.Random | None = None, label: str | None = None) -> str:
    """A PEM private-key block (random body of a realistic size; not a parseable key)."""
    chooser = rng or _SYSTEM
    label = label or chooser.choice(_PEM_LABELS)
    size = {"EC PRIVATE KEY": 121, "OPENSSH PRIVATE KEY": 399}.get(label, 1190)
    body = base64.b64encode(_bytes(rng, size)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([pem_armour("BEGIN", label), *lines, pem_armour("END", label)]) + "\n"


def pagerduty_routing_key(rng: random.Random | None = None) -> str:
    """A PagerDuty Events API v2 routing (integration) key: 32 lower-case hex characters."""
    return _bytes(rng, 16).hex()


def slack_webhook_url(rng: random.Random | None = None) -> str:
    """A Slack incoming-webhook URL: team id, channel (bot) id, 24-character token."""
    team = "T" + _pick(rng, string.ascii_uppercase + string.digits, 10)
    channel = "B" + _pick(rng, string.ascii_uppercase + string.digits, 10)
    token = _pick(rng, string.ascii_letters + string.digits, 24)
    return f"https://hooks.slack.com/services/{team}/{channel}/{token}"


KINDS: dict[str, Callable[[random.Random | None], str]] = {
    "fernet-key": fernet_key,
    "jwt-secret": jwt_secret,
    "aws-arn": aws_arn,
    "aws-access-key-id": access_key_id,
    "aws-secret-access-key": secret_access_key,
    "private-key": private_key_pem,
    "pagerduty-routing-key": pagerduty_routing_key,
    "slack-webhook": slack_webhook_url,
}
"""Detector slug -> a maker of a value that detector reports (in the right context)."""


def make(slug: str, rng: random.Random | None = None) -> str:
    """A fresh value for the detector ``slug``."""
    return KINDS[slug](rng)
