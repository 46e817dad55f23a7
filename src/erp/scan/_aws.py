"""AWS detectors: access key ids, secret access keys, and ARNs that name an account."""

from __future__ import annotations

import re
from collections.abc import Iterator

from erp.scan._assign import value_after
from erp.scan._base import ALNUM, Detector, Hit, redact
from erp.scan._text import BASE64_CLASS, Text, find_all
from erp.scan.rules import is_allowed_account, is_documentation_example

__all__ = ["AwsAccessKeyId", "AwsArn", "AwsSecretAccessKey"]

_KEY_ID = re.compile(rb"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}")
_KEY_ID_MIN_DISTINCT = 6

# Secret access keys have no prefix, so they need a name or an access key id beside them:
# aws_secret_access_key, AWS_SECRET_KEY, aws-secret, SecretAccessKey, secret_key ...
_SECRET_NAME = re.compile(rb"secret(?:[_-]?access)?[_-]?key|secret")
# A few more name characters may follow (AWS_SECRET_ACCESS_KEY_ID is rare; _VALUE, Token ...).
_NAME_TAIL = re.compile(rb"[\w.-]{0,20}")
# Not part of a longer token, url-safe ones included (a JWT secret holds "-" and "_").
_SECRET_VALUE = re.compile(rb"([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=_-])")
_FORTY = re.compile(rb"(?<![A-Za-z0-9/+=_-])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=_-])")
# After an access key id, its secret key follows within a few lines (CSV rows, positional
# arguments of a multi-line constructor call, an STS response, a Terraform state's
# aws_iam_access_key attributes: "id", "key_fingerprint", "pgp_key", "secret").
_PAIR_REACH = 400
_PAIR_LINES = 5

# A partition or region written as a template: CloudFormation ${AWS::Partition} and
# ${AWS::Region}, Terraform ${data.aws_partition.current.partition} and ${var.region},
# Serverless ${aws:partition}, Ruby/serverless #{AWS::Region}, Jinja/Helm {{ region }},
# Python {} {0} {region} %s %(region)s, shell $AWS_REGION, make $(AWS_REGION), <region>.
_TEMPLATE = (
    rb"\$\{[^}\s]{1,60}\}|#\{[^}\s]{1,60}\}|\{\{[^{}\n]{1,60}\}\}|\{[^{}\s]{0,60}\}"
    rb"|%(?:\([\w.-]{1,40}\))?[sd]|\$\(?[A-Za-z_][A-Za-z0-9_]{0,40}\)?|<[^>\s]{1,40}>"
)
# The region may be a wildcard or a template (IAM policies: arn:aws:logs:*:<account>:...), and
# so may the partition; the literal 12-digit account is what makes an ARN secret.
_ARN = re.compile(
    rb"arn:(aws(?:-cn|-us-gov|-iso(?:-[a-z])?|-eusc)?|" + _TEMPLATE + rb"):"
    rb"([a-z0-9][a-z0-9.-]*|\*):"
    rb"([a-z0-9-]*|\*|" + _TEMPLATE + rb"):"
    rb"([0-9]{12}):([^\s\"'`<>\\,;(){}\[\]|]+)"
)
# What an ARN starts with (a cheap test before the regex): a partition or a template.
_ARN_STARTS = (b"arn:aws", b"arn:$", b"arn:#", b"arn:{", b"arn:%", b"arn:<")


class AwsAccessKeyId(Detector):
    name = "AWS Access Key ID"
    slug = "aws-access-key-id"
    plugin = "ErpAwsAccessKeyIdDetector"
    summary = "AKIA/ASIA/ABIA/ACCA/A3T… ids: 4-character prefix + 16 upper-case letters or digits"

    def find(self, text: Text) -> Iterator[Hit]:
        data = text.data
        size = len(data)
        for match in _KEY_ID.finditer(data):
            start, end = match.span()
            if (start and data[start - 1] in ALNUM) or (end < size and data[end] in ALNUM):
                continue
            value = match.group().decode()
            # A random base32 body uses 10+ letters; a DNA sequence (ACCA + ACGT...) uses 4.
            if 1 < len(set(value[4:])) < _KEY_ID_MIN_DISTINCT:
                continue
            yield Hit(
                start,
                value,
                redact(value, prefix=value[:4], keep=0),
                is_documentation_example(value, value[4:]),
            )


