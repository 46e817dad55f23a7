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
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from erp.errors import ConfigError, SecretNotFound
from erp.errors import InvalidToken as ErpInvalidToken
from erp.secrets import EnvSource, SecretResolver, default_resolver

__all__ = [
    "FALLBACK_NAME",
    "PRIMARY_NAME",
    "FernetKey",
    "FernetKeyError",
    "FernetKeyRing",
    "NoKeyOpens",
    "Rotator",
    "generate_key",
    "key_fingerprint",
    "load_fernet_ring",
    "parse_key",
    "resolve_key_text",
]

PRIMARY_NAME = "FERNET_KEY"
FALLBACK_NAME = "FERNET_FALLBACK_KEYS"


class FernetKeyError(ConfigError):
    """``FERNET_KEY`` or ``FERNET_FALLBACK_KEYS`` is missing or not a valid Fernet key."""


class NoKeyOpens(ErpInvalidToken):
    """A stored value opens with none of the configured Fernet keys."""


def generate_key() -> str:
    """A fresh Fernet key (32 random bytes, url-safe base64), as the runbook prints it."""
    return Fernet.generate_key().decode()


def key_fingerprint(key: str) -> str:
    """``sha256:`` and 16 hex digits of the key's SHA-256: identifies a key, never reveals it."""
    return "sha256:" + hashlib.sha256(key.strip().encode()).hexdigest()[:16]


_KEY_HELP = (
    "a Fernet key is 32 random bytes in url-safe base64 (44 characters ending in '='); "
    "create one with 'erp-secrets fernet generate'"
)


def parse_key(text: str, where: str) -> FernetKey:
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
    return FernetKey(key, where)


@dataclass(frozen=True)
class FernetKey:
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

    primary: FernetKey
    fallbacks: tuple[FernetKey, ...] = ()

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
    def keys(self) -> tuple[FernetKey, ...]:
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

    def decrypt_bytes(self, token: str | bytes) -> bytes:
        """The plaintext of ``token``, trying every key; :class:`NoKeyOpens` otherwise."""
        try:
            return self.multi.decrypt(token)
        except InvalidToken:
            raise NoKeyOpens(
                f"the value opens with none of the {len(self.keys)} configured Fernet key(s) "
                f"({', '.join(self.fingerprints())})"
            ) from None

    def decrypt(self, token: str | bytes) -> str:
        """:meth:`decrypt_bytes` decoded as UTF-8."""
        return self.decrypt_bytes(token).decode()

    def opener(self, token: str | bytes) -> FernetKey | None:
        """The key that opens ``token`` (full decryption), or ``None``."""
        for key in self.keys:
            try:
                key.fernet.decrypt(token)
            except InvalidToken:
                continue
            return key
        return None

    def rotator(self) -> Rotator:
        """A fast re-encryption function for this ring; see :class:`Rotator`."""
        return Rotator(self)


Rotate = Callable[[str | bytes], bytes | None]


class Rotator:
    """``MultiFernet.rotate`` that also says when a token needs no rewrite.

    Calling it returns ``None`` when the primary key already opens ``token``, else the token
    re-encrypted under the primary with its **original timestamp** (``MultiFernet.rotate``
    semantics); it raises :class:`cryptography.fernet.InvalidToken` when no key opens it.

    The fast path does in one pass what ``MultiFernet.rotate`` does, through the same
    ``Fernet`` helpers ``rotate`` itself calls, and only learns which key opened the token.
    Those helpers are private to ``cryptography``, so the path is self-tested at
    construction against the public API and replaced by a public-API equivalent (about 15 %
    slower) if they ever change.
    """

    def __init__(self, ring: FernetKeyRing) -> None:
        self.ring = ring
        self._fernets = [k.fernet for k in ring.keys]
        self._multi = ring.multi
        self.fast = self._self_test()

    def __call__(self, token: str | bytes) -> bytes | None:
        if self.fast:
            return self._rotate_fast(token)
        return self._rotate_public(token)

    @property
    def function(self) -> Rotate:
        """The bound rotate function itself, saving a call level in hot loops."""
        return self._rotate_fast if self.fast else self._rotate_public

    def _rotate_fast(self, token: str | bytes) -> bytes | None:
        timestamp, data = Fernet._get_unverified_token_data(token)
        fernets = self._fernets
        for index, fernet in enumerate(fernets):
            try:
                plaintext = fernet._decrypt_data(data, timestamp, None)
            except InvalidToken:
                continue
            if index == 0:
                return None
            return fernets[0]._encrypt_from_parts(plaintext, timestamp, os.urandom(16))
        raise InvalidToken

    def _rotate_public(self, token: str | bytes) -> bytes | None:
        try:
            self._fernets[0].extract_timestamp(token)
        except InvalidToken:
            return self._multi.rotate(token)
        return None

    def _self_test(self) -> bool:
        probe = b"erp rotator self-test"
        timestamp = 1_000_000_000
        try:
            primary, last = self._fernets[0], self._fernets[-1]
            if self._rotate_fast(primary.encrypt_at_time(probe, timestamp)) is not None:
                return False
            if len(self._fernets) > 1:
                out = self._rotate_fast(last.encrypt_at_time(probe, timestamp))
                if out is None or primary.extract_timestamp(out) != timestamp:
                    return False
                if primary.decrypt(out) != probe:
                    return False
        except Exception:  # any surprise means: use the public API
            return False
        return True


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
    fallbacks: list[FernetKey] = []
    extra = resolve_key_text(FALLBACK_NAME, resolver)
    if extra is not None:
        text, where = extra
        parts = [p for p in (part.strip() for part in text.split(",")) if p]
        fallbacks = [parse_key(p, f"{where} (entry {i + 1})") for i, p in enumerate(parts)]
    return FernetKeyRing(primary, tuple(fallbacks))
