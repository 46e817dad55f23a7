"""Environment settings, read once each, named, parsed and range-checked in one place.

Every ``ERP_*`` number, duration, choice or flag goes through these readers, so a malformed
value gets the same one-sentence :class:`~erp.errors.SettingError` everywhere: it names the
variable, what is wrong and the accepted range, and never echoes a value that could be a
secret pasted into the wrong variable (long values are named by length and fingerprint).
``NaN``, infinities and values outside the stated range are refused, never clamped.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from datetime import timedelta

from erp.errors import SettingError

TYPE_CHECKING = False  # no typing import at run time: the rotation script's start-up path
if TYPE_CHECKING:
    from pathlib import Path
    from typing import TypeVar

    _T = TypeVar("_T", bound=str)

__all__ = [
    "Env",
    "fingerprinted",
    "looks_like_secret",
    "read_bool",
    "read_choice",
    "read_duration",
    "read_float",
    "read_int",
    "read_path",
    "read_pattern",
    "read_text",
    "read_url",
    "shown",
    "url_problem",
]

Env = Mapping[str, str]

_MAX_SHOWN = 24
_SAFE_CHARS = frozenset("0123456789.+-eEinfatyINFATYsmhd_ ")


def shown(value: str) -> str:
    """How a setting's value may appear in a message: itself if short and plain (``'nan'``),
    else only its length and fingerprint (it could be a secret pasted into the wrong variable).
    """
    if len(value) <= _MAX_SHOWN and set(value) <= _SAFE_CHARS | set("abcdefghijklmnopqrstuvwxyz"):
        return repr(value)
    return fingerprinted(value)


def _env(env: Env | None) -> Env:
    return os.environ if env is None else env


def _raw(env: Env | None, name: str) -> str | None:
    value = _env(env).get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _number(value: float) -> str:
    # exact: ":g" would print 1048576 as 1.04858e+06, which reads as a different limit
    if isinstance(value, int) or value.is_integer():
        return str(int(value))  # copyable into the variable as it stands
    return repr(value)


def _range_text(minimum: float | None, maximum: float | None, unit: str) -> str:
    if minimum is not None and maximum is not None:
        return f"a number from {_number(minimum)} to {_number(maximum)}{unit}"
    if minimum is not None:
        return f"a number of at least {_number(minimum)}{unit}"
    if maximum is not None:
        return f"a number of at most {_number(maximum)}{unit}"
    return f"a finite number{unit}"


def read_float(
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    unit: str = "",
    env: Env | None = None,
) -> float:
    """``$name`` as a finite float in ``[minimum, maximum]``, or ``default`` when unset or empty."""
    raw = _raw(env, name)
    if raw is None:
        return default
    expect = _range_text(minimum, maximum, f" {unit}" if unit else "")
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(name, f"is {shown(raw)}, not a number", f"set it to {expect}") from None
    if not math.isfinite(value):
        raise SettingError(name, f"is {shown(raw)}, not a finite number", f"set it to {expect}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise SettingError(name, f"is {shown(raw)}, out of range", f"set it to {expect}")
    return value


def read_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    unit: str = "",
    env: Env | None = None,
) -> int:
    """``$name`` as an integer in ``[minimum, maximum]``, or ``default`` when unset or empty."""
    raw = _raw(env, name)
    if raw is None:
        return default
    expect = _range_text(minimum, maximum, f" {unit}" if unit else "").replace(
        "number", "whole number"
    )
    try:
        value = int(raw, 10)
    except ValueError:
        raise SettingError(
            name, f"is {shown(raw)}, not a whole number", f"set it to {expect}"
        ) from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise SettingError(name, f"is {shown(raw)}, out of range", f"set it to {expect}")
    return value


def read_duration(
    name: str,
    default: timedelta,
    *,
    unit_seconds: float = 1.0,
    minimum: timedelta | None = None,
    maximum: timedelta | None = None,
    env: Env | None = None,
) -> timedelta:
    """``$name`` (a number of units of ``unit_seconds``) as a ``timedelta`` within bounds."""
    unit = {1.0: "seconds", 60.0: "minutes", 3600.0: "hours", 86400.0: "days"}.get(
        unit_seconds, f"x {unit_seconds:g} s"
    )
    value = read_float(
        name,
        default.total_seconds() / unit_seconds,
        minimum=None if minimum is None else minimum.total_seconds() / unit_seconds,
        maximum=None if maximum is None else maximum.total_seconds() / unit_seconds,
        unit=unit,
        env=env,
    )
    return timedelta(seconds=value * unit_seconds)


def read_choice(name: str, default: _T, choices: tuple[_T, ...], *, env: Env | None = None) -> _T:
    """``$name`` (case-insensitive) as one of ``choices``, or ``default`` when unset or empty."""
    raw = _raw(env, name)
    if raw is None:
        return default
    for choice in choices:
        if raw.lower() == choice.lower():
            return choice
    listed = ", ".join(repr(c) for c in choices)
    # A short value of letters, digits and dashes (HS512, a typo) is a word, not a secret:
    # shown, so the operator sees what was typed; anything else only by fingerprint.
    word = len(raw) <= 8 and raw.replace("-", "").replace("_", "").isalnum() and raw.isascii()
    value = repr(raw) if word else shown(raw)
    raise SettingError(name, f"is {value}, which is unknown", f"set it to one of {listed}")


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def read_bool(name: str, default: bool, *, env: Env | None = None) -> bool:
    """``$name`` as a flag (1/true/yes/on or 0/false/no/off), or ``default`` when unset."""
    raw = _raw(env, name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise SettingError(name, f"is {shown(raw)}, not a flag", "set it to 1/true/yes or 0/false/no")


def read_text(name: str, default: str | None = None, *, env: Env | None = None) -> str | None:
    """``$name`` stripped, or ``default`` when unset or empty."""
    raw = _raw(env, name)
    return default if raw is None else raw


def read_file_name(name: str, default: str, *, env: Env | None = None) -> str:
    """``$name`` as a file name (text), or ``default`` when unset or empty; refuses NUL bytes.

    :func:`read_path` without ``pathlib``, for the rotation script's start-up path.
    """
    raw = _raw(env, name)
    if raw is None:
        return default
    if "\x00" in raw:
        raise SettingError(name, "contains a NUL byte", "set it to a file path")
    return raw


def read_path(name: str, default: Path | str, *, env: Env | None = None) -> Path:
    """``$name`` as a path, or ``default`` when unset or empty; refuses NUL bytes."""
    from pathlib import Path

    return Path(read_file_name(name, str(default), env=env))


# -- values that may be secrets, URLs, names of a fixed shape --------------------------------

_SECRET_MIN_LENGTH = 32
# mixing per character: names score under 0.1; random base64 or hex over 0.12 in 9,995 of 10,000
_SECRET_MIN_MIXING = 0.12


def looks_like_secret(value: str) -> bool:
    """Whether ``value`` looks like a key or token pasted where a name belongs.

    Long (32+ characters, as ``shown_id`` counts for key ids), one unbroken run (no space, no
    ``/`` as a path or a hierarchical name has), and mixed the way random text is: letters and
    digits alternating, capitals next to capitals or digits. Words, ``kebab-case``,
    ``snake_case``, ``CamelCase`` and ``UPPER_CASE`` names mix far less. An ARN is a name; a
    long random-looking name can always be given by its ARN.
    """
    text = value.strip()
    if len(text) < _SECRET_MIN_LENGTH or text.startswith("arn:"):
        return False
    if any(c.isspace() for c in text) or "/" in text:
        return False
    from itertools import pairwise  # here, not at import: the rotation script starts fast

    pairs = list(pairwise(text))
    mixed = sum(1 for a, b in pairs if a.isalnum() and b.isalnum() and a.isdigit() != b.isdigit())
    shouty = 0
    if any(c.islower() for c in text):  # capitals side by side mean nothing in UPPER_CASE
        shouty = sum(1 for a, b in pairs if a.isupper() and (b.isupper() or b.isdigit()))
    return mixed + shouty >= _SECRET_MIN_MIXING * len(text)


def fingerprinted(value: str) -> str:
    """How a value that could be a secret appears in a message: its length and fingerprint."""
    from erp.fingerprint import fingerprint

    return f"(a {len(value)}-character value {fingerprint(value)}, not shown)"


def read_pattern(
    name: str, pattern: str, expect: str, default: str | None = None, *, env: Env | None = None
) -> str | None:
    """``$name`` stripped if it matches ``pattern`` in full (``expect`` says what it should be).

    A value that looks like a pasted secret is refused even if it matches, by fingerprint only.
    """
    import re  # here, not at import: the rotation script's start-up never needs it

    raw = _raw(env, name)
    if raw is None:
        return default
    if looks_like_secret(raw):
        raise SettingError(
            name, f"is {fingerprinted(raw)}, which looks like a secret", f"set it to {expect}"
        )
    if re.fullmatch(pattern, raw) is None:
        raise SettingError(name, f"is {shown(raw)}, not {expect}", f"set it to {expect}")
    return raw


_URL_SCHEME = frozenset("abcdefghijklmnopqrstuvwxyz0123456789+.-")


def url_problem(
    url: str, *, schemes: tuple[str, ...] = ("https", "http"), http_loopback_only: bool = False
) -> str | None:
    """What is wrong with ``url`` as an endpoint, or ``None``; the text never quotes the URL.

    Refused: a scheme not in ``schemes``, no host, a user name or password in the URL (put
    credentials where secrets go, never in a setting that is printed and logged), spaces or
    control characters, and (with ``http_loopback_only``) plain ``http`` to another machine.
    """
    from urllib.parse import urlsplit

    if not url.isprintable() or any(c.isspace() for c in url):
        return "contains spaces or control characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        return "is not a valid URL"
    scheme = parts.scheme.lower()
    wanted = " or ".join(f"{s}://" for s in schemes)
    if scheme not in schemes:
        plain = 0 < len(scheme) <= 16 and set(scheme) <= _URL_SCHEME
        named = f"'{scheme}://'" if plain else "no scheme"
        return f"uses {named}, not {wanted}"
    if parts.username is not None or parts.password is not None:
        return "holds a user name or password (credentials never go in a URL setting)"
    if not host:
        return "has no host name"
    if http_loopback_only and scheme == "http" and host not in ("127.0.0.1", "localhost", "::1"):
        return "uses plain http:// to another machine (http is allowed only to 127.0.0.1)"
    return None


def read_url(
    name: str,
    default: str | None = None,
    *,
    schemes: tuple[str, ...] = ("https", "http"),
    http_loopback_only: bool = False,
    env: Env | None = None,
) -> str | None:
    """``$name`` as an endpoint URL (see :func:`url_problem`), or ``default`` when unset or empty.

    The refused value is shown only if it is short and plain (``'nan'``), else by fingerprint:
    a URL can carry a token or a password.
    """
    raw = _raw(env, name)
    if raw is None:
        return default
    problem = url_problem(raw, schemes=schemes, http_loopback_only=http_loopback_only)
    if problem is not None:
        wanted = " or ".join(f"{s}://" for s in schemes)
        fix = f"set it to a URL starting with {wanted} and a host name, without credentials"
        raise SettingError(name, f"is {shown(raw)}, which {problem}", fix)
    return raw