def _secret_shape(value: str) -> bool:
    """40 random base64 characters: both cases present and no short alphabet (not a hex digest)."""
    return (
        any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and len(set(value)) >= 15
    )


class AwsSecretAccessKey(Detector):
    name = "AWS Secret Access Key"
    slug = "aws-secret-access-key"
    plugin = "ErpAwsSecretAccessKeyDetector"
    summary = (
        "40-character secret keys assigned to an aws/secret-access-key name, "
        "or on the same line after an access key id"
    )

    def find(self, text: Text) -> Iterator[Hit]:
        if not text.has_run(BASE64_CLASS, 40):
            return  # no 40-character value anywhere
        data = text.data
        seen: set[int] = set()
        lower = text.lower
        for index in find_all(lower, b"secret"):
            # Fast path: "secret" names a key only before "key" ("_access_key") or after "aws".
            if (
                b"key" not in lower[index + 6 : index + 19]
                and b"aws" not in lower[max(0, index - 5) : index]
            ):
                continue
            name = _SECRET_NAME.match(lower, index)
            if name is None:  # pragma: no cover - the pattern starts with the needle
                continue
            if name.group() == b"secret" and not lower[max(0, index - 4) : index].rstrip(
                b"_-"
            ).endswith(b"aws"):
                continue
            tail = _NAME_TAIL.match(lower, name.end())
            end = tail.end() if tail else name.end()
            match = value_after(lower, end, _SECRET_VALUE, data)
            if match is None and end != name.end():
                match = value_after(lower, name.end(), _SECRET_VALUE, data)
            if match is None:
                continue
            yield from self._hit(match.start(1), match.group(1), seen)
        if b"A" not in data:
            return
        for key_id in _KEY_ID.finditer(data):
            start = key_id.end()
            stop = min(len(data), start + _PAIR_REACH)
            # Up to the fifth line break after the id (or the next id, whichever comes first).
            for _ in range(_PAIR_LINES):
                newline = data.find(b"\n", start, stop)
                if newline < 0:
                    break
                start = newline + 1
            else:
                stop = start
            following = _KEY_ID.search(data, key_id.end(), stop)
            stop = following.start() if following else stop
            for match in _FORTY.finditer(data, key_id.end(), stop):
                yield from self._hit(match.start(), match.group(), seen)

    @staticmethod
    def _hit(offset: int, raw: bytes, seen: set[int]) -> Iterator[Hit]:
        value = raw.decode()
        if offset in seen or not _secret_shape(value):
            return
        seen.add(offset)
        yield Hit(offset, value, redact(value), is_documentation_example(value))


class AwsArn(Detector):
    name = "AWS ARN"
    slug = "aws-arn"
    plugin = "ErpAwsArnDetector"
    summary = "ARNs in the aws, aws-cn, aws-us-gov (and iso) partitions naming a 12-digit account"

    def find(self, text: Text) -> Iterator[Hit]:
        data = text.data
        if not any(start in data for start in _ARN_STARTS):
            return
        for match in _ARN.finditer(data):
            start = match.start()
            if start and (data[start - 1] in ALNUM or data[start - 1] == ord("_")):
                continue
            value = match.group().decode("utf-8", "replace")
            partition, service, region, account = (
                match.group(i).decode("utf-8", "replace") for i in range(1, 5)
            )
            shown = f"arn:{partition}:{service}:{region}:{account[:4]}********:…"
            # Only the account decides (rules 3 and 4): "EXAMPLE" in a role or resource name
            # does not make a real account an example.
            yield Hit(start, value, shown, is_allowed_account(account))
