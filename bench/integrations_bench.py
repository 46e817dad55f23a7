"""FastAPI: an endpoint behind ``BearerAuth`` against the same endpoint verifying with bare PyJWT.

Run: ``python -m bench.integrations_bench`` (``--quick`` for a short run). Requests are
whole ASGI calls into the app in this process (routing, the dependency, the handler, JSON
response), alternating between the two apps round by round, so machine noise hits both
alike; the ratio is ``BearerAuth`` requests/s over bare PyJWT requests/s in the same round.
"""

# No ``from __future__ import annotations``: FastAPI resolves route annotations at run time,
# and the dependencies here are local names.
import argparse
import asyncio
import os
import tempfile
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


def measure(number: int, repeat: int) -> tuple[Figure, Figure]:
    """Requests/s of (BearerAuth, bare PyJWT), alternating rounds."""
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
    loop = asyncio.new_event_loop()
    try:
        for app in apps:  # warm-up: imports, routing caches, the ring
            loop.run_until_complete(_requests(app, tokens, 200))
        samples: list[list[float]] = [[], []]
        for _ in range(repeat):
            for i, app in enumerate(apps):
                start = loop.time()
                loop.run_until_complete(_requests(app, tokens, number))
                samples[i].append(number / (loop.time() - start))
    finally:
        loop.close()
    return Figure("BearerAuth", samples[0], "req/s"), Figure("PyJWT", samples[1], "req/s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run")
    args = parser.parse_args(argv)
    number, repeat = (500, 5) if args.quick else (3000, 9)
    ours, bare = measure(number, repeat)
    r = ratio(ours, bare)
    print_table(
        "FastAPI endpoint, in-process ASGI requests (same run)",
        [
            ("bare PyJWT dependency (baseline)", str(bare), "1.00", ""),
            ("erp BearerAuth dependency", str(ours), f"{r:.2f}", f">= {TARGET}"),
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
