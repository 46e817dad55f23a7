"""Immutable value objects without the ``dataclasses`` import.

``dataclasses`` imports ``inspect`` (and with it ``ast``, ``dis``, ``tokenize``): about a
tenth of the rotation script's whole start-up on a small machine. The value objects on that
path (keys, rings, policies, journal results) derive from :class:`Record` instead: fields
are the ``__slots__`` (listed in order in ``_fields``), each class writes its ``__init__`` (so
signatures stay typed), and equality, hashing, ``repr`` (hiding ``_hidden`` fields),
``replace`` and pickling come from here. Objects off the start-up path keep using ``dataclasses``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy reads it as True)
if TYPE_CHECKING:
    from typing import Any, ClassVar, Self

__all__ = ["Record"]


class Record:
    """A frozen value: fields are ``_fields`` (its ``__slots__``), set once by :meth:`_set`."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    """The fields in their constructor's order; each subclass sets ``__slots__ = _fields``."""
    _hidden: ClassVar[frozenset[str]] = frozenset()
    """Fields never shown by ``repr`` (secrets, documents holding secrets)."""

    def _set(self, **values: object) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (validated again by ``__init__``)."""
        values = {name: getattr(self, name) for name in self._fields}
        unknown = set(changes) - set(values)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        values.update(changes)
        return type(self)(**values)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; use .replace({name}=...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((self.__class__, self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}" for name in self._fields if name not in self._hidden
        )
        return f"{type(self).__name__}({shown})"

    def __reduce__(self) -> tuple[type[Self], tuple[object, ...]]:
        # positional in slot order: every subclass's __init__ takes its fields in that order
        return (type(self), self._values())
