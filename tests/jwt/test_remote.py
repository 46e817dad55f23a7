"""RemoteKeySet against a real local HTTP server that goes down, slows and returns garbage."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.jwt.jwks_helpers import JwksServer, Ticker

from erp.errors import UnknownKeyId
from erp.jwt.keys import PrivateKey
from erp.jwt.remote import JwksUnavailable, RemoteKeySet

ED = PrivateKey.generate("EdDSA")
ES = PrivateKey.generate("ES256")
NEXT = PrivateKey.generate("EdDSA")
COOLDOWN = timedelta(seconds=30)


def _set(**keys: PrivateKey) -> dict[str, Any]:
    return {"keys": [key.public.jwk(kid=kid) for kid, key in keys.items()]}


def _client(server: JwksServer, ticker: Ticker, **options: Any) -> RemoteKeySet:
    options.setdefault("timeout_seconds", 0.05)
    return RemoteKeySet(server.url, monotonic=ticker, cooldown=COOLDOWN, **options)


def _verify(keys: RemoteKeySet, token: str) -> dict[str, Any]:
    """How a verifier uses the set: kid from the header, alg and key from the set only."""
    alg, key = keys.key_for(jwt.get_unverified_header(token).get("kid"))
    claims: dict[str, Any] = jwt.decode(token, key, algorithms=[alg])
    return claims


def _token(key: PrivateKey, kid: str, **headers: Any) -> str:
    return jwt.encode({"sub": "u1"}, key.key, algorithm=key.alg, headers={"kid": kid, **headers})


def test_key_for_gives_the_published_alg_and_key(jwks_server: JwksServer, ticker: Ticker) -> None:
    """A token verifies with the (alg, key) the set publishes under its kid."""
    jwks_server.publish(_set(ed=ED, es=ES))
    keys = _client(jwks_server, ticker)
    assert _verify(keys, _token(ED, "ed")) == {"sub": "u1"}
    assert _verify(keys, _token(ES, "es")) == {"sub": "u1"}
    assert keys.key_for("es")[0] == "ES256"
    assert jwks_server.hits == 1


def test_set_is_cached_for_max_age_then_revalidated_with_etag(
    jwks_server: JwksServer, ticker: Ticker
) -> None:
    """No request within max-age; after it one conditional request, and a 304 keeps the keys."""
    jwks_server.publish(_set(ed=ED), max_age=120)
    keys = _client(jwks_server, ticker)
    for _ in range(100):
        keys.key_for("ed")
    ticker.advance(119)
    keys.key_for("ed")
    assert jwks_server.hits == 1
    ticker.advance(2)
    keys.key_for("ed")
    assert jwks_server.hits == 2
    assert jwks_server.seen_if_none_match == [None, jwks_server.etag]
    ticker.advance(60)
    keys.key_for("ed")
    assert jwks_server.hits == 2  # the 304 renewed freshness for another max-age


def test_max_age_is_clamped(jwks_server: JwksServer, ticker: Ticker) -> None:
    """max-age=0 is raised to min_max_age; a year is cut to max_max_age."""
    jwks_server.publish(_set(ed=ED), max_age=0)
    keys = _client(jwks_server, ticker, min_max_age=timedelta(seconds=10))
    keys.key_for("ed")
    ticker.advance(9)
    keys.key_for("ed")
    assert jwks_server.hits == 1
    jwks_server.publish(_set(ed=ED), max_age=365 * 86400)
    ticker.advance(31)  # past the cooldown too
    keys.key_for("ed")
    ticker.advance(86400 + 1)
    keys.key_for("ed")
    assert jwks_server.hits == 3


def test_unknown_kids_fetch_at_most_once_per_cooldown(
    jwks_server: JwksServer, ticker: Ticker
) -> None:
    """Ten thousand junk kids, from eight threads, cause at most one fetch per cooldown."""
    jwks_server.publish(_set(ed=ED))
    keys = _client(jwks_server, ticker)
    keys.key_for("ed")
    ticker.advance(COOLDOWN.total_seconds())
    refused = []

    def flood(offset: int) -> None:
        for n in range(1250):
            try:
                keys.key_for(f"junk-{offset}-{n}")
            except UnknownKeyId:
                refused.append(n)

    threads = [threading.Thread(target=flood, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(refused), jwks_server.hits) == (10_000, 2)
    ticker.advance(COOLDOWN.total_seconds() - 1)
    with pytest.raises(UnknownKeyId):
        keys.key_for("junk")
    assert jwks_server.hits == 2
    ticker.advance(1)
    with pytest.raises(UnknownKeyId):
        keys.key_for("junk")
    assert jwks_server.hits == 3


def test_new_kid_is_picked_up_on_its_first_token(jwks_server: JwksServer, ticker: Ticker) -> None:
    """A key published after the last fetch verifies on the first token carrying it."""
    jwks_server.publish(_set(ed=ED))
    keys = _client(jwks_server, ticker)
    keys.key_for("ed")
    ticker.advance(COOLDOWN.total_seconds())
    jwks_server.publish(_set(ed=ED, next=NEXT))
    assert _verify(keys, _token(NEXT, "next")) == {"sub": "u1"}


def test_outage_serves_last_good_set_until_max_stale(
    jwks_server: JwksServer, ticker: Ticker
) -> None:
    """Endpoint down: the last good set verifies until max_stale, retried once per cooldown."""
    jwks_server.publish(_set(ed=ED), max_age=60)
    keys = _client(jwks_server, ticker, max_stale=timedelta(hours=1))
    token = _token(ED, "ed")
    _verify(keys, token)
    jwks_server.stop()
    hits = jwks_server.hits
    for _ in range(60):  # an hour, minute by minute: every token still verifies
        ticker.advance(59)
        assert _verify(keys, token) == {"sub": "u1"}
    assert keys.last_error is not None
    assert keys.fetches <= 1 + 60 * 59 // 30 + 1
    ticker.advance(120)
    with pytest.raises(JwksUnavailable, match="older than 1:00:00") as caught:
        keys.key_for("ed")
    assert "ConnectionRefusedError" in str(caught.value)
    jwks_server.start()
    ticker.advance(COOLDOWN.total_seconds())
    assert _verify(keys, token) == {"sub": "u1"}
    assert jwks_server.hits == hits + 1


def test_never_fetched_and_down_is_unavailable(jwks_server: JwksServer, ticker: Ticker) -> None:
    """With no good copy yet, a lookup raises JwksUnavailable (a TransientError)."""
    jwks_server.stop()
    keys = _client(jwks_server, ticker)
    with pytest.raises(JwksUnavailable, match="fetch failed"):
        keys.key_for("ed")


@pytest.mark.parametrize("mode", ["slow", "dribble"])
def test_slow_endpoint_times_out_and_keeps_last_good(
    jwks_server: JwksServer, ticker: Ticker, mode: str
) -> None:
    """A server that stalls, or sends one byte at a time, costs one timeout; keys stay."""
    jwks_server.publish(_set(ed=ED), max_age=60)
    keys = _client(jwks_server, ticker, timeout_seconds=0.05)
    keys.key_for("ed")
    jwks_server.publish(_set(ed=ED, next=NEXT), max_age=60)
    jwks_server.etag = None  # a full answer, so dribbling has a body to send
    jwks_server.mode = mode
    ticker.advance(61)
    started = time.monotonic()
    assert keys.key_for("ed")[0] == "EdDSA"
    assert time.monotonic() - started < 1.0
    assert "took longer" in (keys.last_error or "") or "Timeout" in (keys.last_error or "")
    with pytest.raises(UnknownKeyId):
        keys.key_for("next")  # within the cooldown: no second slow fetch
    assert jwks_server.hits == 2


GARBAGE = {
    "not json": (b"<html>oops</html>", 200, "not JSON"),
    "not a set": (b'{"kty": "OKP"}', 200, "not a JWK Set"),
    "keys not a list": (b'{"keys": {}}', 200, "not a JWK Set"),
    "no usable key": (b'{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}', 200, "no usable"),
    "server error": (b"{}", 503, "HTTP status 503"),
    "too large": (b'{"keys": []}' + b" " * 300_000, 200, "larger than"),
    "deep": (b"[" * 100_000, 200, "larger than"),
}


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_garbage_keeps_last_good_set(jwks_server: JwksServer, ticker: Ticker, case: str) -> None:
    """Every kind of bad answer is a failed fetch: the old keys stay, the error says why."""
    body, status, problem = GARBAGE[case]
    jwks_server.publish(_set(ed=ED), max_age=60)
    keys = _client(jwks_server, ticker, max_bytes=64 * 1024)
    keys.key_for("ed")
    jwks_server.raw(body, status=status)
    ticker.advance(61)
    assert keys.key_for("ed")[0] == "EdDSA"
    assert problem in (keys.last_error or "")
    assert "oops" not in (keys.last_error or "")


def test_connection_reset_is_a_failed_fetch(jwks_server: JwksServer, ticker: Ticker) -> None:
    """A server closing the connection without answering is survived like an outage."""
    jwks_server.publish(_set(ed=ED), max_age=60)
    keys = _client(jwks_server, ticker)
    keys.key_for("ed")
    jwks_server.mode = "reset"
    ticker.advance(61)
    assert keys.key_for("ed")[0] == "EdDSA"
    assert keys.last_error is not None


def test_unusable_entries_are_skipped_not_fatal(jwks_server: JwksServer, ticker: Ticker) -> None:
    """Weak RSA, private members, enc keys and repeated kids are skipped; good keys stay."""
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - refused
    weak_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(weak.public_key()))
    leaked = json.loads(NEXT.to_text())
    doc = _set(ed=ED)
    doc["keys"] += [
        {**weak_jwk, "kid": "weak"},
        {**leaked, "kid": "leaked"},
        {**ES.public.jwk(kid="enc"), "use": "enc"},
        ES.public.jwk(kid="twice"),
        NEXT.public.jwk(kid="twice"),
    ]
    jwks_server.publish(doc)
    keys = _client(jwks_server, ticker)
    assert set(keys.keys()) == {"ed"}
    assert len(keys.skipped) == 4  # the first 'twice' is dropped, not skipped
    assert leaked["d"] not in " ".join(keys.skipped)


def test_token_headers_never_direct_a_fetch(jwks_server: JwksServer, ticker: Ticker) -> None:
    """jku/x5u/jwk headers pointing at an attacker's server are never fetched or trusted."""
    attacker = JwksServer()
    attacker.start()
    try:
        forger = PrivateKey.generate("EdDSA")
        attacker.publish(_set(ed=forger))
        jwks_server.publish(_set(ed=ED))
        keys = _client(jwks_server, ticker)
        forged = _token(
            forger, "ed", jku=attacker.url, x5u=attacker.url, jwk=forger.public.jwk(kid="ed")
        )
        with pytest.raises(jwt.InvalidSignatureError):
            _verify(keys, forged)
        assert attacker.hits == 0
    finally:
        attacker.stop()


