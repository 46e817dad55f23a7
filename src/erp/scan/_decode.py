"""Base64 blobs that hold secrets in plain sight: Kubernetes Secret ``data:`` and kubeconfig.

A Kubernetes Secret manifest stores every value base64-encoded under ``data:``; a kubeconfig
stores the client's private key as ``client-key-data``. The scanner decodes these and runs
every detector over the decoded text, reporting hits at the encoded value's line. A one-line
value is scanned as ``name=value`` so that name rules apply (``aws_secret_access_key``,
``jwt-secret`` ...); a multi-line one (a PEM key, an ``.env`` file) is scanned as it is.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

from erp.scan._text import Text, find_all

__all__ = ["encoded_blobs"]

_SECRET_KIND = re.compile(rb"kind[\"']?[ \t]*:[ \t]*[\"']?secret[\"']?[ \t]*[,\r\n}]")
_DATA = re.compile(rb"^([ \t]*)[\"']?data[\"']?[ \t]*:[ \t]*(\{)?|\"data\"[ \t]*:[ \t]*(\{)", re.M)
_YAML_ENTRY = re.compile(
    rb"^([ \t]+)[\"']?([\w.-]+)[\"']?[ \t]*:[ \t]*[\"']?([A-Za-z0-9+/]{8,}={0,2})[\"']?[ \t]*\r?$",
    re.M,
)
_JSON_ENTRY = re.compile(rb"\"([\w.-]+)\"[ \t]*:[ \t]*\"([A-Za-z0-9+/]{8,}={0,2})\"")
# kubeconfig and similar: client-key-data, client-certificate-data, ...-data: <base64>.
_DASH_DATA = re.compile(
    rb"-data[\"']?[ \t]*:[ \t]*[\"']?([A-Za-z0-9+/]{16,}={0,2})(?![A-Za-z0-9+/=])"
)
_NAME_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_-")
_BLOCK_LIMIT = 1 << 20


def _decoded(raw: bytes) -> bytes | None:
    """Text decoded from standard base64, or None if ``raw`` is not base64 of text."""
    try:
        decoded = base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    if not decoded or b"\0" in decoded:
        return None
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return decoded


def _as_text(name: bytes, decoded: bytes) -> bytes:
    return decoded if b"\n" in decoded.strip() else name + b"=" + decoded.strip()


def encoded_blobs(text: Text) -> Iterator[tuple[int, str, bytes]]:
    """(offset of the encoded value, entry name, decoded text to scan) of each blob."""
    lower = text.lower
    data = text.data
    for index in find_all(lower, b"-data"):
        match = _DASH_DATA.match(data, index)
        if match is None:
            continue
        start = index
        while start and lower[start - 1] in _NAME_CHARS:
            start -= 1
        name = data[start : index + 5]
        decoded = _decoded(match.group(1))
        if decoded is not None:
            yield match.start(1), name.decode(), _as_text(name, decoded)
    if b"secret" not in lower or not any(
        _SECRET_KIND.match(lower, i) for i in find_all(lower, b"kind")
    ):
        return
    for block in _DATA.finditer(data):
        if block.group(2) is not None or block.group(3) is not None:  # "data": {...}
            end = data.find(b"}", block.end(), block.end() + _BLOCK_LIMIT)
            entries = _JSON_ENTRY.finditer(data, block.end(), end if end > 0 else len(data))
            pairs = [(m.start(2), m.group(1), m.group(2)) for m in entries]
        else:
            pairs = list(_yaml_block(text, block))
        for offset, name, raw in pairs:
            decoded = _decoded(raw)
            if decoded is not None:
                yield offset, name.decode(), _as_text(name, decoded)


def _yaml_block(text: Text, block: re.Match[bytes]) -> Iterator[tuple[int, bytes, bytes]]:
    """Entries indented deeper than the ``data:`` line, up to the first line that is not."""
    data = text.data
    indent = len(block.group(1).expandtabs())
    position = data.find(b"\n", block.end()) + 1
    while 0 < position < len(data):
        line_end = text.line_end(position)
        line = data[position:line_end]
        if line.strip() and not line.lstrip().startswith(b"#"):
            entry = _YAML_ENTRY.match(data, position, line_end)
            if len(line) - len(line.lstrip(b" \t")) <= indent or entry is None:
                return
            yield entry.start(3), entry.group(2), entry.group(3)
        position = line_end + 1
