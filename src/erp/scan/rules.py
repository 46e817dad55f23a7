"""The stated rules that turn a match into a non-finding: documentation examples and the pragma.

Documentation examples (never reported, by every detector and by the detect-secrets filter):

1. the value contains the upper-case word ``EXAMPLE`` (AWS's documentation keys end in it);
   not for ARNs, which rule 3 alone decides (``role/EXAMPLE-deployer`` in a real account is
   reported);
2. the variable part of the value is one character repeated (``XXXX...``, ``0000...``);
3. an ARN whose account is an AWS documentation account (:data:`DOCUMENTATION_ACCOUNTS`) or
   one digit repeated twelve times (``000000000000``).

Public AWS-owned accounts (never a secret: every AWS customer writes them in policies):

4. an ARN whose account is one AWS publishes for all customers to name
   (:data:`AWS_PUBLIC_ACCOUNTS`: the Elastic Load Balancing log-delivery principals per region,
   and the accounts that publish AWS's public Lambda layers).

A reviewed false positive is allowed inline with detect-secrets' pragma, which both scanners
honour: ``pragma: allowlist secret`` in a comment on the line, or
``pragma: allowlist nextline secret`` as a comment that is the whole line before (only blanks
may precede its comment opener, as detect-secrets requires: ``x = 1  # pragma: allowlist
nextline secret`` or a string holding the words allows nothing). Lines are the numbered lines of
:mod:`erp.scan._text` (ended by ``\r\n``, ``\r`` or ``\n``); a line that holds another
character some programs show as a line break (form feed, vertical tab, ``\x1c``-``\x1e``,
U+0085, U+2028, U+2029) carries no pragma, so a pragma only ever allows what stands on its own
line however the file is displayed.
"""

from __future__ import annotations

import math
import re
from collections import Counter

__all__ = [
    "AWS_PUBLIC_ACCOUNTS",
    "DOCUMENTATION_ACCOUNTS",
    "is_allowed_account",
    "is_documentation_account",
    "is_documentation_example",
    "is_pragma_allowed",
    "is_repeated_filler",
    "shannon_bits",
]

DOCUMENTATION_ACCOUNTS = frozenset(
    {"123456789012", "111122223333", "444455556666", "777788889999", "012345678901"}
)
"""Account ids AWS uses in its documentation (the first is also moto's default account)."""

AWS_PUBLIC_ACCOUNTS = frozenset(
    {
        # Elastic Load Balancing access-log delivery (the bucket-policy principal), per region,
        # from "Enable access logs for your Application Load Balancer" (AWS documentation):
        # us-east-1, us-east-2, us-west-1, us-west-2,
        "127311923021", "033677994240", "027434742980", "797873946194",
        # af-south-1, ap-east-1, ap-southeast-3, ap-south-1,
        "098369216593", "754344448648", "589379963580", "718504428378",
        # ap-northeast-3, ap-northeast-2, ap-southeast-1, ap-southeast-2,
        "383597477331", "600734575887", "114774131450", "783225319266",
        # ap-northeast-1, ca-central-1, eu-central-1, eu-west-1,
        "582318560864", "985666609251", "054676820928", "156460612806",
        # eu-west-2, eu-south-1, eu-west-3, eu-north-1,
        "652711504416", "635631232127", "009996457667", "897822967062",
        # me-south-1, sa-east-1, us-gov-west-1, us-gov-east-1, cn-north-1, cn-northwest-1.
        "076674570225", "507241528517", "048591011584", "190560391635",
        "638102146993", "037604701340",
        # Public Lambda layers published by AWS: CloudWatch Lambda Insights, the Parameters and
        # Secrets extension, AWS Distro for OpenTelemetry, Powertools for AWS Lambda, AWS SDK
        # for pandas, AppConfig extension (us-east-1).
        "580247275435", "177933569100", "901920570463", "017000801446", "336392948345",
        "027255383542",
    }
)  # fmt: skip
"""Account ids AWS owns and publishes for every customer to reference (rule 4)."""

_COMMENT = rb"(?:#|//|/\*|'|--|<!--|;|%|\"|\*)"
_SAME_LINE = re.compile(_COMMENT + rb"[ \t]*pragma: ?allowlist[ -]secret")
# The whole line: blanks, a comment opener (no quote: a string literal is not a comment), the
# pragma. Matched from the line's start, like detect-secrets' ``^[ \t]*#...`` nextline regex.
_NEXT_LINE = re.compile(
    rb"[ \t]*(?:#|//|/\*|--|<!--[# \t]*|;|%|\*)[ \t]*pragma: ?allowlist[ -]nextline[ -]secret"
)
# Characters str.splitlines() (and some editors) break lines at, beyond \r and \n.
_OTHER_BREAKS = re.compile(rb"[\x0b\x0c\x1c\x1d\x1e]|\xc2\x85|\xe2\x80[\xa8\xa9]")


def is_documentation_account(account: str) -> bool:
    """Rule 3: a documentation account id, or one digit repeated (``000000000000``)."""
    return account in DOCUMENTATION_ACCOUNTS or len(set(account)) == 1


def is_allowed_account(account: str) -> bool:
    """Rules 3 and 4: a documentation account or a public AWS-owned account."""
    return is_documentation_account(account) or account in AWS_PUBLIC_ACCOUNTS


def is_repeated_filler(part: str) -> bool:
    """Rule 2: the variable part is one character repeated."""
    return len(set(part)) <= 1


def is_documentation_example(value: str, variable_part: str | None = None) -> bool:
    """Rules 1 and 2 for ``value`` (whose random part is ``variable_part``, default all of it)."""
    return "EXAMPLE" in value or is_repeated_filler(
        value if variable_part is None else variable_part
    )


def is_pragma_allowed(line: bytes, previous_line: bytes) -> bool:
    """True if ``line`` carries the allow pragma, or ``previous_line`` is the nextline pragma.

    Both are numbered lines without their line break (see the module docstring).
    """
    if b"allowlist" not in line and b"allowlist" not in previous_line:
        return False
    if _OTHER_BREAKS.search(line):
        return False
    if _SAME_LINE.search(line):
        return True
    return bool(_NEXT_LINE.match(previous_line)) and not _OTHER_BREAKS.search(previous_line)


def shannon_bits(value: str) -> float:
    """Shannon entropy of ``value`` in bits per character."""
    if not value:
        return 0.0
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in Counter(value).values())
