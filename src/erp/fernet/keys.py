"""The Fernet key ring: one primary key that encrypts, older keys that only decrypt.

The convention, stated once: ``FERNET_KEY`` holds exactly one key, the **primary**, the
only key that encrypts. ``FERNET_FALLBACK_KEYS`` holds the older keys that must stay
readable until re-encryption is verified, comma-separated, **newest first**. Decryption
tries ``[FERNET_KEY, *FERNET_FALLBACK_KEYS]`` in that order, which is exactly the order of
the underlying :class:`cryptography.fernet.MultiFernet`. Both names are resolved like every
secret (environment first, then the vault file(s), see :mod:`erp.secrets`).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from erp.errors import SecretNotFound
from erp.fernet.errors import (
    FernetKeyError,
    FernetTokenExpired,
    NoKeyOpens,
    NotText,
    TimestampInFuture,
)
from erp.fingerprint import fingerprint
from erp.secrets import EnvSource, SecretResolver, default_resolver

if TYPE_CHECKING:
    from erp.fernet.rotator import Rotator

__all__ = [
    "FALLBACK_NAME",
    "MAX_CLOCK_SKEW_SECONDS",
    "PRIMARY_NAME",
    "FernetKeyRing",
    "FernetRingKey",
    "TimeLike",
    "generate_key",
    "key_fingerprint",
    "load_fernet_ring",
    "parse_key",
    "resolve_key_text",
    "token_timestamp",
]

PRIMARY_NAME = "FERNET_KEY"
FALLBACK_NAME = "FERNET_FALLBACK_KEYS"


MAX_CLOCK_SKEW_SECONDS = 60
"""How far ahead of the clock a token's timestamp may be when a ``ttl`` is checked (as pyca)."""

TimeLike = int | float | datetime
"""A moment: seconds since the epoch, or an aware ``datetime``."""


def generate_key() -> str:
    """A fresh Fernet key (32 random bytes, url-safe base64), as the runbook prints it."""
    return Fernet.generate_key().decode()


def key_fingerprint(key: str) -> str:
    """The project's one fingerprint (:func:`erp.fingerprint.fingerprint`) of the key's text."""
    return fingerprint(key.strip())


_KEY_HELP = (
    "a Fernet key is 32 random bytes in url-safe base64 (44 characters ending in '='); "
    "create one with 'erp-secrets fernet generate'"
)


def parse_key(text: str, where: str) -> FernetRingKey:
    """Validate one key; ``where`` names its source for the error (the value never appears)."""
    key = text.strip()
    if not key:
        raise FernetKeyError(f"{where} is empty; {_KEY_HELP}")
    if "," in key:
        raise FernetKeyError(
            f"{where} holds more than one key; {PRIMARY_NAME} holds exactly one (the key "
            f"that encrypts) and older keys go in {FALLBACK_NAME}, newest first"
        )
    try:
        raw = base64.b64decode(key.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise FernetKeyError(f"{where} is not url-safe base64; {_KEY_HELP}") from None
    if len(raw) != 32:
        raise FernetKeyError(f"{where} decodes to {len(raw)} bytes, not 32; {_KEY_HELP}")
    return FernetRingKey(key, where)


@dataclass(frozen=True)
class FernetRingKey:
    """One Fernet key and where it came from. The key never appears in ``repr``."""

    key: str = field(repr=False)
    source: str = ""

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.key)

    @cached_property
    def fernet(self) -> Fernet:
        return Fernet(self.key)


