"""Key-material detectors: Fernet keys and PEM private-key blocks."""

from __future__ import annotations

import re
from collections.abc import Iterator

from erp.scan._base import Detector, Hit, redact
from erp.scan._text import Text
from erp.scan.rules import is_documentation_example

__all__ = ["FernetKey", "PrivateKeyBlock"]

_FERNET_RUN = b"a" * 43 + b"="
# 32 bytes = 256 bits; the 43rd character carries the last 4 bits and two zero bits, so it is
# one of these sixteen. A random 43-character string followed by "=" passes only 1 time in 4.
_FERNET_LAST = frozenset(b"AEIMQUYcgkosw048")
# Digests of 32 bytes have the same shape; before them on their line stands their name.
_DIGEST_CONTEXT = re.compile(rb"sha-?256|integrity|digest|checksum|hash")


class FernetKey(Detector):
    name = "Fernet Key"
    slug = "fernet-key"
    plugin = "ErpFernetKeyDetector"
    summary = "url-safe base64 of 32 bytes (44 characters ending in '='), not a named digest"

    def find(self, text: Text) -> Iterator[Hit]:
        data = text.data
        if b"=" not in data:
            return
        mask = text.mask
        size = len(mask)
        index = mask.find(_FERNET_RUN)
        while index >= 0:
            end = index + 44
            if (
                (index == 0 or mask[index - 1] not in b"ab")
                and (end >= size or mask[end] not in b"ab=")
                and data[index + 42] in _FERNET_LAST
            ):
                value = data[index:end].decode()
                line_start = text.line_start(index)
                before = text.lower[max(line_start, index - 200) : index]
                if (
                    len(set(value)) >= 16
                    and not _DIGEST_CONTEXT.search(before)
                    and not (line_start == index and _ends_base64_block(text, index))
                ):
                    yield Hit(index, value, redact(value), is_documentation_example(value))
            index = mask.find(_FERNET_RUN, end)


def _ends_base64_block(text: Text, line_start: int) -> bool:
    """The line before is a full-width base64 line: this is the last line of a PEM body."""
    if line_start < 2:
        return False
    start = text.line_start(line_start - 1)
    previous = text.mask[start : line_start - 1].rstrip(b" ")
    return len(previous) >= 60 and not previous.translate(None, b"ab=")


_PEM_BEGIN = re.compile(rb"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY(?: BLOCK)?-----")
# Encrypted PEM and PGP blocks carry "Name: value" header lines before the base64 body.
_PEM_HEADER = re.compile(rb"(?:[ \t\r\n\"']|\\[nr])*[A-Z][A-Za-z0-9-]*: [^\n\\]*(?:\\n|\r?\n)")
# The body: runs of at least 16 base64 characters, between line breaks, quotes, "\\n" escapes.
_PEM_BODY = re.compile(rb"(?:(?:\\[nr]|[ \t\r\n\"',+])*[A-Za-z0-9+/=]{16,})+")
_PEM_NOT_BASE64 = re.compile(rb"\\[nr]|[^A-Za-z0-9+/=]")
_PEM_MIN_BODY = 64


class PrivateKeyBlock(Detector):
    name = "Private Key Block"
    slug = "private-key"
    plugin = "ErpPrivateKeyDetector"
    summary = (
        "a '-----BEGIN … PRIVATE KEY-----' header followed by at least 64 base64 characters "
        "(also inside string literals with \\n escapes)"
    )

    def find(self, text: Text) -> Iterator[Hit]:
        data = text.data
        if b"-----BEGIN " not in data:
            return
        for begin in _PEM_BEGIN.finditer(data):
            position = begin.end()
            for _ in range(6):
                header = _PEM_HEADER.match(data, position)
                if header is None:
                    break
                position = header.end()
            body = _PEM_BODY.match(data, position)
            if body is None:
                continue
            base64 = _PEM_NOT_BASE64.sub(b"", body.group())
            if len(base64) < _PEM_MIN_BODY:
                continue
            value = base64.decode()
            label = begin.group().decode()
            shown = f"{label} …({len(value)} base64 chars)"
            yield Hit(begin.start(), value, shown, is_documentation_example(value))
