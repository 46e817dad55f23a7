"""A per-process cache of one secret's labelled versions, cheap enough for every request.

What it guarantees (and where the anchors fall short):

* **One refresh per interval, whatever the call rate.** A warm read is two attribute
  reads and a clock call. When the interval (drawn from ``[1 - jitter, 1] x
  refresh_interval_seconds``, so a fleet does not refresh in step) has passed, exactly
  one thread refreshes while the others keep being served the cached value.
* **Stage-aware, per-VersionId entries.** A refresh is one ``DescribeSecret``; a
  ``GetSecretValue`` (always with ``VersionId`` *and* ``VersionStage``) follows only for a
  version not seen before, because a version's value never changes. ``AWSPREVIOUS`` is
  never answered with ``AWSCURRENT``'s value, and an unknown stage raises
  :class:`StageNotFound` rather than returning ``None``.
* **Errors.** While AWS fails, the last good snapshot is served, the failure is logged,
  and retries back off exponentially; only a process that never had a value raises, and
  during the backoff it re-raises the same error without calling AWS.
* **Forced refresh without sleeping.** :meth:`SecretCache.request_refresh` (an unknown
  ``kid``) is rate-limited and single-flight; callers waiting for it share its result.

The first load reads only ``AWSCURRENT`` (one call, the fastest start); ``AWSPENDING``
and ``AWSPREVIOUS`` join at the first full refresh (the next interval or a forced one).
"""

from __future__ import annotations

import logging
import random as _random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from erp._retry import Backoff
from erp.aws.client import CURRENT, PENDING, PREVIOUS, STAGES, error_code, translate_error
from erp.aws.document import SecretDocument, parse_version
from erp.aws.errors import SecretFormatError, StageNotFound
from erp.errors import ErpError

__all__ = ["CURRENT", "PENDING", "PREVIOUS", "STAGES", "CacheStats", "SecretCache", "Snapshot"]

log = logging.getLogger("erp.aws.cache")


@dataclass(frozen=True)
class Snapshot:
    """What the cache knows at one moment. Never mutated; a refresh builds a new one."""

    labels: Mapping[str, str]
    """Stage -> version id, for the stages in :data:`STAGES` that some version carries."""
    versions: Mapping[str, SecretDocument]
    """Version id -> parsed value, for labelled versions that have a usable value."""
    complete: bool
    """True once every label is known (a ``DescribeSecret`` was read)."""
    refreshed_at: float
    current: SecretDocument = field(repr=False)

    def get(self, stage: str) -> SecretDocument | None:
        """The version labelled ``stage`` if it has a usable value, else ``None``."""
        version_id = self.labels.get(stage)
        return None if version_id is None else self.versions.get(version_id)

    @property
    def key(self) -> tuple[str | None, ...]:
        """Version ids of CURRENT, PENDING, PREVIOUS that have values: equal keys, same ring."""
        return tuple(
            vid if vid is not None and vid in self.versions else None
            for vid in (self.labels.get(s) for s in STAGES)
        )


@dataclass
class CacheStats:
    """Counters for status output and benchmarks."""

    refreshes: int = 0
    failures: int = 0
    forced: int = 0