@dataclass(frozen=True)
class FernetKeyRing:
    """The primary key and the fallbacks (newest first); see the module docstring."""

    primary: FernetRingKey
    fallbacks: tuple[FernetRingKey, ...] = ()

    def __post_init__(self) -> None:
        seen = {self.primary.key}
        unique = []
        for key in self.fallbacks:  # the primary or a repeated key adds nothing but cost
            if key.key not in seen:
                seen.add(key.key)
                unique.append(key)
        object.__setattr__(self, "fallbacks", tuple(unique))

    @classmethod
    def from_keys(cls, primary: str, fallbacks: Sequence[str] = ()) -> FernetKeyRing:
        """A ring from key strings (validated), e.g. in tests and scripts."""
        return cls(
            parse_key(primary, PRIMARY_NAME),
            tuple(parse_key(k, f"{FALLBACK_NAME}[{i}]") for i, k in enumerate(fallbacks)),
        )

    @property
    def keys(self) -> tuple[FernetRingKey, ...]:
        """Every key in decryption order: primary first, then fallbacks newest first."""
        return (self.primary, *self.fallbacks)

    def fingerprints(self) -> list[str]:
        return [k.fingerprint for k in self.keys]

    @cached_property
    def multi(self) -> MultiFernet:
        """The :class:`MultiFernet` over :attr:`keys` (the primary encrypts)."""
        return MultiFernet([k.fernet for k in self.keys])

    def primary_only(self) -> FernetKeyRing:
        """The ring without fallbacks: what remains after retirement."""
        return FernetKeyRing(self.primary)

    def encrypt(self, value: str | bytes) -> str:
        """Encrypt under the primary key; returns the token as text."""
        data = value.encode() if isinstance(value, str) else value
        return self.primary.fernet.encrypt(data).decode("ascii")

    def encrypt_at_time(self, value: str | bytes, current_time: TimeLike) -> str:
        """:meth:`encrypt` with the token's timestamp set to ``current_time`` (tests, replays)."""
        data = value.encode() if isinstance(value, str) else value
        return self.primary.fernet.encrypt_at_time(data, _seconds(current_time)).decode("ascii")

    def decrypt_bytes(self, token: str | bytes, *, ttl: timedelta | int | None = None) -> bytes:
        """The plaintext of ``token``, trying every key (primary first).

        Without ``ttl`` the token's age is not checked (stored values do not expire); with
        it, see :meth:`decrypt_bytes_at_time`. Raises :class:`NoKeyOpens` when no key opens
        ``token`` (tampered, truncated, not a token at all).
        """
        if ttl is None:
            return self._open(token)
        return self.decrypt_bytes_at_time(token, ttl=ttl, current_time=time.time())

    def decrypt_bytes_at_time(
        self, token: str | bytes, *, ttl: timedelta | int, current_time: TimeLike
    ) -> bytes:
        """:meth:`decrypt_bytes` judged at ``current_time``, the clock made a parameter.

        Raises :class:`FernetTokenExpired` when the token is older than ``ttl`` (seconds or a
        ``timedelta``) and :class:`TimestampInFuture` when its timestamp is more than
        :data:`MAX_CLOCK_SKEW_SECONDS` ahead, as pyca's ``decrypt_at_time`` does; the
        signature is checked first, so both name an authentic timestamp.
        """
        ttl_seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else ttl
        plaintext = self._open(token)
        now = _seconds(current_time)
        stamp = token_timestamp(token)
        if stamp + ttl_seconds < now:
            raise FernetTokenExpired(
                f"the value is {now - stamp:.0f} s old, older than the ttl of {ttl_seconds:g} s"
            )
        if stamp > now + MAX_CLOCK_SKEW_SECONDS:
            raise TimestampInFuture(
                f"the value's timestamp is {stamp - now:.0f} s in the future (more than the "
                f"{MAX_CLOCK_SKEW_SECONDS} s clock skew allowed)"
            )
        return plaintext

    def decrypt(self, token: str | bytes, *, ttl: timedelta | int | None = None) -> str:
        """:meth:`decrypt_bytes` decoded as UTF-8 (:class:`NotText` if it is not text)."""
        return _text(self.decrypt_bytes(token, ttl=ttl))

    def decrypt_at_time(
        self, token: str | bytes, *, ttl: timedelta | int, current_time: TimeLike
    ) -> str:
        """:meth:`decrypt_bytes_at_time` decoded as UTF-8 (:class:`NotText` if not text)."""
        return _text(self.decrypt_bytes_at_time(token, ttl=ttl, current_time=current_time))

    def _open(self, token: str | bytes) -> bytes:
        try:
            return self.multi.decrypt(token)
        except (InvalidToken, ValueError):  # ValueError: a str token with non-ASCII text
            raise NoKeyOpens(
                f"the value opens with none of the {len(self.keys)} configured Fernet key(s) "
                f"({', '.join(self.fingerprints())})"
            ) from None

    def opener(self, token: str | bytes) -> FernetRingKey | None:
        """The key that opens ``token`` (full decryption), or ``None``."""
        for key in self.keys:
            try:
                key.fernet.decrypt(token)
            except (InvalidToken, ValueError):
                continue
            return key
        return None

    def rotator(self) -> Rotator:
        """A fast re-encryption function for this ring; see :class:`erp.fernet.rotator.Rotator`."""
        from erp.fernet.rotator import Rotator

        return Rotator(self)


def _seconds(moment: TimeLike) -> int:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("current_time must be an aware datetime (or epoch seconds)")
        return int(moment.timestamp())
    return int(moment)


def _text(plaintext: bytes) -> str:
    try:
        return plaintext.decode()
    except UnicodeDecodeError:
        raise NotText(
            "the value opened, but its plaintext is not UTF-8 text; it was encrypted from "
            "bytes: read it with decrypt_bytes()"
        ) from None


def token_timestamp(token: str | bytes) -> int:
    """The timestamp written in ``token`` (unverified: call after the token opened)."""
    data = token.encode("ascii") if isinstance(token, str) else token
    raw = base64.urlsafe_b64decode(data)
    return int.from_bytes(raw[1:9], "big")


def resolve_key_text(name: str, resolver: SecretResolver | None) -> tuple[str, str] | None:
    """(value, source description) of ``name``, resolved like :func:`erp.secrets.get_secret`."""
    found = (resolver or default_resolver()).find(name)
    if found is None:
        return None
    value, source = found
    where = (
        f"environment variable {name}"
        if isinstance(source, EnvSource)
        else f"{name} in {source.describe()}"
    )
    return value, where


def load_fernet_ring(resolver: SecretResolver | None = None) -> FernetKeyRing:
    """The configured ring: ``FERNET_KEY`` (required) and ``FERNET_FALLBACK_KEYS`` (optional).

    Each name is resolved on its own, environment first, then the vault file(s).
    Raises :class:`~erp.errors.SecretNotFound` or :class:`FernetKeyError`; neither message
    contains key material.
    """
    found = resolve_key_text(PRIMARY_NAME, resolver)
    if found is None:
        sources = (resolver or default_resolver()).sources
        raise SecretNotFound(PRIMARY_NAME, [s.describe() for s in sources])
    primary = parse_key(*found)
    fallbacks: list[FernetRingKey] = []
    extra = resolve_key_text(FALLBACK_NAME, resolver)
    if extra is not None:
        text, where = extra
        parts = [p for p in (part.strip() for part in text.split(",")) if p]
        fallbacks = [parse_key(p, f"{where} (entry {i + 1})") for i, p in enumerate(parts)]
    return FernetKeyRing(primary, tuple(fallbacks))
