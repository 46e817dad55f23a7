"""detect-secrets filter for the stated documentation-example rule (see :mod:`erp.scan.rules`).

Listed in ``.secrets.baseline`` as ``erp.scan.ds_filters.is_documentation_example``, so
detect-secrets' built-in plugins let documentation examples through as ``erp-secrets scan``
does. (The project's own plugins apply the full rule, ARN accounts included, themselves; an
ARN is never an example by its words, only by its account.)
"""

from __future__ import annotations

import re

from erp.scan.files import skip_reason
from erp.scan.rules import is_documentation_example as _rule

__all__ = ["is_documentation_example", "is_not_scanned_file"]

_TAIL = re.compile(r"[A-Za-z0-9]{8,}$")


def is_documentation_example(secret: str) -> bool:
    """Rule 1 (contains ``EXAMPLE``) or rule 2 on the value's last token (``.../XXXXXXXX``).

    Not for ARNs: only their account makes them examples, and the project's ARN plugin applies
    that rule itself (``arn:aws:iam::<real account>:role/EXAMPLE-deployer`` is reported).
    """
    if secret.startswith("arn:"):
        return False
    tail = _TAIL.search(secret)
    return _rule(secret, tail.group() if tail else secret)


def is_not_scanned_file(filename: str) -> bool:
    """The shared file-selection rule (:func:`erp.scan.files.skip_reason`): True to skip."""
    return skip_reason(filename) is not None