class SecretCache:
    """Cached, stage-aware reads of one secret (see the module docstring)."""

    def __init__(
        self,
        secret_id: str,
        client_factory: Callable[[], Any],
        *,
        refresh_interval_seconds: float = 300.0,
        jitter_fraction: float = 0.5,
        forced_refresh_min_interval_seconds: float = 1.0,
        backoff_base_seconds: float = 1.0,
        backoff_max_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random.random,
        where: str = "AWS",
    ) -> None:
        if refresh_interval_seconds < 0 or not 0.0 <= jitter_fraction < 1.0:
            raise ValueError("refresh_interval_seconds >= 0 and 0 <= jitter_fraction < 1")
        self.secret_id = secret_id
        self.refresh_interval_seconds = refresh_interval_seconds
        self.jitter_fraction = jitter_fraction
        self.forced_refresh_min_interval_seconds = forced_refresh_min_interval_seconds
        self.backoff = Backoff(
            base_seconds=backoff_base_seconds,
            max_seconds=backoff_max_seconds,
            jitter_fraction=jitter_fraction,
            random=random,
        )
        self.where = where
        self.stats = CacheStats()
        self._client_factory = client_factory
        self._client: Any = None
        self._monotonic = monotonic
        self._random = random
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._next_refresh = -float("inf")
        # (fresh until, AWSCURRENT's texts): one attribute read on the get_secret hot path
        self._hot: tuple[float, Mapping[str, str]] = (-float("inf"), {})
        self._forced = False
        self._last_forced = -float("inf")
        self._generation = 0
        self._failures = 0
        self._error: ErpError | None = None
        self._versions: dict[str, SecretDocument] = {}
        self._describe_allowed = True

    def __repr__(self) -> str:
        return f"SecretCache({self.secret_id!r}, {self.where})"

    # -- reading -----------------------------------------------------------------------

    def snapshot(self, *, complete: bool = False) -> Snapshot:
        """The cached snapshot, refreshed first if it is due (see the module docstring).

        ``complete=True`` waits for a full refresh if only ``AWSCURRENT`` is known yet.
        """
        snap = self._snapshot
        if (
            snap is not None
            and not self._forced
            and self._monotonic() < self._next_refresh
            and (snap.complete or not complete)
        ):
            return snap
        return self._slow(snap, complete)

    def current(self) -> SecretDocument:
        """The ``AWSCURRENT`` version."""
        return self.snapshot().current

    def text(self, name: str) -> str | None:
        """Entry ``name`` of ``AWSCURRENT`` (the hot path of ``get_secret``)."""
        hot = self._hot
        if self._monotonic() < hot[0]:
            return hot[1].get(name)
        return self.snapshot().current.texts.get(name)

    def version(self, stage: str) -> SecretDocument:
        """The version labelled ``stage``; :class:`StageNotFound` if none has a value."""
        if stage == CURRENT:
            return self.current()
        found = self.snapshot(complete=True).get(stage)
        if found is None:
            raise StageNotFound(self.secret_id, stage)
        return found

    def request_refresh(self) -> bool:
        """Ask for a refresh at the next read, at most once per minimum interval.

        Returns whether the request was accepted. Nothing sleeps: the next reader does the
        refresh (others wait for it and share its result).
        """
        now = self._monotonic()
        if now - self._last_forced < self.forced_refresh_min_interval_seconds:
            return False
        self._last_forced = now
        self._forced = True
        self._hot = (-float("inf"), {})
        self.stats.forced += 1
        return True

    def _publish(self) -> None:
        """Expose the snapshot to :meth:`text`'s fast path (or close it while forced)."""
        snap = self._snapshot
        if snap is None or self._forced:
            self._hot = (-float("inf"), {})
        else:
            self._hot = (self._next_refresh, snap.current.texts)

    # -- refreshing --------------------------------------------------------------------

    def _slow(self, seen: Snapshot | None, complete: bool) -> Snapshot:
        must_wait = seen is None or self._forced or (complete and not seen.complete)
        generation = self._generation
        if must_wait:
            self._lock.acquire()
        elif not self._lock.acquire(blocking=False):
            assert seen is not None
            return seen  # another thread is refreshing; serve what we have meanwhile
        try:
            if must_wait and self._generation != generation:
                shared = self._shared_result(complete)
                if shared is not None:
                    return shared
            return self._maybe_refresh(complete)
        finally:
            self._lock.release()

    def _shared_result(self, complete: bool) -> Snapshot | None:
        """The outcome of a refresh another thread finished while this one waited."""
        snap = self._snapshot
        if snap is None:
            if self._error is not None:
                raise self._error.with_traceback(None)
            return None
        if complete and not snap.complete:
            return None
        self._forced = False
        self._publish()
        return snap

    def _maybe_refresh(self, complete: bool) -> Snapshot:
        now = self._monotonic()
        snap = self._snapshot
        if now < self._next_refresh:
            if snap is None:
                if self._error is not None:  # backing off: no call, the same clear error
                    raise self._error.with_traceback(None)
            elif self._failures:  # backing off: forced or completeness requests wait too
                self._forced = False
                self._publish()
                return snap
            elif not self._forced and (snap.complete or not complete):
                return snap
        return self._refresh(full=snap is not None or complete)

    def _refresh(self, *, full: bool) -> Snapshot:
        import botocore.exceptions as bce

        self.stats.refreshes += 1
        self._forced = False
        try:
            if self._client is None:
                self._client = self._client_factory()
            if full and self._describe_allowed:
                fresh = self._fetch_full(self._client)
            else:
                fresh = self._fetch_current(self._client)
        except (ErpError, bce.BotoCoreError, bce.ClientError) as exc:
            return self._failed(exc)
        finally:
            self._generation += 1
        if self._failures:
            log.info(
                "AWS Secrets Manager: secret %r readable again after %d failed attempt(s)",
                self.secret_id,
                self._failures,
            )
        self._failures = 0
        self._error = None
        self._versions = dict(fresh.versions)
        self._snapshot = fresh
        self._next_refresh = self._monotonic() + self.refresh_interval_seconds * (
            1.0 - self.jitter_fraction * self._random()
        )
        self._publish()
        return fresh

    def _failed(self, exc: Exception) -> Snapshot:
        error = translate_error(exc, what=f"reading secret {self.secret_id!r}", where=self.where)
        self.stats.failures += 1
        self._failures += 1
        delay = self.backoff.delay_seconds(self._failures)
        now = self._monotonic()
        self._next_refresh = now + delay
        self._publish()
        snap = self._snapshot
        if snap is None:
            self._error = error
            raise error from None
        log.warning(
            "%s; serving version %s cached %.0f s ago; next attempt in %.1f s "
            "(failure %d in a row)",
            error,
            snap.current.version_id,
            now - snap.refreshed_at,
            delay,
            self._failures,
        )
        return snap

    def _parse(self, response: Mapping[str, Any], stage: str) -> SecretDocument | None:
        version_id = str(response.get("VersionId") or "?")
        where = f"secret {self.secret_id!r} version {version_id} ({stage})"
        return parse_version(response.get("SecretString"), version_id, where)

    def _fetch_current(self, client: Any) -> Snapshot:
        response = client.get_secret_value(SecretId=self.secret_id, VersionStage=CURRENT)
        current = self._parse(response, CURRENT)
        if current is None:
            raise SecretFormatError(
                f"secret {self.secret_id!r}: AWSCURRENT is an empty placeholder version "
                "(an unfinished rotation moved it); push a key ring with 'erp-secrets aws push'"
            )
        labels = {s: current.version_id for s in response.get("VersionStages") or () if s in STAGES}
        labels[CURRENT] = current.version_id
        return Snapshot(
            labels,
            {current.version_id: current},
            complete=not self._describe_allowed,
            refreshed_at=self._monotonic(),
            current=current,
        )

    def _describe(self, client: Any) -> Mapping[str, Any] | None:
        import botocore.exceptions as bce

        try:
            meta: Mapping[str, Any] = client.describe_secret(SecretId=self.secret_id)
        except bce.ClientError as exc:
            if error_code(exc) not in ("AccessDeniedException", "AccessDenied"):
                raise
            self._describe_allowed = False
            log.warning(
                "AWS Secrets Manager: secretsmanager:DescribeSecret is denied on %r; reading "
                "AWSCURRENT only, so keys that only AWSPENDING/AWSPREVIOUS hold will not "
                "verify until they are current. Grant DescribeSecret to fix this.",
                self.secret_id,
            )
            return None
        return meta

    def _fetch_full(self, client: Any) -> Snapshot:
        import botocore.exceptions as bce

        meta = self._describe(client)
        if meta is None:
            return self._fetch_current(client)
        labels: dict[str, str] = {}
        for version_id, stages in (meta.get("VersionIdsToStages") or {}).items():
            for stage in stages or ():
                if stage in STAGES:
                    labels[stage] = version_id
        if CURRENT not in labels:
            raise StageNotFound(self.secret_id, CURRENT)
        versions: dict[str, SecretDocument] = {}
        for stage in STAGES:
            version_id = labels.get(stage)
            if version_id is None or version_id in versions:
                continue
            cached = self._versions.get(version_id)
            if cached is not None:
                versions[version_id] = cached
                continue
            try:
                response = client.get_secret_value(
                    SecretId=self.secret_id, VersionId=version_id, VersionStage=stage
                )
                parsed = self._parse(response, stage)
            except (SecretFormatError, bce.ClientError) as exc:
                if stage == CURRENT:
                    raise
                # the empty AWSPENDING version of a starting rotation, or a label that moved
                # since DescribeSecret: not an error; a malformed value: served never
                level = logging.DEBUG if error_code(exc) else logging.WARNING
                log.log(
                    level,
                    "secret %r: skipping %s version %s: %s",
                    self.secret_id,
                    stage,
                    version_id,
                    error_code(exc) or exc,
                )
                continue
            if parsed is not None:
                versions[version_id] = parsed
            elif stage == CURRENT:
                raise SecretFormatError(
                    f"secret {self.secret_id!r}: AWSCURRENT is an empty placeholder version; "
                    "push a key ring with 'erp-secrets aws push'"
                )
        return Snapshot(
            labels,
            versions,
            complete=True,
            refreshed_at=self._monotonic(),
            current=versions[labels[CURRENT]],
        )
