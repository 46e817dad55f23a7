"""FastAPI: an endpoint behind ``BearerAuth`` against the same endpoint verifying with bare PyJWT.

Run: ``python -m bench.integrations_bench`` (``--quick`` for a short run). Requests are
whole ASGI calls into the app in this process (routing, the dependency, the handler, JSON
response), alternating between the two apps in short rounds, so machine noise hits both
alike; the ratio is the median over rounds of ``BearerAuth`` requests/s over bare PyJWT
requests/s, and beside it the ratio of the best rounds (the least disturbed, as ``timeit``
advises). Both wall-clock and CPU-time rates are shown: on a shared host the CPU-time rates
exclude the time other processes held the cores.
"""

# No ``from __future__ import annotations``: FastAPI resolves route annotations at run time,
# and the dependencies here are local names.
import argparse
import asyncio
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, HTTPException, Request

import erp.secrets
from bench.timing import Figure, print_table, ratio
from erp.audit import AuditLog
from erp.integrations.fastapi import BearerAuth
from erp.rotation.jwt import rotate_key
from erp.security import default_token_service, issue_token
from erp.vault import VaultFile

AUDIENCE = "erp-api"
TARGET = 0.95


def erp_app() -> FastAPI:
    """The endpoint protected by the adapter (default verifier: erp.security.verify_token)."""
    app = FastAPI()
    auth = BearerAuth(audience=AUDIENCE)

    @app.get("/me")
    async def me(claims: Annotated[dict[str, Any], Depends(auth)]) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    return app


def bare_app(key: bytes) -> FastAPI:
    """The same endpoint with a hand-written dependency calling ``jwt.decode``."""
    app = FastAPI()

    async def claims_of(request: Request) -> dict[str, Any]:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(401, "bearer token required", {"WWW-Authenticate": "Bearer"})
        try:
            claims: dict[str, Any] = jwt.decode(token, key, algorithms=["HS256"], audience=AUDIENCE)
        except jwt.InvalidTokenError:
            raise HTTPException(401, "invalid token", {"WWW-Authenticate": "Bearer"}) from None
        return claims

    @app.get("/me")
    async def me(claims: Annotated[dict[str, Any], Depends(claims_of)]) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    return app


async def _requests(app: FastAPI, tokens: list[bytes], number: int) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for i in range(number):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/me",
            "raw_path": b"/me",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"bench"), (b"authorization", tokens[i % len(tokens)])],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        await app(scope, receive, send)  # type: ignore[arg-type]
    if statuses != [200] * number:
        raise RuntimeError(f"unexpected statuses: {sorted(set(statuses))}")


def measure(number: int, repeat: int) -> dict[str, tuple[Figure, Figure]]:
    """(BearerAuth, bare PyJWT) requests per wall second and per CPU second, alternating."""
    folder = Path(tempfile.mkdtemp(prefix="erp-bench-"))
    os.environ["ERP_VAULT_FILE"] = str(folder / "jwt_secrets.json")
    erp.secrets.reset()
    rotate_key(vault=VaultFile(folder / "jwt_secrets.json"), log=AuditLog(folder / "log"))
    tokens = [
        b"Bearer "
        + issue_token({"sub": f"user-{i}", "aud": AUDIENCE}, ttl=timedelta(minutes=30)).encode()
        for i in range(256)
    ]
    key = default_token_service().ring().active.secret.encode()
    apps = [erp_app(), bare_app(key)]
    wall: list[list[float]] = [[], []]
    cpu: list[list[float]] = [[], []]
    loop = asyncio.new_event_loop()
    try:
        for app in apps:  # warm-up: imports, routing caches, the ring
            loop.run_until_complete(_requests(app, tokens, 200))
        for _ in range(repeat):
            for i, app in enumerate(apps):
                start, start_cpu = time.perf_counter(), time.process_time()
                loop.run_until_complete(_requests(app, tokens, number))
                wall[i].append(number / (time.perf_counter() - start))
                cpu[i].append(number / (time.process_time() - start_cpu))
    finally:
        loop.close()
    return {
        "wall": (Figure("BearerAuth", wall[0], "req/s"), Figure("PyJWT", wall[1], "req/s")),
        "cpu": (Figure("BearerAuth", cpu[0], "req/CPU-s"), Figure("PyJWT", cpu[1], "req/CPU-s")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run")
    args = parser.parse_args(argv)
    number, repeat = (200, 7) if args.quick else (300, 31)
    figures = measure(number, repeat)
    rows = []
    for clock, (ours, bare) in figures.items():
        best = max(ours.samples) / max(bare.samples)
        rows.append((f"bare PyJWT dependency (baseline), {clock} time", str(bare), "1.00", ""))
        rows.append(
            (
                f"erp BearerAuth dependency, {clock} time",
                str(ours),
                f"{ratio(ours, bare):.2f} (best rounds {best:.2f})",
                f">= {TARGET}",
            )
        )
    print_table("FastAPI endpoint, in-process ASGI requests (same run)", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
