"""``AwsSecretSource``: ``get_secret`` and the JWT key ring from AWS Secrets Manager.

The secret's ``AWSCURRENT`` version answers ``get_secret`` lookups. For verifying tokens,
:meth:`AwsSecretSource.jwt_ring` merges the keys of ``AWSCURRENT``, ``AWSPENDING`` and
``AWSPREVIOUS`` (``AWSCURRENT``'s active key still signs), so no instance rejects a token
during a rotation; ``AWSPENDING`` counts only while it is a valid successor of ``AWSCURRENT``
(see :mod:`erp.aws.successor`), else it is ignored and reported once as a warning. Reads go
through :class:`erp.aws.cache.SecretCache`; boto3 is imported at
the first read, not when this module is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from erp._settings import read_float
from erp.aws.cache import SecretCache, Snapshot
from erp.aws.client import (
    CURRENT,
    PENDING,
    PREVIOUS,
    AwsSettings,
    check_secret_id,
    secretsmanager_client,
)
from erp.aws.document import SecretDocument, merged_ring
from erp.aws.successor import successor_problem
from erp.jwt.keyring import KeyRing

__all__ = ["DEFAULT_REFRESH_SECONDS", "AwsSecretSource"]

DEFAULT_REFRESH_SECONDS = 300.0
"""As the Lambda extension and Powertools: a rotation reaches every process within 5 min."""

log = logging.getLogger("erp.aws.source")


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
        secret_id = check_secret_id(secret_id, "ERP_AWS_SECRET_ID")
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
        self._distrusted: set[str] = set()  # pending versions already warned about
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
            refresh_interval_seconds=read_float(
                "ERP_AWS_REFRESH_SECONDS",
                DEFAULT_REFRESH_SECONDS,
                minimum=0,
                maximum=86400,
                unit="seconds",
                env=environ,
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

        ``AWSPENDING`` joins only while it is a valid successor of ``AWSCURRENT``.

        The same ``KeyRing`` object is returned while the versions are unchanged, so a
        :class:`erp.security.TokenService` does not rebuild its key table.
        """
        snap = self.cache.snapshot()
        key = snap.key
        memo = self._ring_memo
        if memo is not None and memo[0] == key:
            return memo[1]
        current = self._current_ring(snap)
        pending, previous = self._trusted_pending(snap, current), snap.get(PREVIOUS)
        ring = merged_ring(
            current,
            pending=pending,
            previous=previous.ring if previous is not None else None,
        )
        self._ring_memo = (key, ring)
        return ring

    def _trusted_pending(self, snap: Snapshot, current: KeyRing) -> KeyRing | None:
        """AWSPENDING's ring if a rotation could have made it from AWSCURRENT's, else ``None``."""
        pending = snap.get(PENDING)
        if pending is None or pending.ring is None or pending.version_id == snap.current.version_id:
            return None
        if pending.texts == snap.current.texts:  # the test-only path's copy: nothing new
            return None
        problem = successor_problem(
            current,
            pending.ring,
            current_version=snap.current.version_id,
            derived_from=pending.derived_from,
        )
        if problem is None:
            return pending.ring
        if pending.version_id not in self._distrusted:
            self._distrusted.add(pending.version_id)
            log.warning(
                "secret %r: ignoring AWSPENDING version %s for token verification: it is not a "
                "valid successor of AWSCURRENT %s (%s)",
                self.secret_id,
                pending.version_id,
                snap.current.version_id,
                problem,
            )
        return None
