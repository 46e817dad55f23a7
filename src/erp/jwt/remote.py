"""A verifier's copy of a JWK Set published at a URL: cached, refreshed sparingly, outage-proof.

Guarantees, each pinned by ``tests/jwt/test_remote.py`` against a real local HTTP server:

* keys come from the configured URL only: :meth:`RemoteKeySet.key_for` takes a ``kid`` and
  nothing else, so a token's ``jku``, ``x5u``, ``jwk`` or ``x5c`` header can never make it
  fetch from, or trust, another place (RFC 8725 section 3.10);
* a set is fresh for the response's ``Cache-Control: max-age`` (clamped to
  ``[min_max_age, max_max_age]``; ``default_max_age`` without one); a refresh sends
  ``If-None-Match``, and a 304 keeps the set and renews its freshness;
* an unknown ``kid`` triggers at most one fetch per ``cooldown``, however many unknown kids
  arrive from however many threads (PyJWT's refresh-on-miss, rate-limited, pyjwt#929);
* a failed fetch (down, slow, too large, not a JWK Set, entries but none usable) never
  wipes the set:
  the last good one is served until ``max_stale`` after it was last confirmed (the outage
  that pyjwt#1162 fixed), and failed fetches are retried at most once per ``cooldown``;
  past ``max_stale`` every lookup raises :class:`JwksUnavailable`;
* a response is read up to ``max_bytes``; every socket operation times out after
  ``timeout_seconds`` and the body must arrive within it; redirects are not followed;
* only ``https`` URLs, or ``http`` to a loopback address (tests, sidecars), unless
  ``allow_http``.

Keys that cannot be used (weak RSA, wrong curve, another ``use``, an algorithm other than
EdDSA/ES256/RS256, private members published by mistake) are skipped, not fatal: one bad
entry does not take the others down. Time for caching is an injectable ``monotonic`` clock.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from erp.errors import TransientError, UnknownKeyId
from erp.jwt.keys import PublicKey, PublicKeyObject, UnusableKey, public_key_from_jwk

__all__ = ["FetchFailed", "JwksUnavailable", "RemoteKeySet"]

_CHUNK: Final = 16 * 1024
_USER_AGENT: Final = "erp-secrets-jwks"


class JwksUnavailable(TransientError):
    """No usable JWK Set: never fetched successfully, or the last good one is too stale."""

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        self.problem = problem
        super().__init__(f"JWK Set at {url} is unavailable: {problem}")


class FetchFailed(Exception):
    """One fetch failed (kept internal; the set carries on with the last good keys)."""


@dataclass(frozen=True)
class _Snapshot:
    keys: Mapping[str, PublicKey]
    unnamed: PublicKey | None  # the one key of a single-key set without a kid
    skipped: tuple[str, ...]
    etag: str | None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _max_age(cache_control: str | None) -> float | None:
    if not cache_control:
        return None
    for part in cache_control.split(","):
        name, _, value = part.strip().partition("=")
        name = name.strip().lower()
        if name in ("no-store", "no-cache"):
            return 0.0
        if name == "max-age":
            try:
                return float(int(value.strip().strip('"')))
            except ValueError:
                return None
    return None


class RemoteKeySet:
    """The JWK Set at ``url``, for :func:`erp.security.verify_token` and friends.

    ``key_for(kid)`` returns ``(alg, public key)``: the algorithm is the one the key was
    published for, never the token's header.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 2.0,
        default_max_age: timedelta = timedelta(minutes=5),
        min_max_age: timedelta = timedelta(seconds=30),
        max_max_age: timedelta = timedelta(days=1),
        cooldown: timedelta = timedelta(seconds=30),
        max_stale: timedelta = timedelta(days=1),
        max_bytes: int = 256 * 1024,
        allow_http: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("url must be an https:// URL of a JWK Set")
        if parts.username or parts.password:
            raise ValueError("url must not carry credentials")
        if parts.scheme == "http" and not (allow_http or _is_loopback(parts.hostname)):
            raise ValueError(
                "url must use https (plain http is accepted for loopback addresses, or with "
                "allow_http=True): keys fetched in clear text can be replaced on the way"
            )
        if timeout_seconds <= 0 or max_bytes < 1:
            raise ValueError("timeout_seconds and max_bytes must be positive")
        if not timedelta(0) <= min_max_age <= max_max_age:
            raise ValueError("min_max_age must be from 0 to max_max_age")
        self.url = url
        self._parts = parts
        self.timeout_seconds = timeout_seconds
        self.default_max_age = default_max_age
        self.min_max_age = min_max_age
        self.max_max_age = max_max_age
        self.cooldown = cooldown
        self.max_stale = max_stale
        self.max_bytes = max_bytes
        self._monotonic = monotonic
        self._ssl = ssl_context
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._fresh_until = -float("inf")
        self._confirmed_at = -float("inf")
        self._last_attempt = -float("inf")
        self._attempts = 0
        self.fetches = 0
        """How many HTTP requests this set has made (for tests and metrics)."""
        self.last_error: str | None = None
        """Why the latest fetch failed (``None`` after a success)."""

    def __repr__(self) -> str:
        count = 0 if self._snapshot is None else len(self._snapshot.keys)
        return f"RemoteKeySet({self.url!r}, keys={count})"

    # -- lookups -------------------------------------------------------------------------

    def key_for(self, kid: str | None) -> tuple[str, PublicKeyObject]:
        """``(alg, key)`` for a token's ``kid``; :class:`UnknownKeyId` if the set lacks it."""
        public = self.public_key(kid)
        return public.alg, public.key

    def public_key(self, kid: str | None) -> PublicKey:
        """The :class:`PublicKey` named ``kid`` (``None``: the only key of a one-key set)."""
        now = self._monotonic()
        if now >= self._fresh_until:
            self._refresh(now, due_to_miss=False)
        found = self._lookup(kid, now)
        if found is not None:
            return found
        if self._monotonic() - self._last_attempt >= self.cooldown.total_seconds():
            self._refresh(self._monotonic(), due_to_miss=True)
            found = self._lookup(kid, self._monotonic())
            if found is not None:
                return found
        raise UnknownKeyId(kid)

    def keys(self) -> dict[str, PublicKey]:
        """Every usable key of the current set, by ``kid`` (refreshed if stale)."""
        now = self._monotonic()
        if now >= self._fresh_until:
            self._refresh(now, due_to_miss=False)
        snapshot = self._usable(now)
        return dict(snapshot.keys)

    @property
    def skipped(self) -> tuple[str, ...]:
        """Why entries of the current set were skipped (no key material in the text)."""
        return () if self._snapshot is None else self._snapshot.skipped

    def _usable(self, now: float) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is None:
            raise JwksUnavailable(self.url, self.last_error or "it was never fetched")
        if now - self._confirmed_at > self.max_stale.total_seconds():
            raise JwksUnavailable(
                self.url,
                f"the last good copy is older than {self.max_stale} "
                f"(latest problem: {self.last_error or 'none'})",
            )
        return snapshot

    def _lookup(self, kid: str | None, now: float) -> PublicKey | None:
        snapshot = self._usable(now)
        if kid is None:
            return snapshot.unnamed
        return snapshot.keys.get(kid)

    # -- fetching ------------------------------------------------------------------------

    def refresh(self) -> None:
        """Fetch now (ignoring freshness and cooldown); failures keep the last good set."""
        self._refresh(self._monotonic(), due_to_miss=True, force=True)

    def _refresh(self, now: float, *, due_to_miss: bool, force: bool = False) -> None:
        if not force and self._held_back(now, due_to_miss=due_to_miss):
            return  # lock-free: during an outage every request would queue here otherwise
        seen = self._attempts
        with self._lock:
            if self._attempts != seen:
                return  # another thread fetched while this one waited: use its result
            current = self._monotonic()
            if not force and self._held_back(current, due_to_miss=due_to_miss):
                return
            self._last_attempt = current
            self._attempts += 1
            try:
                status, headers, body = self._fetch()
                if status == 304 and self._snapshot is not None:
                    snapshot = self._snapshot
                elif status == 200:
                    snapshot = self._parse(body, headers.get("etag"))
                else:
                    raise FetchFailed(f"HTTP status {status}")
            except FetchFailed as exc:
                self.last_error = str(exc)
                return
            self._snapshot = snapshot
            self.last_error = None
            self._confirmed_at = self._monotonic()
            self._fresh_until = self._confirmed_at + self._freshness(headers)

    def _held_back(self, now: float, *, due_to_miss: bool) -> bool:
        """Whether a fetch must wait: one per cooldown for unknown kids and after a failure;
        an expired set after a success is refetched at once (max-age alone paces those)."""
        recent = now - self._last_attempt < self.cooldown.total_seconds()
        if due_to_miss:
            return recent
        return now < self._fresh_until or (recent and self.last_error is not None)

    def _freshness(self, headers: Mapping[str, str]) -> float:
        max_age = _max_age(headers.get("cache-control"))
        seconds = self.default_max_age.total_seconds() if max_age is None else max_age
        low, high = self.min_max_age.total_seconds(), self.max_max_age.total_seconds()
        return min(max(seconds, low), high)

    def _fetch(self) -> tuple[int, dict[str, str], bytes]:
        parts = self._parts
        host = parts.hostname or ""
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            context = self._ssl or ssl.create_default_context()
            conn = http.client.HTTPSConnection(
                host, parts.port, timeout=self.timeout_seconds, context=context
            )
        else:
            conn = http.client.HTTPConnection(host, parts.port, timeout=self.timeout_seconds)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        request_headers = {"Accept": "application/jwk-set+json, application/json"}
        request_headers["User-Agent"] = _USER_AGENT
        if self._snapshot is not None and self._snapshot.etag:
            request_headers["If-None-Match"] = self._snapshot.etag
        deadline = time.monotonic() + self.timeout_seconds
        self.fetches += 1
        try:
            conn.request("GET", target, headers=request_headers)
            response = conn.getresponse()
            headers = {k.lower(): v for k, v in response.getheaders()}
            length = headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > self.max_bytes:
                raise FetchFailed(f"the response is larger than {self.max_bytes} bytes")
            chunks: list[bytes] = []
            size = 0
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FetchFailed(f"the response took longer than {self.timeout_seconds} s")
                if conn.sock is not None:
                    conn.sock.settimeout(remaining)
                chunk = response.read1(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_bytes:
                    raise FetchFailed(f"the response is larger than {self.max_bytes} bytes")
                chunks.append(chunk)
            return response.status, headers, b"".join(chunks)
        except (OSError, http.client.HTTPException) as exc:
            raise FetchFailed(f"fetch failed ({type(exc).__name__})") from None
        finally:
            conn.close()

    def _parse(self, body: bytes, etag: str | None) -> _Snapshot:
        try:
            doc: Any = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            raise FetchFailed("the response is not JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            raise FetchFailed('the response is not a JWK Set (an object with a "keys" list)')
        keys: dict[str, PublicKey] = {}
        repeated: set[str] = set()
        unnamed: list[PublicKey] = []
        skipped: list[str] = []
        for position, entry in enumerate(doc["keys"]):
            kid = entry.get("kid") if isinstance(entry, dict) else None
            where = f"key {position}" + (f" ({kid[:64]!r})" if isinstance(kid, str) else "")
            try:
                public = public_key_from_jwk(entry, where=where)
            except UnusableKey as exc:
                skipped.append(str(exc))
                continue
            if kid is None:
                unnamed.append(public)
            elif not isinstance(kid, str):
                skipped.append(f"{where}: kid is not a string")
            elif kid in keys or kid in repeated:
                # two keys under one kid: which one a token meant is unknowable, use neither
                skipped.append(f"{where}: kid is repeated")
                keys.pop(kid, None)
                repeated.add(kid)
            else:
                keys[kid] = public
        if doc["keys"] and not keys and not unnamed:
            # entries, none usable: a broken publisher; an empty list is a real answer (an
            # issuer still on HMAC publishes one), so only this keeps the last good set
            raise FetchFailed("the JWK Set holds no usable signing key")
        single = unnamed[0] if len(unnamed) == 1 and not keys else None
        if single is None and len(keys) == 1 and not unnamed:
            single = next(iter(keys.values()))
        return _Snapshot(keys, single, tuple(skipped), etag)