def test_alg_comes_from_the_set_not_the_header(jwks_server: JwksServer, ticker: Ticker) -> None:
    """An ES256 or HS256 header on an Ed25519 kid is refused: the set says EdDSA."""
    jwks_server.publish(_set(ed=ED))
    keys = _client(jwks_server, ticker)
    es_header = _token(ES, "ed")
    with pytest.raises(jwt.InvalidAlgorithmError):
        _verify(keys, es_header)
    hs = jwt.encode({"sub": "x"}, b"k" * 32, algorithm="HS256", headers={"kid": "ed"})
    with pytest.raises(jwt.InvalidAlgorithmError):
        _verify(keys, hs)


def test_url_must_be_https_or_loopback_http() -> None:
    """Plain http to another host, other schemes and credentials in the URL are refused."""
    for url in (
        "http://jwks.example.com/.well-known/jwks.json",
        "file:///etc/passwd",
        "ftp://127.0.0.1/jwks.json",
        "https://user:pw@example.com/jwks.json",
    ):
        with pytest.raises(ValueError, match="url must"):
            RemoteKeySet(url)
    RemoteKeySet("http://[::1]:8080/jwks.json")
    RemoteKeySet("http://jwks.internal/jwks.json", allow_http=True)


def test_token_without_kid_matches_only_a_single_key_set(
    jwks_server: JwksServer, ticker: Ticker
) -> None:
    """A kid-less token uses the one key of a one-key set; with two keys it is unknown."""
    jwks_server.publish(_set(ed=ED))
    keys = _client(jwks_server, ticker)
    assert keys.key_for(None)[0] == "EdDSA"
    jwks_server.publish(_set(ed=ED, es=ES))
    keys = _client(jwks_server, ticker)
    with pytest.raises(UnknownKeyId):
        keys.key_for(None)


def test_repr_names_url_and_count(jwks_server: JwksServer, ticker: Ticker) -> None:
    """repr shows the URL and how many keys are held."""
    jwks_server.publish(_set(ed=ED, es=ES))
    keys = _client(jwks_server, ticker)
    keys.keys()
    assert repr(keys) == f"RemoteKeySet({jwks_server.url!r}, keys=2)"


def test_empty_set_is_an_answer_not_a_failure(jwks_server: JwksServer, ticker: Ticker) -> None:
    """An issuer still on HMAC publishes no key: that is a good (empty) set, not an outage."""
    jwks_server.publish({"keys": []})
    keys = _client(jwks_server, ticker)
    assert keys.keys() == {}
    assert keys.last_error is None
    with pytest.raises(UnknownKeyId):
        keys.key_for("ed")
