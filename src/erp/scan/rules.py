"""The stated rules that turn a match into a non-finding: documentation examples and the pragma.

Documentation examples (never reported, by every detector and by the detect-secrets filter):

1. the value contains the upper-case word ``EXAMPLE`` (AWS's documentation keys end in it);
2. the variable part of the value is one character repeated (``XXXX...``, ``0000...``);
3. an ARN whose account is an AWS documentation account (:data:`DOCUMENTATION_ACCOUNTS`) or
   one digit repeated twelve times (``000000000000``).

A reviewed false positive is allowed inline with detect-secrets' pragma, which both scanners
honour: ``pragma: allowlist secret`` in a comment on the line, or
``pragma: allowlist nextline secret`` in a comment on the line before.
"""

from __future__ import annotations

import math
import re
from collections import Counter

__all__ = [
    "DOCUMENTATION_ACCOUNTS",
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

_COMMENT = rb"(?:#|//|/\*|'|--|<!--|;|%|\"|\*)"
_SAME_LINE = re.compile(_COMMENT + rb"[ \t]*pragma: ?allowlist[ -]secret")
_NEXT_LINE = re.compile(_COMMENT + rb"[ \t]*pragma: ?allowlist[ -]nextline[ -]secret")


def is_documentation_account(account: str) -> bool:
    """Rule 3: a documentation account id, or one digit repeated (``000000000000``)."""
    return account in DOCUMENTATION_ACCOUNTS or len(set(account)) == 1


def is_repeated_filler(part: str) -> bool:
    """Rule 2: the variable part is one character repeated."""
    return len(set(part)) <= 1


def is_documentation_example(value: str, variable_part: str | None = None) -> bool:
    """Rules 1 and 2 for ``value`` (whose random part is ``variable_part``, default all of it)."""
    return "EXAMPLE" in value or is_repeated_filler(
        value if variable_part is None else variable_part
    )


def is_pragma_allowed(line: bytes, previous_line: bytes) -> bool:
    """True if ``line`` carries the allow pragma, or ``previous_line`` the nextline pragma."""
    if b"allowlist" not in line and b"allowlist" not in previous_line:
        return False
    return bool(_SAME_LINE.search(line)) or bool(_NEXT_LINE.search(previous_line))


def shannon_bits(value: str) -> float:
    """Shannon entropy of ``value`` in bits per character."""
    if not value:
        return 0.0
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in Counter(value).values())
