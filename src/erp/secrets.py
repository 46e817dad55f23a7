"""``get_secret``: resolve a named secret from the environment, the vault file(s), then AWS.

Sources are asked in order and the first that has the name wins:

1. the process environment (``os.environ[name]``);
2. the vault files: ``$ERP_VAULT_FILE`` (``os.pathsep``-separated list allowed) or
   ``jwt_secrets.json`` in the working directory, or the ``vault_path`` argument;
3. AWS Secrets Manager, when ``$ERP_AWS_SECRET_ID`` names a secret (see ``erp.aws``).

A warm call costs a dict look-up or two: vault files are stat'ed at most once a second
and re-read only when they changed.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from erp import _settings
from erp.errors import KeyRingError, SecretNotFound
from erp.jwt.codec import KEYS, ring_from_json_text
from erp.jwt.keyring import KeyRing
from erp.store.vault import DEFAULT_VAULT_FILE, VaultReader

__all__ = [
    "EnvSource",
    "SecretResolver",
    "SecretSource",
    "VaultSource",
    "default_resolver",
    "get_secret",
    "load_jwt_ring",
    "reset",
]

log = logging.getLogger("erp.secrets")


class SecretSource(Protocol):
    """One place secrets can come from."""

    def lookup(self, name: str) -> str | None:
        """The secret's value as text, or ``None`` if this source does not hold it."""

    def describe(self) -> str:
        """Where this source looks, for error messages (never a value)."""

    def refresh(self) -> None:
        """Drop caches so the next ``lookup`` sees the newest value."""


