"""The published JWK Set: which keys, stable bytes and ETag, the WSGI/ASGI apps, interop."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import jwt
import pytest
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import KeySet

from erp.errors import PolicyViolation
from erp.jwt.jwks import (
    WELL_KNOWN_PATH,
    JwksDocument,
    JwksPublisher,
    asgi_app,
    check_max_age,
    jwk_set,
    read_max_age,
    wsgi_app,
)
from erp.jwt.keyring import Key, KeyRing, KeyState, RotationPolicy, generate_secret
from erp.jwt.keys import PRIVATE_MEMBERS, PrivateKey

NOW = datetime(2026, 1, 1, tzinfo=UTC)
_KEYS = {
    "ed": PrivateKey.generate("EdDSA"),
    "es": PrivateKey.generate("ES256"),
    "rs": PrivateKey.generate("RS256", rsa_bits=2048),
}


def _ring() -> KeyRing:
    """A migration ring: a retiring HMAC key, a retiring ES256, the active EdDSA, a staged RS256."""
    return KeyRing(
        (
            Key("hs", generate_secret(), KeyState.RETIRING, NOW, NOW, NOW),
            Key("es", _KEYS["es"].to_text(), KeyState.RETIRING, NOW, NOW, NOW),
            Key("ed", _KEYS["ed"].to_text(), KeyState.ACTIVE, NOW, NOW),
            Key("rs", _KEYS["rs"].to_text(), KeyState.STAGED, NOW),
        )
    )


def _token(kid: str, claims: dict[str, Any] | None = None) -> str:
    key = _KEYS[kid]
    body = claims or {"sub": "u1", "exp": int(NOW.timestamp()) + 10**9}
    return jwt.encode(body, key.key, algorithm=key.alg, headers={"kid": kid})


def test_set_holds_every_asymmetric_key_in_every_state() -> None:
    """Staged, active and retiring asymmetric keys are published, by ring id, with their alg."""
    published = {k["kid"]: k["alg"] for k in jwk_set(_ring())["keys"]}
    assert published == {"es": "ES256", "ed": "EdDSA", "rs": "RS256"}


def test_set_never_holds_hmac_keys_or_private_members() -> None:
    """HMAC keys are absent (not even their id) and no entry has a private member."""
    ring = _ring()
    body = JwksDocument.of_ring(ring).body.decode()
    assert '"hs"' not in body
    assert ring.get("hs") is not None
    assert ring.get("hs").secret not in body  # type: ignore[union-attr]
    for entry in json.loads(body)["keys"]:
        assert not PRIVATE_MEMBERS & set(entry)
    for key in _KEYS.values():
        stored = json.loads(key.to_text())
        assert stored["d"] not in body


def test_pruned_key_leaves_the_set() -> None:
    """A key removed from the ring is no longer published."""
    ring = _ring()
    smaller = KeyRing(tuple(k for k in ring.keys if k.id != "es"))
    assert "es" not in {k["kid"] for k in jwk_set(smaller)["keys"]}


def test_same_ring_same_bytes_and_etag() -> None:
    """Rendering is canonical: the same ring always gives the same body and ETag."""
    first, second = JwksDocument.of_ring(_ring()), JwksDocument.of_ring(_ring())
    assert (first.body, first.etag) == (second.body, second.etag)
    changed = JwksDocument.of_ring(KeyRing(_ring().keys[1:3]))
    assert changed.etag != first.etag


def test_max_age_must_be_below_min_stage_time() -> None:
    """A max-age not shorter than the minimum stage time is refused, naming both settings."""
    policy = RotationPolicy(mode="staged", min_stage_period=timedelta(minutes=10))
    check_max_age(timedelta(minutes=5), policy)
    with pytest.raises(PolicyViolation, match="ERP_JWKS_MAX_AGE_SECONDS"):
        check_max_age(timedelta(minutes=10), policy)
    with pytest.raises(PolicyViolation, match="ERP_JWT_MIN_STAGE_SECONDS"):
        JwksPublisher(_ring, max_age=timedelta(hours=1), policy=policy)


def test_max_age_setting_is_range_checked() -> None:
    """ERP_JWKS_MAX_AGE_SECONDS defaults to 300 and refuses out-of-range values."""
    assert read_max_age({}) == timedelta(seconds=300)
    assert read_max_age({"ERP_JWKS_MAX_AGE_SECONDS": "60"}) == timedelta(seconds=60)
    with pytest.raises(Exception, match="ERP_JWKS_MAX_AGE_SECONDS"):
        read_max_age({"ERP_JWKS_MAX_AGE_SECONDS": "nan"})


def test_publisher_renders_again_only_when_the_ring_changes() -> None:
    """The same ring object is served from cache; a new ring object is rendered."""
    rings = [_ring()]
    publisher = JwksPublisher(lambda: rings[-1], max_age=timedelta(seconds=60))
    first = publisher.document()
    assert publisher.document() is first
    rings.append(KeyRing(rings[0].keys[2:3]))
    assert publisher.document().etag != first.etag


def _wsgi_call(
    app: Any, method: str, path: str, **headers: str
) -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(response_headers)

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path}
    environ.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body


def test_wsgi_app_serves_set_with_cache_headers_and_304() -> None:
    """GET gives the set with max-age and ETag; a matching If-None-Match gives 304, no body."""
    app = wsgi_app(JwksPublisher(_ring, max_age=timedelta(seconds=120)))
    status, headers, body = _wsgi_call(app, "GET", WELL_KNOWN_PATH)
    assert status == "200 OK"
    assert headers["Cache-Control"] == "public, max-age=120"
    assert headers["Content-Type"] == "application/jwk-set+json"
    assert json.loads(body) == jwk_set(_ring())
    etag = headers["ETag"]
    for tag in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        status, again, body = _wsgi_call(app, "GET", WELL_KNOWN_PATH, if_none_match=tag)
        assert (status, body, again["ETag"]) == ("304 Not Modified", b"", etag)
    status, _, body = _wsgi_call(app, "GET", WELL_KNOWN_PATH, if_none_match='"stale"')
    assert status == "200 OK"


def test_wsgi_app_head_other_paths_and_methods() -> None:
    """HEAD has headers and no body; other paths are 404; other methods 405."""
    app = wsgi_app(JwksPublisher(_ring, max_age=timedelta(seconds=1)))
    status, headers, body = _wsgi_call(app, "HEAD", WELL_KNOWN_PATH)
    assert (status, body) == ("200 OK", b"")
    assert int(headers["Content-Length"]) > 0
    assert _wsgi_call(app, "GET", "/jwks.json")[0] == "404 Not Found"
    status, headers, _ = _wsgi_call(app, "POST", WELL_KNOWN_PATH)
    assert (status, headers["Allow"]) == ("405 Method Not Allowed", "GET, HEAD")


def _asgi_call(app: Any, scope: dict[str, Any]) -> list[MutableMapping[str, Any]]:
    sent: list[MutableMapping[str, Any]] = []
    incoming = [{"type": "http.request", "body": b""}]

    async def receive() -> MutableMapping[str, Any]:
        return incoming.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_asgi_app_serves_set_and_304() -> None:
    """The ASGI app answers as the WSGI app: 200 with headers, then 304 on its ETag."""
    app = asgi_app(JwksPublisher(_ring, max_age=timedelta(seconds=30)))
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": WELL_KNOWN_PATH}
    scope["headers"] = []
    start, body = _asgi_call(app, scope)
    headers = dict(start["headers"])
    assert start["status"] == 200
    assert headers[b"cache-control"] == b"public, max-age=30"
    assert json.loads(body["body"]) == jwk_set(_ring())
    scope["headers"] = [(b"if-none-match", headers[b"etag"])]
    start, body = _asgi_call(app, scope)
    assert (start["status"], body["body"]) == (304, b"")


def test_asgi_app_speaks_lifespan() -> None:
    """Startup and shutdown messages are acknowledged (servers such as uvicorn send them)."""
    app = asgi_app(JwksPublisher(_ring, max_age=timedelta(seconds=30)))
    sent: list[MutableMapping[str, Any]] = []
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> MutableMapping[str, Any]:
        return incoming.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def jwks_url() -> Iterator[str]:
    """Our WSGI app on a real local server; yields the JWK Set URL."""
    server: WSGIServer = make_server(
        "127.0.0.1",
        0,
        wsgi_app(JwksPublisher(_ring, max_age=timedelta(seconds=60))),
        handler_class=_Quiet,
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{WELL_KNOWN_PATH}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("kid", ["ed", "es", "rs"])
def test_pyjwt_jwks_client_verifies_our_tokens_from_the_url_alone(jwks_url: str, kid: str) -> None:
    """PyJWKClient, given only our URL, finds the key by kid and verifies the token."""
    token = _token(kid)
    client = jwt.PyJWKClient(jwks_url, cache_keys=False)
    signing_key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, signing_key.key, algorithms=[_KEYS[kid].alg])
    assert claims["sub"] == "u1"


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning")
@pytest.mark.parametrize("kid", ["ed", "es", "rs"])
def test_joserfc_verifies_our_tokens_from_the_url_alone(jwks_url: str, kid: str) -> None:
    """joserfc, given the set fetched from our URL, verifies the token (RFC 9864 renames
    EdDSA to Ed25519; joserfc warns about the old name, which is still the one in use)."""
    with urllib.request.urlopen(jwks_url, timeout=5) as response:
        key_set = KeySet.import_key_set(json.load(response))
    token = joserfc_jwt.decode(_token(kid), key_set, algorithms=[_KEYS[kid].alg])
    assert token.claims["sub"] == "u1"


def test_a_forged_key_under_a_published_kid_fails_in_pyjwt(jwks_url: str) -> None:
    """A token signed by another Ed25519 key but naming our kid does not verify."""
    forger = PrivateKey.generate("EdDSA")
    forged = jwt.encode({"sub": "x"}, forger.key, algorithm="EdDSA", headers={"kid": "ed"})
    key = jwt.PyJWKClient(jwks_url, cache_keys=False).get_signing_key_from_jwt(forged)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key.key, algorithms=["EdDSA"])
