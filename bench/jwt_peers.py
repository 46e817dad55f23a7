"""JWT verify and issue against the peers: PyJWT, joserfc, erp and a standard-library floor.

Run: ``python -m bench.jwt_peers`` (``--quick`` for a CI-size pass, ``--check`` to exit 1
when a target is missed). For HS256/384/512 and rings of 1, 10 and 100 keys it measures,
in alternating rounds so that a busy machine slows every candidate alike:

* verify: PyJWT ``jwt.decode`` (the right key given, ``exp`` checked with 30 s leeway);
  joserfc ``jwt.decode`` + ``JWTClaimsRegistry.validate`` (same leeway, ``exp`` required);
  ``TokenService.verify`` (kid looked up in the ring, every erp check); the floor: split,
  HMAC, compare, base64url + ``json.loads`` of the payload, ``exp`` compared, nothing else;
* issue: ``jwt.encode`` and joserfc's ``jwt.encode`` of the claims with ``iat``/``exp``
  already set, ``TokenService.issue`` (which also reads the clock and checks the TTL), and
  the floor (``json.dumps``, base64url, HMAC).

Ratios are medians over rounds of per-round ratios, all from this one run.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import json
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import jwt
from joserfc import jwt as jose_jwt
from joserfc.jwk import OctKey
from joserfc.jws import JWSRegistry

from bench.timing import Figure, interleaved, ratio
from erp.clock import system_clock
from erp.errors import InvalidToken
from erp.keyring import KeyRing, RotationPolicy
from erp.keyring import rotate as rotate_ring
from erp.security import TokenService

ALGORITHMS = ("HS256", "HS384", "HS512")
RING_SIZES = (1, 10, 100)
LEEWAY_SECONDS = 30
CLAIMS = {"sub": "user-42", "scope": "erp:read erp:write", "tenant": "acme"}
TARGETS = {"verify": {"PyJWT": 2.0, "joserfc": 1.0}, "issue": {"joserfc": 1.0}}
_DIGEST = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}


def _ring_of(size: int) -> KeyRing:
    ring = KeyRing()
    policy = RotationPolicy()
    now = system_clock()
    for _ in range(size):
        ring = rotate_ring(ring, now, policy).ring
    return ring


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def floor_verify(token: str, key: bytes, digest: str) -> dict[str, Any]:
    """The least a verifier can do with the standard library (no strictness at all)."""
    header, payload, signature = token.split(".")
    mac = hmac.digest(key, f"{header}.{payload}".encode(), digest)
    if not hmac.compare_digest(_b64(mac), signature.encode()):
        raise ValueError("signature")
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    if claims["exp"] <= time.time() - LEEWAY_SECONDS:
        raise ValueError("expired")
    return claims


def floor_issue(claims: dict[str, Any], key: bytes, digest: str, header: bytes) -> str:
    """The least an issuer can do: a cached header, JSON, base64url and one HMAC."""
    signing_input = header + b"." + _b64(json.dumps(claims, separators=(",", ":")).encode())
    return (signing_input + b"." + _b64(hmac.digest(key, signing_input, digest))).decode()


def _peers(
    alg: str, size: int
) -> tuple[dict[str, Callable[[], object]], dict[str, Callable[[], object]]]:
    ring = _ring_of(size)
    policy = RotationPolicy(max_token_ttl=timedelta(hours=1), leeway=timedelta(seconds=30))
    service = TokenService(lambda: ring, algorithm=alg, policy=policy)
    key = (
        ring.active.key_bytes if hasattr(ring.active, "key_bytes") else ring.active.secret.encode()
    )
    kid = ring.active.id
    token = service.issue(CLAIMS, ttl=timedelta(minutes=30))
    oct_key = OctKey.import_key(key)
    claims_registry = jose_jwt.JWTClaimsRegistry(leeway=LEEWAY_SECONDS, exp={"essential": True})
    # one registry built up front: joserfc's fastest use (it otherwise builds one per call)
    jws_registry = JWSRegistry(algorithms=[alg])
    now = int(time.time())
    full_claims = {**CLAIMS, "iat": now, "exp": now + 1800}
    digest = _DIGEST[alg]
    header_segment = _b64(
        json.dumps({"alg": alg, "kid": kid, "typ": "JWT"}, separators=(",", ":")).encode()
    )

    def jose_verify() -> object:
        decoded = jose_jwt.decode(token, oct_key, registry=jws_registry)
        claims_registry.validate(decoded.claims)
        return decoded

    verify: dict[str, Callable[[], object]] = {
        "PyJWT": partial(jwt.decode, token, key, algorithms=[alg], leeway=LEEWAY_SECONDS),
        "joserfc": jose_verify,
        "erp": partial(service.verify, token),
        "floor": partial(floor_verify, token, key, digest),
    }
    issue: dict[str, Callable[[], object]] = {
        "PyJWT": partial(jwt.encode, full_claims, key, algorithm=alg, headers={"kid": kid}),
        "joserfc": partial(
            jose_jwt.encode, {"alg": alg, "kid": kid}, full_claims, oct_key, registry=jws_registry
        ),
        "erp": partial(service.issue, CLAIMS, ttl=timedelta(minutes=30)),
        "floor": partial(floor_issue, full_claims, key, digest, header_segment),
    }
    for candidates in (verify, issue):
        for func in candidates.values():
            func()  # warm caches and prove each candidate works before timing it
    return verify, issue


def measure(number: int, repeat: int) -> list[tuple[str, str, int, dict[str, Figure]]]:
    """Every (operation, alg, ring size) with its candidates' figures."""
    results = []
    for alg in ALGORITHMS:
        for size in RING_SIZES:
            verify, issue = _peers(alg, size)
            for op, candidates in (("verify", verify), ("issue", issue)):
                figures = interleaved(list(candidates.values()), number=number, repeat=repeat)
                results.append((op, alg, size, dict(zip(candidates, figures, strict=True))))
    return results


