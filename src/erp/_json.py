"""Parse a JSON object from untrusted text, or say in one sentence where it broke.

Strict where :func:`json.loads` is lenient: ``NaN`` and ``Infinity`` (not JSON, RFC 8259
section 6) are refused, and so is nesting deeper than ``max_depth`` (``json`` would raise
``RecursionError`` at about 1,000 levels, after doing the work). Messages give the position,
never the text, because the text may be a secret.
"""

from __future__ import annotations

import json
import re

TYPE_CHECKING = False  # no typing import at run time: the rotation script's start-up path
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DEFAULT_MAX_DEPTH", "JsonProblem", "loads_object", "nesting_depth"]

DEFAULT_MAX_DEPTH = 32
"""Far deeper than any document ``erp`` reads (the vault is 3 levels deep)."""


class JsonProblem(ValueError):
    """Why a text is not an acceptable JSON object; ``str()`` is safe to show (no content).

    ``type_name`` is set when the text is valid JSON of another type (a list, a string).
    """

    def __init__(self, problem: str, type_name: str | None = None) -> None:
        super().__init__(problem)
        self.type_name = type_name


def _refuse_constant(name: str) -> Any:
    raise JsonProblem(f"{name} is not JSON")


_STRING = rb'"(?:[^"\\]|\\.)*"'  # compiled (and cached by re) on first use: off start-up
_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def nesting_depth(text: str | bytes, limit: int) -> int:
    """How deep ``[``/``{`` nest in ``text`` when that is over ``limit``; else 0 (or the depth).

    Brackets inside strings do not count. Linear, no recursion, and mostly in C: strings are
    cut out and everything but brackets dropped; ``limit`` rounds of deleting innermost
    ``[]`` pairs empty any document nested at most ``limit`` deep. Only what is left (too
    deep, or not balanced) is walked byte by byte, stopping as soon as ``limit`` is passed.
    """
    data = text.encode() if isinstance(text, str) else text
    if data.count(b"[") + data.count(b"{") <= limit:  # fast path: cannot be deeper
        return 0
    brackets = re.sub(_STRING, b"", data, flags=re.S).translate(_SQUARE, _NOT_BRACKET)
    if b"[" * (limit + 1) in brackets:  # the usual attack: one long run of openings
        return limit + 1
    reduced = brackets
    for _ in range(limit):
        if not reduced:
            return 0
        reduced = reduced.replace(b"[]", b"")
    if not reduced:
        return 0
    depth = deepest = 0
    for byte in brackets:
        if byte == 0x5B:  # "["
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        else:
            depth -= 1
    return deepest


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of a repeated name without a word: a vault written by hand with
    # one key id twice would lose a secret at the next rewrite. Refused, names not shown
    # (a map written the wrong way round has secrets for names).
    result = dict(pairs)
    if len(result) != len(pairs):
        raise JsonProblem("a name appears twice in one object (each may appear once)")
    return result


# built once: json.loads(..., parse_constant=...) would build a decoder on every call
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, object_pairs_hook=_unique_members)
_BOM = "\ufeff"


def loads_object(text: str | bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> dict[str, Any]:
    """The JSON object in ``text`` (bytes must be UTF-8); :class:`JsonProblem` if it is not one.

    A name repeated within one object is refused; a leading byte order mark (as some Windows
    editors write) is ignored, as RFC 8259 section 8.1 allows.
    """
    if nesting_depth(text, max_depth) > max_depth:
        raise JsonProblem(f"nested more than {max_depth} levels deep")
    try:
        decoded = text.decode("utf-8") if isinstance(text, bytes) else text
        value = _DECODER.decode(decoded.removeprefix(_BOM))
    except UnicodeDecodeError:
        raise JsonProblem("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise JsonProblem(
            f"not valid JSON ({exc.msg}; line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:  # belt and braces: nesting_depth should have caught it
        raise JsonProblem(f"nested more than {max_depth} levels deep") from None
    if not isinstance(value, dict):
        name = type(value).__name__
        raise JsonProblem(f"the top level must be a JSON object, not {name}", name)
    return value
