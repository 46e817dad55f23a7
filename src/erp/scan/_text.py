"""One file's bytes with the cheap derived views the detectors share (lower-case copy, line index).

Detectors work on bytes, not ``str``: no decoding cost, and every offset is a byte offset that
maps back to a line with one binary search.

Two notions of a line:

* **numbered lines** (:meth:`Text.line_of`, :meth:`Text.line`): what findings are reported on
  and what the allow pragma is read from. A line ends at ``\r\n``, ``\r`` or ``\n``, as
  Python reads a text file (universal newlines), as detect-secrets numbers the lines it asks its
  plugins about, and as editors show them: a lone ``\r`` starts a new line, so a pragma before
  it cannot allow a value after it.
* **syntax lines** (:meth:`Text.line_start`, :meth:`Text.line_end`, :meth:`Text.line_at`): how
  detectors read multi-line constructs (YAML blocks, ``[jwt]`` sections); split at ``\n`` only,
  so a ``\r\n`` line keeps its ``\r`` and the detectors' ``\r?$`` patterns apply.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

__all__ = ["ALNUM_CLASS", "B64URL_MASK", "BASE64_CLASS", "Text", "find_all"]

_NEWLINE = re.compile(rb"\r\n?|\n")
"""A numbered line's end: Python's universal newlines (and so detect-secrets')."""


def _mask_table() -> bytes:
    """Byte map: base64url characters -> ``a``, ``+`` ``/`` -> ``b``, ``=`` stays, others -> space.

    On the masked copy a 43-character run of ``a`` followed by ``=`` is found with one
    ``bytes.find`` (a skipping substring search) instead of a regex tried at every offset.
    """
    table = bytearray(b" " * 256)
    for char in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-":
        table[char] = ord("a")
    table[ord("+")] = ord("b")
    table[ord("/")] = ord("b")
    table[ord("=")] = ord("=")
    return bytes(table)


B64URL_MASK = _mask_table()


def _class_table(members: bytes) -> bytes:
    table = bytearray(b" " * 256)
    for char in members:
        table[char] = ord("a")
    return bytes(table)


BASE64_CLASS = _class_table(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
"""Standard base64 characters (AWS secret keys)."""
ALNUM_CLASS = _class_table(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
"""Letters and digits (PagerDuty routing keys)."""


class Text:
    """The content of one file as bytes, with lazily built views and a line index."""

    __slots__ = ("_classes", "_line_starts", "_lower", "_mask", "_newlines", "data", "name")

    def __init__(self, data: bytes, name: str = "") -> None:
        self.data = data
        self.name = name
        """The file's base name (some detectors look at it), or empty."""
        self._lower: bytes | None = None
        self._mask: bytes | None = None
        self._line_starts: list[int] | None = None
        self._newlines: list[int] | None = None
        self._classes: dict[bytes, bytes] = {}

    @property
    def lower(self) -> bytes:
        """ASCII lower-case copy; offsets are the same as in :attr:`data`."""
        if self._lower is None:
            self._lower = self.data.lower()
        return self._lower

    @property
    def mask(self) -> bytes:
        """The base64url class mask of :attr:`data` (see :data:`B64URL_MASK`)."""
        if self._mask is None:
            self._mask = self.data.translate(B64URL_MASK)
        return self._mask

    def has_run(self, table: bytes, length: int) -> bool:
        """Whether ``length`` consecutive bytes of the class ``table`` (see
        :data:`BASE64_CLASS`) occur: a value of a fixed length is possible at all.

        Two C-speed passes per file, so a detector can skip a file without looking at each
        occurrence of its (common) names.
        """
        masked = self._classes.get(table)
        if masked is None:
            masked = self._classes[table] = self.data.translate(table)
        return b"a" * length in masked

    def _starts(self) -> list[int]:
        if self._line_starts is None:
            self._line_starts = [0, *(m.end() for m in _NEWLINE.finditer(self.data))]
        return self._line_starts

    def line_of(self, offset: int) -> int:
        """The 1-based number of the (numbered) line holding byte ``offset``."""
        return bisect.bisect_right(self._starts(), offset)

    def _nl(self) -> list[int]:
        # Offsets of every \n, found once: a search per call from each offset was quadratic
        # on a long line ("jwtjwtjwt...", minified code), where every call walks the line.
        if self._newlines is None:
            data, found = self.data, []
            index = data.find(b"\n")
            while index >= 0:
                found.append(index)
                index = data.find(b"\n", index + 1)
            self._newlines = found
        return self._newlines

    def line_start(self, offset: int) -> int:
        """Offset of the first byte of the syntax line (split at ``\\n``) holding ``offset``."""
        newlines = self._nl()
        before = bisect.bisect_left(newlines, offset)
        return newlines[before - 1] + 1 if before else 0

    def line_end(self, offset: int) -> int:
        """Offset just past the last byte (before the ``\\n``) of the syntax line at ``offset``."""
        newlines = self._nl()
        after = bisect.bisect_left(newlines, offset)
        return newlines[after] if after < len(newlines) else len(self.data)

    def line_at(self, offset: int) -> bytes:
        """The syntax line holding ``offset``, without its ``\\n``."""
        return self.data[self.line_start(offset) : self.line_end(offset)]

    def line_offset(self, number: int) -> int:
        """Offset of the first byte of numbered line ``number`` (1-based); the size past the end."""
        starts = self._starts()
        return starts[number - 1] if 1 <= number <= len(starts) else len(self.data)

    def line(self, number: int) -> bytes:
        """Numbered line ``number`` (1-based), without its line break; empty past the end."""
        starts = self._starts()
        if number < 1 or number > len(starts):
            return b""
        start = starts[number - 1]
        if number == len(starts):
            return self.data[start:]
        # A numbered line holds no \r or \n but the one break (\r, \n or \r\n) ending it.
        return self.data[start : starts[number]].rstrip(b"\r\n")


def find_all(haystack: bytes, needle: bytes, start: int = 0) -> Iterator[int]:
    """Offsets of every occurrence of ``needle`` (a fast substring search, unlike a regex scan)."""
    index = haystack.find(needle, start)
    while index >= 0:
        yield index
        index = haystack.find(needle, index + 1)
