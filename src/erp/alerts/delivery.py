"""Deliver one JSON POST with retries and exponential backoff; report, never drop, a failure.

Connection errors, timeouts, HTTP 408, 429 and 5xx are retried after 1, 2, 4 ... seconds
(capped; a ``Retry-After`` header is honoured up to the cap) until ``max_attempts`` or the
time budget runs out. Any other 4xx fails at once: retrying a rejected payload or a revoked
key cannot help. The outcome is a :class:`DeliveryResult`; callers collect and report them.
Messages name the destination and host only: webhook URLs and routing keys are secrets,
and any text a receiver echoes back is scrubbed of them. ``sleep`` and ``monotonic`` are
injectable so tests never wait.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from erp._retry import Backoff
from erp.alerts.errors import DeliveryFailed

__all__ = [
    "Attempt",
    "DeliveryFailed",
    "DeliveryResult",
    "RetryPolicy",
    "Transport",
    "redact",
]

_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_MAX_EXCERPT = 200


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Durations in seconds."""

    max_attempts: int = 5
    base_delay_seconds: float = 1.0
    max_delay_seconds: float = 30.0
    timeout_seconds: float = 10.0
    budget_seconds: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The wait after failed attempt number ``attempt`` (1-based); ``Retry-After`` a floor."""
        backoff = Backoff(base_seconds=self.base_delay_seconds, max_seconds=self.max_delay_seconds)
        return backoff.delay_seconds(attempt, retry_after_seconds=retry_after)


@dataclass(frozen=True)
class Attempt:
    """One try: the HTTP status (``None`` when no answer came) or the error."""

    status: int | None
    error: str | None = None
    waited_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "error": self.error, "waited_seconds": self.waited_seconds}


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to one notification. Holds no secret: the target is a host name."""

    destination: str
    action: str
    target: str
    ok: bool
    attempts: tuple[Attempt, ...] = ()
    dedup_key: str | None = None
    error: str | None = None
    response: Any = field(default=None, compare=False)

    @property
    def status(self) -> int | None:
        return self.attempts[-1].status if self.attempts else None

    def describe(self) -> str:
        what = f"{self.destination} {self.action}"
        if self.dedup_key:
            what += f" {self.dedup_key}"
        if self.ok:
            return f"{what}: delivered to {self.target} (attempt {len(self.attempts)})"
        return f"{what}: NOT delivered to {self.target}: {self.error}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "action": self.action,
            "target": self.target,
            "dedup_key": self.dedup_key,
            "ok": self.ok,
            "status": self.status,
            "error": self.error,
            "attempts": [a.to_dict() for a in self.attempts],
        }


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _retry_after(value: str | None, now: Callable[[], datetime]) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²".isdigit() is True, float("²") fails
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now()).total_seconds())


