"""Key-pair benchmarks: verify_token with Ed25519 and P-256 keys against bare PyJWT.

Run: ``python -m bench.jwks_bench`` (``--quick`` for a short run). Every ratio compares two
figures measured in alternating rounds of this same run on this machine:

* ``verify_token`` (a ring of 1, 10 and 100 key pairs, read from a vault file) against
  ``jwt.decode`` given the right public key object;
* the same through a warm :class:`~erp.jwt.remote.RemoteKeySet` fed by our own JWKS app on
  127.0.0.1;
* ``issue_token`` against ``jwt.encode`` with the same private key.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import jwt

from bench.timing import interleaved, print_table, ratio
from erp.jwt.codec import store_ring
from erp.jwt.jwks import JwksPublisher, wsgi_app
from erp.jwt.keyring import KeyRing, RotationPolicy, rotate
from erp.jwt.remote import RemoteKeySet
from erp.secrets import SecretResolver, load_jwt_ring
from erp.security import TokenService, verify_token
from erp.store.vault import VaultFile

Row = tuple[str, str, str, str]
CLAIMS = {"sub": "bench", "scope": "erp:read"}


def _ring_of(size: int, alg: str) -> KeyRing:
    ring = KeyRing()
    policy = RotationPolicy(key_alg=alg)
    now = datetime.now(UTC)
    for _ in range(size):
        ring = rotate(ring, now, policy).ring
    return ring


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def bench_verify(folder: Path, alg: str, number: int, repeat: int) -> list[Row]:
    rows: list[Row] = []
    for size in (1, 10, 100):
        vault = VaultFile(folder / f"{alg}-{size}.json")
        doc: dict[str, object] = {}
        ring = _ring_of(size, alg)
        store_ring(doc, ring)
        vault.write(doc)
        resolver = SecretResolver.from_config(vault.path, environ={})
        service = TokenService(partial(load_jwt_ring, resolver), on_reload=resolver.refresh)
        token = service.issue(CLAIMS, ttl=timedelta(minutes=30))
        private = service.ring().active.private_key
        assert private is not None
        public = private.public.key
        service.verify(token)
        bare, ours = interleaved(
            [partial(jwt.decode, token, public, algorithms=[alg]), partial(service.verify, token)],
            number=number,
            repeat=repeat,
        )
        rows.append(
            (f"jwt.decode {alg}, right key given (baseline), ring {size}", str(bare), "1.00", "")
        )
        rows.append(
            (
                f"erp verify_token {alg}, ring of {size}",
                str(ours),
                f"{ratio(ours, bare):.2f}x",
                ">= 0.9x",
            )
        )
    return rows


def bench_remote(folder: Path, alg: str, number: int, repeat: int) -> list[Row]:
    ring = _ring_of(10, alg)
    server = make_server(
        "127.0.0.1",
        0,
        wsgi_app(JwksPublisher(lambda: ring, max_age=timedelta(minutes=5))),
        handler_class=_Quiet,
    )
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        keys = RemoteKeySet(f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json")
        service = TokenService(lambda: ring)
        token = service.issue(CLAIMS, ttl=timedelta(minutes=30))
        private = ring.active.private_key
        assert private is not None
        public = private.public.key
        verify_token(token, keys=keys)  # warm: fetched once
        bare, ours = interleaved(
            [
                partial(jwt.decode, token, public, algorithms=[alg]),
                partial(verify_token, token, keys=keys),
            ],
            number=number,
            repeat=repeat,
        )
    finally:
        server.shutdown()
        server.server_close()
    return [
        (f"jwt.decode {alg} (baseline)", str(bare), "1.00", ""),
        (
            f"verify_token(keys=RemoteKeySet) {alg}, warm",
            str(ours),
            f"{ratio(ours, bare):.2f}x",
            ">= 0.9x",
        ),
    ]


def bench_sign(alg: str, number: int, repeat: int) -> list[Row]:
    ring = _ring_of(10, alg)
    service = TokenService(lambda: ring)
    private = ring.active.private_key
    assert private is not None
    exp = int(datetime.now(UTC).timestamp()) + 1800
    headers = {"kid": ring.active.id}
    bare, ours = interleaved(
        [
            partial(jwt.encode, {**CLAIMS, "exp": exp}, private.key, alg, headers),
            partial(service.issue, CLAIMS, ttl=timedelta(minutes=30)),
        ],
        number=number,
        repeat=repeat,
    )
    return [
        (f"jwt.encode {alg} (baseline)", str(bare), "1.00", ""),
        (f"erp issue_token {alg}", str(ours), f"{ratio(ours, bare):.2f}x", "printed"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args(argv)
    number, repeat = (300, 3) if args.quick else (2_000, 7)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for alg in ("EdDSA", "ES256"):
            print_table(
                f"verify_token vs bare jwt.decode ({alg})",
                bench_verify(folder, alg, number, repeat),
            )
            print_table(f"warm RemoteKeySet ({alg})", bench_remote(folder, alg, number, repeat))
            print_table(f"signing throughput ({alg})", bench_sign(alg, number, repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
