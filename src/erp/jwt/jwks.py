"""The published JWK Set: every public key that may verify, and tiny apps that serve it.

Which keys: every asymmetric key still in the ring, whatever its state. ``staged`` keys are
published before they sign (so verifiers have them when the first token arrives),
``active`` keys sign, ``retiring`` keys stay until pruned (tokens they signed are still
valid). HMAC keys are never published: they are shared secrets, and their ids are not
listed either.

What is served: the set as compact JSON with sorted members (the same ring always gives the
same bytes, so the ``ETag``, a SHA-256 of the body, is stable across processes and
restarts), ``Cache-Control: public, max-age=N`` and ``If-None-Match`` answered with 304.
``N`` must stay below the minimum stage time: a verifier that cached the set just before a
key was staged still sees that key before it signs (see :func:`check_max_age`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from erp.errors import PolicyViolation
from erp.jwt.compact import b64url_encode
from erp.jwt.keyring import Key, KeyRing, RotationPolicy, read_jwks_max_age
from erp.jwt.keys import PublicKey, is_private_jwk_text, load_private_key

__all__ = [
    "DEFAULT_MAX_AGE",
    "WELL_KNOWN_PATH",
    "JwksDocument",
    "JwksPublisher",
    "asgi_app",
    "check_max_age",
    "jwk_set",
    "public_key_of",
    "read_max_age",
    "wsgi_app",
]

WELL_KNOWN_PATH: Final = "/.well-known/jwks.json"
DEFAULT_MAX_AGE: Final = timedelta(minutes=5)
"""Half the default minimum stage time (10 minutes), so a staged key is always seen first."""

_MAX_MAX_AGE: Final = timedelta(days=1)
_CONTENT_TYPE: Final = "application/jwk-set+json"  # RFC 7517 section 8.5.1


def public_key_of(key: Key) -> PublicKey | None:
    """The public half of a ring key, or ``None`` for an HMAC key (never published)."""
    if not is_private_jwk_text(key.secret):
        return None
    return load_private_key(key.secret, where=f"key {key.id!r}").public


def jwk_set(ring: KeyRing) -> dict[str, list[dict[str, str]]]:
    """The public JWK Set (RFC 7517 section 5) of every asymmetric key in ``ring``."""
    keys = []
    for key in ring.keys:
        public = public_key_of(key)
        if public is not None:
            keys.append(public.jwk(kid=key.id))
    return {"keys": keys}


def read_max_age(env: Mapping[str, str] | None = None) -> timedelta:
    """``ERP_JWKS_MAX_AGE_SECONDS`` (1 s to 1 day, default 300), read where the policy is."""
    return read_jwks_max_age(env)


def check_max_age(max_age: timedelta, policy: RotationPolicy) -> None:
    """Refuse a ``max_age`` that a staged key might not outlive before it signs.

    A verifier may hold a set fetched just before a key was staged for ``max_age``; the key
    must stay staged longer than that, or its first tokens meet a verifier without it.
    """
    if policy.min_stage_period <= max_age:
        raise PolicyViolation(
            f"the JWKS max-age ({int(max_age.total_seconds())} s) must be shorter than the "
            f"minimum stage time ({int(policy.min_stage_period.total_seconds())} s): lower "
            "ERP_JWKS_MAX_AGE_SECONDS or raise ERP_JWT_MIN_STAGE_SECONDS"
        )


@dataclass(frozen=True)
class JwksDocument:
    """One rendering of a set: body bytes and their strong ``ETag``."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, jwks: Mapping[str, Any]) -> JwksDocument:
        """Render ``jwks`` canonically (sorted members, no spaces)."""
        body = json.dumps(jwks, separators=(",", ":"), sort_keys=True).encode("utf-8")
        digest = b64url_encode(hashlib.sha256(body).digest()[:18]).decode("ascii")
        return cls(body, f'"{digest}"')

    @classmethod
    def of_ring(cls, ring: KeyRing) -> JwksDocument:
        """The document of ``ring``'s public keys."""
        return cls.of(jwk_set(ring))


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    # RFC 9110 13.1.2: weak comparison; a list of tags or "*"
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


