"""Differential fuzz: verify_token's fast path against PyJWT and joserfc on hostile tokens.

Every token is built from random headers and claims, MACed with a ring key (or not), then
perturbed. The rule: erp never accepts a token that both peers refuse, and where erp refuses
what a peer accepts, the reason is one of the deliberate differences in ``docs/jwt.md``
(``DELIBERATE`` below mirrors that list). ``ERP_FUZZ_EXAMPLES`` raises the example count for
a long local run; the suite's default takes a few seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
import warnings
from datetime import timedelta
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from joserfc import jwt as jose_jwt
from joserfc.jwk import OctKey
from joserfc.jws import JWSRegistry

from erp.errors import InvalidToken
from erp.keyring import KeyRing, RotationPolicy, rotate
from erp.security import TokenService

LEEWAY = 30
POLICY = RotationPolicy(max_token_ttl=timedelta(hours=1), leeway=timedelta(seconds=LEEWAY))
EXAMPLES = int(os.environ.get("ERP_FUZZ_EXAMPLES", "200"))
DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}

# Why erp may refuse a token that a peer accepts: each pattern matches erp's message for one
# deliberate difference listed in docs/jwt.md ("Fast path", deliberate differences).
DELIBERATE = {
    "padding, spare bits or other non-canonical base64url": r"not base64url|signature does not",
    "header member repeated": r"repeats a member name",
    "NaN, Infinity or a number beyond double range (JSON)": r"not (base64url-encoded )?JSON",
    "payload not strict UTF-8 (BOM, UTF-16, surrogates)": r"payload is not JSON",
    "crit or b64 in the header": r"'crit'|'b64'",
    "header or token over the size caps, header nested too deep": r"longer than|nested at most",
    "an aud claim while no audience is expected": r"has an audience but none is expected",
    "a time claim that is not a finite JSON number": r"claim is (not a|not a finite|out of)",
    "iat in the future beyond the leeway": r"issued in the future",
    "a non-ASCII character in the token": r"non-ASCII",
    "an aud claim that is not a string or list of strings": r"aud claim is not",
    "iss, sub or jti that is not a string": r"(iss|sub|jti) claim is not a string",
    "a kid naming no ring key, or not a string (the peers were handed the key)": (
        r"unknown key|kid header must be a string"
    ),
}
_DELIBERATE = re.compile("|".join(f"(?:{p})" for p in DELIBERATE.values()))


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class Verifiers:
    """erp's token service and the two peers, over one ring key and algorithm."""

    def __init__(self, alg: str) -> None:
        self.alg = alg
        self.ring = rotate(KeyRing(), _now_datetime(), POLICY).ring
        self.kid = self.ring.active.id
        self.key = _key_bytes(self.ring)
        self.service = TokenService(lambda: self.ring, algorithm=alg, policy=POLICY)
        self.oct_key = OctKey.import_key(self.key)
        self.jws_registry = JWSRegistry(algorithms=[alg])
        self.claims_registry = jose_jwt.JWTClaimsRegistry(leeway=LEEWAY, exp={"essential": True})

    def erp(self, token: str) -> tuple[dict[str, Any] | None, str]:
        try:
            return self.service.verify(token), ""
        except InvalidToken as exc:
            return None, str(exc)

    def pyjwt(self, token: str) -> dict[str, Any] | None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    self.key,
                    algorithms=[self.alg],
                    leeway=LEEWAY,
                    options={"require": ["exp"]},
                )
            except Exception:  # any refusal, of any type, counts as a refusal
                return None
            return claims

    def joserfc(self, token: str) -> dict[str, Any] | None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                decoded = jose_jwt.decode(token, self.oct_key, registry=self.jws_registry)
                self.claims_registry.validate(decoded.claims)
            except Exception:  # any refusal, of any type, counts as a refusal
                return None
            return decoded.claims


def _now_datetime() -> Any:
    from erp.clock import system_clock

    return system_clock()


def _key_bytes(ring: KeyRing) -> bytes:
    active = ring.active
    key = getattr(active, "key_bytes", None)
    return key if isinstance(key, bytes) else active.secret.encode()


VERIFIERS = {alg: Verifiers(alg) for alg in DIGESTS}

# -- what tokens are made of ---------------------------------------------------------------

# seconds from now, at least 15 s from every boundary (exp/nbf/iat +- the 30 s leeway), so
# the three verifiers reading the clock a moment apart always agree on time
OFFSETS = st.sampled_from([-(10**9), -86400, -600, -45, -15, 0, 15, 45, 600, 86400, 10**9])

