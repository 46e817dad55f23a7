"""``AwsSecretSource``: ``get_secret`` and the JWT key ring from AWS Secrets Manager.

The secret's ``AWSCURRENT`` version answers ``get_secret`` lookups. For verifying tokens,
:meth:`AwsSecretSource.jwt_ring` merges the keys of ``AWSCURRENT``, ``AWSPENDING`` and
``AWSPREVIOUS`` (``AWSCURRENT``'s active key still signs), so no instance rejects a token
during a rotation. Reads go through :class:`erp.aws.cache.SecretCache`; boto3 is imported at
the first read, not when this module is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from erp.aws.cache import CURRENT, PENDING, PREVIOUS, SecretCache, Snapshot
from erp.aws.client import AwsSettings, secretsmanager_client
from erp.aws.document import SecretDocument, merged_ring
from erp.aws.errors import AwsConfigError
from erp.keyring import KeyRing

__all__ = ["DEFAULT_REFRESH_SECONDS", "AwsSecretSource"]

DEFAULT_REFRESH_SECONDS = 300.0
"""As the Lambda extension and Powertools: a rotation reaches every process within 5 min."""


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise AwsConfigError(
            f"environment variable {name}={text!r} is not a number of seconds"
        ) from None
    if value < 0:
        raise AwsConfigError(f"environment variable {name} must not be negative")
    return value


class AwsSecretSource:
    """One Secrets Manager secret as a :class:`erp.secrets.SecretSource`, cached per process."""

    def __init__(
        self,
        secret_id: str,
        *,
        settings: AwsSettings | None = None,
        client: Any = None,
        refresh_interval_seconds: float = DEFAULT_REFRESH_SECONDS,
        jitter_fraction: float = 0.5,
        forced_refresh_min_interval_seconds: float = 1.0,
        backoff_base_seconds: float = 1.0,
        backoff_max_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        random: Callable[[], float] | None = None,
    ) -> None:
        if not secret_id:
            raise AwsConfigError("the AWS secret id is empty; set ERP_AWS_SECRET_ID")
        self.secret_id = secret_id
        self.settings = settings or AwsSettings.from_env()
        given = client

        def factory() -> Any:
            return given if given is not None else secretsmanager_client(self.settings, secret_id)

        extra: dict[str, Any] = {} if random is None else {"random": random}
        self.cache = SecretCache(
            secret_id,
            factory,
            refresh_interval_seconds=refresh_interval_seconds,
            jitter_fraction=jitter_fraction,
            forced_refresh_min_interval_seconds=forced_refresh_min_interval_seconds,
            backoff_base_seconds=backoff_base_seconds,
            backoff_max_seconds=backoff_max_seconds,
            monotonic=monotonic,
            where=self.settings.where(),
            **extra,
        )
        self._ring_memo: tuple[tuple[str | None, ...], KeyRing] | None = None
        # get_secret's hot path: the cache's own method, one Python call fewer per lookup
        self.lookup: Callable[[str], str | None] = self.cache.text
        """The entry ``name`` of the ``AWSCURRENT`` version (JSON text for objects)."""

    @classmethod
    def from_env(cls, secret_id: str, *, environ: Mapping[str, str]) -> AwsSecretSource:
        """The source ``erp.secrets`` builds when ``ERP_AWS_SECRET_ID`` is set.

        ``ERP_AWS_REFRESH_SECONDS`` sets the refresh interval (default 300); region,
        endpoint and profile come from the usual ``AWS_*`` variables.
        """
        return cls(
            secret_id,
            settings=AwsSettings.from_env(environ),
            refresh_interval_seconds=_seconds(
                environ, "ERP_AWS_REFRESH_SECONDS", DEFAULT_REFRESH_SECONDS
            ),
        )

    def __repr__(self) -> str:
        return f"AwsSecretSource({self.secret_id!r})"

    # -- SecretSource ------------------------------------------------------------------

    def describe(self) -> str:
        where = self.settings.where()
        return f"AWS Secrets Manager secret {self.secret_id!r} (AWSCURRENT, {where})"

    def refresh(self) -> None:
        """Re-read the secret at the next lookup (rate-limited; an unknown ``kid`` calls it)."""
        self.cache.request_refresh()

    # -- the key ring ------------------------------------------------------------------

    def version(self, stage: str = CURRENT) -> SecretDocument:
        """The cached version labelled ``stage`` (raises if no version carries it)."""
        return self.cache.version(stage)

    def signing_ring(self) -> KeyRing:
        """``AWSCURRENT``'s key ring: what signs and what the rotation Lambda builds on."""
        return self._current_ring(self.cache.snapshot())

    def _current_ring(self, snap: Snapshot) -> KeyRing:
        return snap.current.require_ring(
            f"secret {self.secret_id!r} version {snap.current.version_id} (AWSCURRENT)"
        )

    def jwt_ring(self) -> KeyRing:
        """The verification ring: AWSCURRENT merged with AWSPENDING and AWSPREVIOUS.

        The same ``KeyRing`` object is returned while the versions are unchanged, so a
        :class:`erp.security.TokenService` does not rebuild its key table.
        """
        snap = self.cache.snapshot()
        key = snap.key
        memo = self._ring_memo
        if memo is not None and memo[0] == key:
            return memo[1]
        current = self._current_ring(snap)
        pending, previous = snap.get(PENDING), snap.get(PREVIOUS)
        ring = merged_ring(
            current,
            pending=pending.ring if pending is not None else None,
            previous=previous.ring if previous is not None else None,
        )
        self._ring_memo = (key, ring)
        return ring