class JwksPublisher:
    """Serves the set of the ring ``ring_loader`` returns, re-rendered only when it changes.

    ``ring_loader`` is called on each request, so pass a cached one (such as
    :meth:`erp.jwt.tokens.TokenService.ring`). With ``policy``, a ``max_age`` that is not
    shorter than its minimum stage time is refused (:func:`check_max_age`).
    """

    def __init__(
        self,
        ring_loader: Callable[[], KeyRing],
        *,
        max_age: timedelta | None = None,
        policy: RotationPolicy | None = None,
    ) -> None:
        self.max_age = read_max_age() if max_age is None else max_age
        if not timedelta(0) <= self.max_age <= _MAX_MAX_AGE:
            raise ValueError("max_age must be from 0 to 1 day")
        if policy is not None:
            check_max_age(self.max_age, policy)
        self._loader = ring_loader
        self._lock = threading.Lock()
        self._cached: tuple[KeyRing, JwksDocument] | None = None

    def __repr__(self) -> str:
        return f"JwksPublisher(max_age={self.max_age})"

    def document(self) -> JwksDocument:
        """The current document (rendered again only when the ring object changed)."""
        ring = self._loader()
        cached = self._cached
        if cached is not None and cached[0] is ring:
            return cached[1]
        with self._lock:
            doc = JwksDocument.of_ring(ring)
            self._cached = (ring, doc)
            return doc

    def respond(
        self, method: str, path: str, if_none_match: str | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """``(status, headers, body)`` for one request; the apps below only adapt this."""
        if path != WELL_KNOWN_PATH:
            return 404, [("Content-Type", "text/plain")], b"not found\n"
        if method not in ("GET", "HEAD"):
            return 405, [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")], b""
        doc = self.document()
        headers = [
            ("Cache-Control", f"public, max-age={int(self.max_age.total_seconds())}"),
            ("ETag", doc.etag),
            ("Access-Control-Allow-Origin", "*"),  # public keys: browsers may fetch them
        ]
        if _etag_matches(if_none_match, doc.etag):
            return 304, headers, b""
        headers += [("Content-Type", _CONTENT_TYPE), ("Content-Length", str(len(doc.body)))]
        return 200, headers, b"" if method == "HEAD" else doc.body


_REASONS: Final = {200: "OK", 304: "Not Modified", 404: "Not Found", 405: "Method Not Allowed"}

WsgiStartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], WsgiStartResponse], Iterable[bytes]]


def wsgi_app(publisher: JwksPublisher) -> WsgiApp:
    """A WSGI application serving ``/.well-known/jwks.json`` (mount it or run it alone)."""

    def app(environ: dict[str, Any], start_response: WsgiStartResponse) -> Iterable[bytes]:
        status, headers, body = publisher.respond(
            str(environ.get("REQUEST_METHOD", "GET")),
            str(environ.get("PATH_INFO", "")),
            environ.get("HTTP_IF_NONE_MATCH"),
        )
        start_response(f"{status} {_REASONS[status]}", headers)
        return [body]

    return app


AsgiReceive = Callable[[], Awaitable[MutableMapping[str, Any]]]
AsgiSend = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def asgi_app(
    publisher: JwksPublisher,
) -> Callable[[MutableMapping[str, Any], AsgiReceive, AsgiSend], Coroutine[Any, Any, None]]:
    """An ASGI 3 application serving ``/.well-known/jwks.json`` (and the lifespan protocol)."""

    async def app(scope: MutableMapping[str, Any], receive: AsgiReceive, send: AsgiSend) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            raise ValueError(f"unsupported ASGI scope type {scope['type']!r}")
        if_none_match = None
        for name, value in scope.get("headers", ()):
            if name.lower() == b"if-none-match":
                if_none_match = value.decode("latin-1")
        status, headers, body = publisher.respond(
            str(scope.get("method", "GET")), str(scope.get("path", "")), if_none_match
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app
