"""What a detector is: a named finder of :class:`Hit` s in a :class:`~erp.scan._text.Text`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from erp.scan._text import Text

__all__ = ["Detector", "Hit", "redact"]

ALNUM = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
"""Bytes that may not touch a token on either side (it would be part of a longer word)."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One match: where it is, the secret itself (never shown), and how to show it."""

    offset: int
    value: str = field(repr=False)
    shown: str
    example: bool = False
    """True if the stated documentation-example rule lets it through (see :mod:`erp.scan.rules`)."""


class Detector(ABC):
    """A kind of secret: a stable name (the detect-secrets ``secret_type``) and a finder."""

    name: ClassVar[str]
    """Human and baseline name, e.g. ``Fernet Key``; also the detect-secrets secret type."""
    slug: ClassVar[str]
    """Short id for options and JSON, e.g. ``fernet-key``."""
    plugin: ClassVar[str]
    """Class name of the matching detect-secrets plugin in :mod:`erp.scan.ds_plugins`."""
    summary: ClassVar[str]
    """One line saying what is matched."""

    @abstractmethod
    def find(self, text: Text) -> Iterator[Hit]:
        """Every match in ``text``, documentation examples included but marked."""

    def __repr__(self) -> str:
        return f"<detector {self.slug}>"


def redact(value: str, *, prefix: str = "", keep: int = 4) -> str:
    """``prefix`` (not secret) + at most ``keep`` leading characters of the rest + the length.

    Never more than a quarter of the secret part is shown.
    """
    rest = value[len(prefix) :] if prefix and value.startswith(prefix) else value
    shown = rest[: min(keep, len(rest) // 4)]
    return f"{prefix}{shown}…({len(value)} chars)"