ODD_NUMBERS = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" + "0" * 400, "true", "null", '"1"']
)
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.lists(st.text(max_size=4), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@st.composite
def time_claim(draw: st.DrawFn) -> str:
    """A NumericDate as JSON text: usually an offset from now, sometimes anything at all."""
    kind = draw(st.integers(0, 9))
    if kind <= 6:
        value: float = int(time.time()) + draw(OFFSETS)
        if kind == 6:
            value += 0.5
        return json.dumps(value)
    if kind == 7:
        return draw(ODD_NUMBERS)
    return json.dumps(draw(ODD_VALUES))


@st.composite
def payload_text(draw: st.DrawFn, tame: bool) -> bytes:
    """A claims object as JSON text, with optional odd members and raw encodings."""
    members: list[tuple[str, str]] = []
    now = int(time.time())
    if tame:  # valid times and types: only the values vary
        members.append(("exp", json.dumps(now + draw(st.sampled_from([-15, 45, 600, 10**9])))))
        for name in ("nbf", "iat"):
            if draw(st.booleans()):
                members.append((name, json.dumps(now + draw(st.sampled_from([-600, -15, 15])))))
        for name in ("iss", "sub", "jti"):
            if draw(st.booleans()):
                members.append((name, json.dumps(draw(st.text(max_size=6)))))
        for _ in range(draw(st.integers(0, 3))):
            members.append((draw(st.text(max_size=6)), json.dumps(draw(ODD_VALUES))))
    else:
        if draw(st.integers(0, 9)) > 0:
            members.append(("exp", draw(time_claim())))
        for name in ("nbf", "iat"):
            if draw(st.booleans()):
                members.append((name, draw(time_claim())))
        for name in ("iss", "sub", "jti", "aud"):
            if draw(st.integers(0, 3)) == 0:
                value = draw(st.one_of(st.text(max_size=6), ODD_VALUES))
                members.append((name, json.dumps(value)))
        for _ in range(draw(st.integers(0, 2))):
            odd = st.one_of(ODD_NUMBERS, ODD_VALUES.map(json.dumps))
            members.append((draw(st.text(max_size=6)), draw(odd)))
    if members and draw(st.integers(0, 9)) == 0:
        members.append(draw(st.sampled_from(members)))  # a repeated name
    separator = draw(st.sampled_from([",", ", ", ",\r\n "]))
    text = "{" + separator.join(f"{json.dumps(k)}:{v}" for k, v in members) + "}"
    form = 19 if tame else draw(st.integers(0, 19))
    if form == 0:
        return text.encode("utf-16")
    if form == 1:
        return b"\xef\xbb\xbf" + text.encode()
    if form == 2:
        return text.encode()[:-1]  # truncated JSON
    if form == 3:
        return json.dumps(draw(ODD_VALUES)).encode()  # maybe not an object
    if form == 4:
        return text.encode().replace(b"}", b',"x":"\xed\xa0\x80"}', 1)  # a UTF-8 surrogate
    return text.encode("utf-8", "surrogatepass")


@st.composite
def header_text(draw: st.DrawFn, alg: str, kid: str, tame: bool) -> bytes:
    """A JOSE header as JSON text: erp's own, or one of its many hostile variations."""
    members: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if draw(st.integers(0, 5)) > 0:
        members["kid"] = kid
    change = 0 if tame else draw(st.integers(0, 14))
    if change == 1:
        members["alg"] = draw(
            st.sampled_from(["none", "None", "", "RS256", "hs256", "HS256", "HS384", "HS512"])
        )
    elif change == 2:
        del members["alg"]
    elif change == 3:
        members["kid"] = draw(ODD_VALUES)
    elif change == 4:
        members["crit"] = draw(st.sampled_from([["b64"], ["exp"], [], "b64", [1]]))
        if draw(st.booleans()):
            members["b64"] = draw(st.booleans())
    elif change == 5:
        members["b64"] = draw(st.booleans())
    elif change == 6:
        members[draw(st.sampled_from(["jku", "jwk", "x5u", "cty", "zip", "x"]))] = draw(ODD_VALUES)
    elif change == 7:
        members["typ"] = draw(ODD_VALUES)
    elif change == 8:
        members["pad"] = "x" * draw(st.sampled_from([300, 700, 2000]))
    text = json.dumps(members, separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])))
    if change == 9:
        text = text.replace("{", '{"alg":"none",', 1)  # the first of two algs
    elif change == 10:
        text = text[:-1] + ',"alg":"none"}'  # the last of two algs
    elif change == 11:
        text = text[:-1] + ',"n":NaN}'
    elif change == 12:
        text = json.dumps([members])
    return text.encode()


@st.composite
def perturbed(draw: st.DrawFn, token: str) -> str:
    """The token itself, or one small edit an attacker or a broken proxy might make."""
    kind = draw(st.integers(0, 15))
    head, payload, sig = token.split(".")
    segments = [head, payload, sig]
    if kind == 1:  # one character changed anywhere
        i = draw(st.integers(0, len(token) - 1))
        return token[:i] + draw(st.sampled_from("A_-=+/. \n\té0")) + token[i + 1 :]
    if kind == 2:  # padding added to a segment
        j = draw(st.integers(0, 2))
        segments[j] += draw(st.sampled_from(["=", "==", "==="]))
        return ".".join(segments)
    if kind == 3:  # spare bits set in a segment's last character
        j = draw(st.integers(0, 2))
        last = segments[j][-1:]
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        if last and last in alphabet:
            segments[j] = segments[j][:-1] + alphabet[(alphabet.index(last) + 1) % 64]
        return ".".join(segments)
    if kind == 4:  # standard alphabet instead of URL-safe
        return token.replace("-", "+").replace("_", "/")
    if kind == 5:
        return token + draw(st.sampled_from([".", ".x", "\n", " ", "=", "\x00"]))
    if kind == 6:
        return draw(
            st.sampled_from([head, f"{head}.{payload}", f"{head}.{payload}.", f".{payload}.{sig}"])
        )
    if kind == 7:
        return token.swapcase()
    return token