class EnvSource:
    """The process environment (or any mapping, for tests)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def lookup(self, name: str) -> str | None:
        """The variable without surrounding whitespace; ``None`` when unset or blank.

        A blank ``JWT_SECRET_ID=`` (an unfilled template) must not hide the vault's value,
        and ``"k1\n"`` (``$(cat id.txt)``) means ``k1``.
        """
        value = self._environ.get(name)
        if value is None:
            return None
        return value.strip() or None

    def describe(self) -> str:
        return "environment variables"

    def refresh(self) -> None:
        return None

    def __repr__(self) -> str:
        return "EnvSource()"


class VaultSource:
    """A vault file. JSON objects (such as ``JWT_SECRETS``) are returned as JSON text."""

    def __init__(self, path: Path | str, *, check_interval_seconds: float = 1.0) -> None:
        self.path = Path(path)
        self.reader = VaultReader(
            self.path,
            check_interval_seconds=check_interval_seconds,
            on_error=lambda exc: log.error("%s; serving the last good content", exc),
        )
        self._encoded: dict[str, tuple[object, str]] = {}

    def lookup(self, name: str) -> str | None:
        value = self.reader.document().get(name)
        if value is None or isinstance(value, str):
            return value
        cached = self._encoded.get(name)
        if cached is not None and cached[0] is value:
            return cached[1]
        text = json.dumps(value, separators=(",", ":"))
        self._encoded[name] = (value, text)
        return text

    def document(self) -> dict[str, Any]:
        return self.reader.document()

    def describe(self) -> str:
        if self.path.is_absolute():
            return f"vault file {self.path}"
        # a service's working folder is rarely the one the relative default assumes
        return f"vault file {self.path} (in {Path.cwd()}; set ERP_VAULT_FILE to an absolute path)"

    def refresh(self) -> None:
        self.reader.invalidate()

    def __repr__(self) -> str:
        return f"VaultSource({str(self.path)!r})"


class SecretResolver:
    """An ordered list of sources; ``get`` returns the first hit."""

    def __init__(self, sources: Sequence[SecretSource]) -> None:
        self.sources = tuple(sources)

    def __repr__(self) -> str:
        return f"SecretResolver({list(self.sources)!r})"

    def get(self, name: str) -> str:
        for source in self.sources:
            value = source.lookup(name)
            if value is not None:
                return value
        raise SecretNotFound(name, [s.describe() for s in self.sources])

    def find(self, name: str) -> tuple[str, SecretSource] | None:
        """The value and the source that holds it, or ``None``."""
        for source in self.sources:
            value = source.lookup(name)
            if value is not None:
                return value, source
        return None

    def refresh(self) -> None:
        for source in self.sources:
            source.refresh()

    @classmethod
    def from_config(
        cls,
        vault_path: Path | str | Sequence[Path | str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        aws_secret_id: str | None = None,
    ) -> SecretResolver:
        """Environment, then vault file(s), then AWS when a secret id is configured."""
        env = os.environ if environ is None else environ
        if vault_path is None:
            configured = str(_settings.read_path("ERP_VAULT_FILE", DEFAULT_VAULT_FILE, env=env))
            paths: list[Path | str] = [p for p in configured.split(os.pathsep) if p]
        elif isinstance(vault_path, (str, Path)):
            paths = [vault_path]
        else:
            paths = list(vault_path)
        sources: list[SecretSource] = [EnvSource(environ), *(VaultSource(p) for p in paths)]
        secret_id = (
            aws_secret_id
            if aws_secret_id is not None
            else _settings.read_text("ERP_AWS_SECRET_ID", env=env)  # blank: unset
        )
        if secret_id:
            from erp.aws.source import AwsSecretSource  # boto3 only when AWS is configured

            sources.append(AwsSecretSource.from_env(secret_id, environ=env))
        return cls(sources)


_default_lock = threading.Lock()
_default: SecretResolver | None = None
_default_key: tuple[str | None, str | None] | None = None
_default_next_check = -float("inf")
_CONFIG_CHECK_INTERVAL_SECONDS = 1.0


def default_resolver() -> SecretResolver:
    """The process-wide resolver for ``ERP_VAULT_FILE`` and ``ERP_AWS_SECRET_ID``.

    Those two variables are re-read at most once a second; call :func:`reset` after
    changing them in-process to take effect at once.
    """
    global _default, _default_key, _default_next_check
    resolver = _default
    if resolver is not None and time.monotonic() < _default_next_check:
        return resolver
    with _default_lock:
        key = (os.environ.get("ERP_VAULT_FILE"), os.environ.get("ERP_AWS_SECRET_ID"))
        if _default is None or _default_key != key:
            _default = SecretResolver.from_config()
            _default_key = key
        _default_next_check = time.monotonic() + _CONFIG_CHECK_INTERVAL_SECONDS
        return _default


def reset() -> None:
    """Forget the process-wide resolver (and its caches); the next call builds a new one."""
    global _default, _default_key, _default_next_check
    with _default_lock:
        _default = None
        _default_key = None
        _default_next_check = -float("inf")


def get_secret(name: str, *, vault_path: Path | str | None = None) -> str:
    """The secret called ``name``: environment first, then the vault file(s), then AWS.

    Raises :class:`~erp.errors.SecretNotFound` naming every place it looked.
    """
    if vault_path is not None:
        return SecretResolver.from_config(vault_path).get(name)
    return default_resolver().get(name)


def load_jwt_ring(resolver: SecretResolver | None = None) -> KeyRing:
    """The JWT key ring: ``JWT_SECRETS`` and ``JWT_SECRET_ID``, each from the first source.

    State and times (``JWT_KEYS``) come from a vault file when ``JWT_SECRETS`` does.
    """
    resolver = resolver or default_resolver()
    found = resolver.find("JWT_SECRETS")
    if found is None:
        raise SecretNotFound("JWT_SECRETS", [s.describe() for s in resolver.sources])
    raw, source = found
    whole_ring = getattr(source, "jwt_ring", None)
    if callable(whole_ring):  # a source holding a whole ring (AWS: CURRENT+PENDING+PREVIOUS)
        ring = whole_ring()
        assert isinstance(ring, KeyRing)
        return ring
    source_name = (
        "environment variable JWT_SECRETS"
        if isinstance(source, EnvSource)
        else f"JWT_SECRETS in {source.describe()}"
    )
    active = resolver.find("JWT_SECRET_ID")
    try:
        if isinstance(source, VaultSource):
            # one snapshot of the file for all three names: a rewrite landing between
            # separate reads would pair one version's map with another's active id
            doc = source.document()
            secrets_map = doc.get("JWT_SECRETS")
            if isinstance(secrets_map, dict):
                active_id = (
                    doc.get("JWT_SECRET_ID") if active is None or active[1] is source else active[0]
                )
                return KeyRing.from_maps(
                    secrets_map, active_id, doc.get(KEYS) or {}, source=source_name
                )
        return ring_from_json_text(raw, active[0] if active else None, None, source=source_name)
    except KeyRingError as exc:
        if active is None or active[1] is source:
            raise
        # the id and the map come from different places: say where the id was found
        raise KeyRingError(
            f"{exc} (JWT_SECRET_ID is set in {active[1].describe()}, which wins over the file)"
        ) from None