def target_of(url: str) -> str:
    """The scheme and host of ``url``: what may be shown of a webhook URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class Transport:
    """POSTs JSON with retries. One instance can serve every notifier of a run."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        user_agent: str = "erp-secrets",
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.monotonic = monotonic
        self.wall_clock = wall_clock
        self.user_agent = user_agent

    def __repr__(self) -> str:
        return f"Transport({self.policy!r})"

    def _open(self, request: urllib.request.Request, host: str, timeout: float) -> Any:
        # Never follow a redirect: neither Slack nor PagerDuty answers an accepted POST with
        # one, urllib would re-send it as a GET without the body (and count that as
        # delivered), and the new location could be plain http elsewhere.
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if host in _LOOPBACK:  # never send loopback traffic through a proxy
            handlers.append(urllib.request.ProxyHandler({}))
        opener = urllib.request.build_opener(*handlers)
        return opener.open(request, timeout=timeout)

    def post(
        self,
        url: str,
        payload: Mapping[str, Any],
        *,
        destination: str,
        action: str,
        dedup_key: str | None = None,
        secrets: Sequence[str] = (),
    ) -> DeliveryResult:
        """POST ``payload`` as JSON to ``url`` until it is accepted or the policy gives up."""
        policy = self.policy
        target = target_of(url)
        host = urlsplit(url).hostname or ""
        body = json.dumps(payload, separators=(",", ":")).encode()
        started = self.monotonic()
        attempts: list[Attempt] = []
        error = "no attempt made"
        for number in range(1, policy.max_attempts + 1):
            request = urllib.request.Request(  # noqa: S310 (the scheme is checked in config)
                url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": self.user_agent},
            )
            status: int | None = None
            retry_after: float | None = None
            retryable = True
            # the budget bounds the whole post: a receiver trickling a byte at a time would
            # otherwise hold one attempt far past both the timeout (per read) and the budget
            deadline = started + policy.budget_seconds
            try:
                timeout = min(policy.timeout_seconds, max(deadline - self.monotonic(), 0.001))
                with self._open(request, host, timeout) as response:
                    status = int(response.status)
                    text = _read_until(response, deadline, self.monotonic).decode(
                        "utf-8", "replace"
                    )
                attempts.append(Attempt(status))
                return DeliveryResult(
                    destination,
                    action,
                    target,
                    True,
                    tuple(attempts),
                    dedup_key,
                    None,
                    _parse(text),
                )
            except urllib.error.HTTPError as exc:
                status = exc.code
                try:  # scrubbed whole, then cut: a cut secret would no longer match
                    echoed = exc.read(65536).decode("utf-8", "replace")
                except (OSError, http.client.HTTPException):
                    echoed = ""
                exc.close()
                excerpt = redact(echoed, [*secrets, *_url_secrets(url)])[:_MAX_EXCERPT].strip()
                retry_after = _retry_after(exc.headers.get("Retry-After"), self.wall_clock)
                retryable = status in _RETRY_STATUS
                error = f"HTTP {status}" + (f" {excerpt!r}" if excerpt else "")
            except TimeoutError:
                error = f"no answer within {policy.timeout_seconds:g} s"
            except urllib.error.URLError as exc:
                reason = exc.reason
                if isinstance(reason, TimeoutError):
                    error = f"no answer within {policy.timeout_seconds:g} s"
                else:
                    error = f"cannot connect ({getattr(reason, 'strerror', None) or reason})"
            except OSError as exc:  # connection reset mid-response and the like
                error = f"connection failed ({exc.strerror or type(exc).__name__})"
            except (http.client.HTTPException, ValueError) as exc:  # a garbled answer
                error = f"malformed answer ({type(exc).__name__})"
            error = redact(error, [*secrets, *_url_secrets(url)])
            if not retryable:
                attempts.append(Attempt(status, error))
                break
            if number == policy.max_attempts:
                attempts.append(Attempt(status, error))
                break
            wait = policy.delay(number, retry_after)
            elapsed = self.monotonic() - started
            if elapsed + wait > policy.budget_seconds:
                attempts.append(Attempt(status, error))
                error += (
                    f"; gave up: the next retry would pass the {policy.budget_seconds:g} s budget"
                )
                break
            attempts.append(Attempt(status, error, wait))
            self.sleep(wait)
        tries = len(attempts)
        final = f"{error} (after {tries} attempt{'s' if tries != 1 else ''})"
        return DeliveryResult(destination, action, target, False, tuple(attempts), dedup_key, final)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status: not delivered


def _url_secrets(url: str) -> list[str]:
    """What of a webhook URL must never be shown: all of it, and its path and query alone
    (a receiver may echo just the path, whose last parts are the webhook's token)."""
    parts = urlsplit(url)
    return [url, *(p for p in (parts.path, parts.query) if len(p) > 1)]


def _read_until(response: Any, deadline: float, monotonic: Callable[[], float]) -> bytes:
    """At most 64 KiB of ``response``, or :class:`TimeoutError` once ``deadline`` passes."""
    chunks: list[bytes] = []
    left = 65536
    while left > 0:
        if monotonic() > deadline:
            raise TimeoutError
        chunk = response.read1(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