def report(results: list[tuple[str, str, int, dict[str, Figure]]]) -> list[str]:
    """Print the Markdown table; return the targets that were missed."""
    print("\n### JWT verify and issue: erp against its peers (ratios from this run)\n")
    print(
        "| op | alg | ring | PyJWT k/s | joserfc k/s | erp k/s | floor k/s "
        "| erp ÷ PyJWT | erp ÷ joserfc | erp ÷ floor |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    missed = []
    for op, alg, size, fig in results:
        erp = fig["erp"]
        ratios = {name: ratio(erp, fig[name]) for name in ("PyJWT", "joserfc", "floor")}
        cells = [f"{fig[name].median / 1000:.1f}" for name in ("PyJWT", "joserfc", "erp", "floor")]
        shown = []
        for name in ("PyJWT", "joserfc", "floor"):
            target = TARGETS[op].get(name)
            mark = ""
            if target is not None and ratios[name] < target:
                mark = f" (< {target:.1f}x)"
                missed.append(f"{op} {alg} ring {size}: erp ÷ {name} {ratios[name]:.2f}x")
            shown.append(f"{ratios[name]:.2f}x{mark}")
        print(f"| {op} | {alg} | {size} | " + " | ".join(cells + shown) + " |")
    print(
        "\nTargets: verify >= 2.0x PyJWT and >= 1.0x joserfc; issue >= 1.0x joserfc. "
        "k/s are medians; ratios are medians of per-round ratios."
    )
    return missed


def refusals(number: int, repeat: int) -> None:
    """What refusing costs erp, against verifying a valid token (> 1.0x: refusing is cheaper)."""
    ring = _ring_of(10)
    policy = RotationPolicy(max_token_ttl=timedelta(hours=1), leeway=timedelta(seconds=30))
    service = TokenService(lambda: ring, policy=policy)
    token = service.issue(CLAIMS, ttl=timedelta(minutes=30))
    head, payload, _sig = token.split(".")
    cases = {
        "oversize (1 MiB)": token + "A" * (1 << 20),
        "wrong MAC": f"{head}.{payload}.{'A' * 43}",
        "alg none": "eyJhbGciOiJub25lIn0." + payload + ".",
    }

    def refuse(bad: str) -> None:
        try:
            service.verify(bad)
        except InvalidToken:
            return
        raise AssertionError("a bad token was accepted")

    funcs: list[Callable[[], object]] = [partial(service.verify, token)]
    funcs += [partial(refuse, bad) for bad in cases.values()]
    figures = interleaved(funcs, number=number, repeat=repeat)
    print("\n### erp: refusing a bad token against verifying a good one (ring of 10)\n")
    print("| token | erp k/s | ÷ valid token |")
    print("|---|---|---|")
    print(f"| valid (baseline) | {figures[0].median / 1000:.1f} | 1.00x |")
    for name, figure in zip(cases, figures[1:], strict=True):
        print(f"| {name} | {figure.median / 1000:.1f} | {ratio(figure, figures[0]):.2f}x |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a CI-size pass (seconds)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--number", type=int, help="calls per round (overrides the mode)")
    parser.add_argument("--repeat", type=int, help="rounds (overrides the mode)")
    args = parser.parse_args(argv)
    number, repeat = (300, 3) if args.quick else (3_000, 7)
    missed = report(measure(args.number or number, args.repeat or repeat))
    refusals(args.number or number, args.repeat or repeat)
    for line in missed:
        print(f"missed: {line}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
