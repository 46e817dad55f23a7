"""Where a value is bound to a name: one grammar of assignments and key/value pairs for all.

Secrets without a shape of their own (AWS secret keys, PagerDuty routing keys, JWT secrets) are
found after their name. What may stand between the end of a name and the start of its value is
the same for all of them, and is written once here (applied to the lower-case copy, so
``Value``/``VALUE`` match ``value``):

* the name's closing quote, plain or JSON-escaped (``\\"``), and ``]``/``)`` (``ENV['X']``,
  ``getenv("X")``);
* a type (``: string``, ``: SecretStr``, Go's ``var x string``) before ``=``;
* any run of spaces (``terraform fmt`` alignment) and at most one line break (a value on the
  line after its name: multi-line calls, XML elements, ``key: |`` block scalars, ``\\``
  continuations);
* an operator: ``=`` ``:`` ``:=`` ``::=`` ``:::=`` ``?=`` ``+=`` ``.=`` ``??=`` ``||=`` ``=>``
  ``,`` ``(`` ``>`` (an XML element), ``||`` ``??`` ``or`` (fallbacks:
  ``process.env.X || "..."``), or blanks alone on the name's line (``ENV NAME value``);
* a name/value pair: the name followed by a ``value`` member (Kubernetes ``env``, ECS
  ``{"name": ..., "value": ...}``, ``<entry name=".." value=".."/>``, ``<name>..</name><value>``);
* before the value: a YAML block indicator, a wrapping call (``[]byte(``, ``SecretStr(``,
  ``Buffer.from(``), and an opening quote (maybe escaped, maybe ``b``/``r``/``u``-prefixed).
"""

from __future__ import annotations

import re

__all__ = ["SEPARATOR", "VALUE_MEMBER", "value_after"]

_QUOTE = rb"(?:\\{0,3}[\"'`])"
_BREAK = rb"[ \t]*(?:\\?\r?\n[ \t]*)?"
_TYPED = (
    rb"(?:[ \t]*:[ \t]*[a-z_][\w.<>\[\]?]{0,40}[ \t]*(?==)"
    rb"|[ \t]+(?:string|str|\[\]byte)[ \t]*(?==))"
)
_VALUE_MEMBER = (
    rb"(?:"
    + _QUOTE
    + rb"?[ \t]*(?:[,;]"
    + _BREAK
    + rb")?|"
    + _BREAK
    + rb"|[ \t]*</[\w:.-]+>"
    + _BREAK
    + rb")[ \t]*(?:-[ \t]+)?<?"
    + _QUOTE
    + rb"?(?:value|parametervalue|secretvalue|string)"
    + _QUOTE
    + rb"?[ \t]*(?:=|:|>)"
)
VALUE_MEMBER = _VALUE_MEMBER
"""Pattern (bytes, for the lower-case copy): from a name's end through the ``value`` member of
its name/value pair (``- name: X`` / ``value:``, ``{"name": "X", "value":``), up to the operator."""
_OPERATOR = rb"(?:=>|:::=|::=|:=|\?\?=|\|\|=|[?+.|!]=|==|=|:|,|\(|>|\|\||\?\?|[ \t]or[ \t])"
SEPARATOR = re.compile(
    rb"(?:" + _QUOTE + rb"|\[\]|\]|\))*"  # the name's closing quote, ENV['X'], getenv("X")
    rb"(?:" + _VALUE_MEMBER + rb"|" + _TYPED + rb"?" + _BREAK + _OPERATOR + rb"|[ \t]+)"
    + _BREAK
    + rb"(?:[|>][-+]?[ \t]*\r?\n[ \t]*)?"  # YAML block scalar
    rb"(?:(?:\[\]byte|[a-z_][\w.]{0,40})\([ \t]*)?"  # []byte("..."), SecretStr("...")
    rb"(?:[bru]{0,2}" + _QUOTE + rb"{1,2}|@\")?"  # opening quote ("\"..." in Gradle)
)  # fmt: skip
"""What may separate a name from its value (see the module docstring); match on lower-case."""


def value_after(
    lower: bytes, name_end: int, value: re.Pattern[bytes], data: bytes
) -> re.Match[bytes] | None:
    """``value`` matched on ``data`` where the value bound to the name ending at ``name_end``
    starts (``lower`` is ``data`` in lower case), or None."""
    separator = SEPARATOR.match(lower, name_end)
    if separator is None:
        return None
    return value.match(data, separator.end())