@st.composite
def hostile_token(draw: st.DrawFn) -> tuple[str, str]:
    """(service alg, token): a token MACed by a ring key or a stranger, then perturbed."""
    alg = draw(st.sampled_from(sorted(DIGESTS)))
    verifiers = VERIFIERS[alg]
    # a third of the tokens are well-formed and MACed right (their claims may still fail),
    # so that acceptance, and agreement on the claims, is exercised too
    tame = draw(st.integers(0, 2)) == 0
    # sometimes a token honestly made with our key under another HMAC alg than the service's
    header_alg = alg if draw(st.integers(0, 5)) else draw(st.sampled_from(sorted(DIGESTS)))
    header = draw(header_text(header_alg, verifiers.kid, tame))
    payload = draw(payload_text(tame))
    signing_input = _b64(header) + b"." + _b64(payload)
    mac_alg = (
        header_alg if tame or draw(st.integers(0, 7)) else draw(st.sampled_from(sorted(DIGESTS)))
    )
    key = verifiers.key if tame or draw(st.integers(0, 9)) else b"x" * 64
    if not tame and draw(st.integers(0, 11)) == 0:  # a MAC over a padded payload segment
        signing_input += b"="
    mac = hmac.new(key, signing_input, DIGESTS[mac_alg]).digest()
    token = (signing_input + b"." + _b64(mac)).decode()
    return alg, token if tame else draw(perturbed(token))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hostile_token())
def test_erp_never_accepts_what_both_peers_refuse(case: tuple[str, str]) -> None:
    """erp accepts only what a peer accepts, and refuses a peer's token only deliberately."""
    alg, token = case
    verifiers = VERIFIERS[alg]
    ours, reason = verifiers.erp(token)
    pyjwt_claims = verifiers.pyjwt(token)
    jose_claims = verifiers.joserfc(token)
    event(f"erp {'accepts' if ours is not None else 'refuses'}")
    if ours is not None:
        assert pyjwt_claims is not None or jose_claims is not None, (
            f"erp accepted a token both peers refuse: {token!r}"
        )
        for theirs in (pyjwt_claims, jose_claims):
            if theirs is not None:
                assert ours == theirs
    elif pyjwt_claims is not None or jose_claims is not None:
        event("deliberate difference: " + reason.split("'")[0])
        assert _DELIBERATE.search(reason), (
            f"undocumented difference: erp refused ({reason}) a token a peer accepts: {token!r}"
        )


@pytest.mark.parametrize("alg", sorted(DIGESTS))
def test_erp_and_both_peers_accept_erps_own_tokens(alg: str) -> None:
    """The baseline of the fuzz: a token erp issues is accepted by all three with equal claims."""
    verifiers = VERIFIERS[alg]
    token = verifiers.service.issue({"sub": "user-42", "scope": "erp:read"})
    ours, _reason = verifiers.erp(token)
    assert ours is not None
    assert ours == verifiers.pyjwt(token) == verifiers.joserfc(token)


@settings(max_examples=max(EXAMPLES // 4, 20), deadline=None)
@given(
    st.sampled_from(sorted(DIGESTS)),
    st.dictionaries(
        st.text(max_size=8).filter(lambda name: name not in {"exp", "iat", "aud"}),
        ODD_VALUES,
        max_size=5,
    ),
)
def test_tokens_erp_issues_are_read_alike_by_both_peers(alg: str, claims: dict[str, Any]) -> None:
    """Whatever claims erp signs, PyJWT and joserfc read back the very claims erp does."""
    verifiers = VERIFIERS[alg]
    claims = {k: v for k, v in claims.items() if k not in {"iss", "sub", "jti", "nbf"}}
    token = verifiers.service.issue(claims, ttl=timedelta(minutes=5))
    ours, reason = verifiers.erp(token)
    assert ours is not None, reason
    assert {k: ours[k] for k in claims} == claims
    assert ours == verifiers.pyjwt(token) == verifiers.joserfc(token)


def test_token_service_runs_on_the_fast_path() -> None:
    """A padded signature, which PyJWT accepts, is refused: verify runs on erp.jwt.compact."""
    verifiers = VERIFIERS["HS256"]
    padded = verifiers.service.issue({"sub": "a"}) + "="
    assert verifiers.pyjwt(padded) is not None
    with pytest.raises(InvalidToken, match="signature does not verify"):
        verifiers.service.verify(padded)
