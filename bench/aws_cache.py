"""AWS backend benchmarks: warm get_secret, AWS calls across a rotation, cold start.

Run: ``python -m bench.aws_cache`` (``--quick`` for a short run). A moto server on
127.0.0.1 stands in for AWS; every ratio compares figures measured in this same run:

* a warm ``get_secret`` through the AWS backend against the vault-file backend (target:
  at most 1.5x its time) and against ``aws-secretsmanager-caching``'s
  ``get_secret_string`` on the same secret (target: faster);
* 10,000 ``verify_token`` calls while the secret rotates, with the AWS API calls counted
  (target: at most 3), next to the same workload on ``aws-secretsmanager-caching``;
* the first read of a cold process: calls and wall time.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.timing import interleaved, print_table, ratio, wall_seconds
from erp.aws.admin import push_ring
from erp.aws.client import AwsSettings, secretsmanager_client
from erp.aws.driver import LocalRotationDriver
from erp.aws.source import AwsSecretSource
from erp.aws.strict import StrictSecretsManager
from erp.clock import system_clock
from erp.keyring import KeyRing, RotationPolicy
from erp.keyring import rotate as rotate_ring
from erp.rotation.jwt import ring_from_document, store_ring
from erp.secrets import EnvSource, SecretResolver, VaultSource, load_jwt_ring
from erp.security import TokenService
from erp.testing.aws import CallCounter
from erp.vault import VaultFile

Row = tuple[str, str, str, str]


def _ring(size: int) -> KeyRing:
    ring = KeyRing()
    for _ in range(size):
        ring = rotate_ring(ring, system_clock(), RotationPolicy()).ring
    return ring


def _start_moto() -> tuple[Any, str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    return server, f"http://{host}:{port}"


def _client(settings: AwsSettings) -> tuple[Any, CallCounter]:
    client = secretsmanager_client(settings)
    return client, CallCounter().attach(client)


def _aws_resolver(folder: Path, source: AwsSecretSource) -> SecretResolver:
    """What get_secret consults in a deployment: environment, the (absent) vault file, AWS."""
    return SecretResolver([EnvSource({}), VaultSource(folder / "absent.json"), source])


def bench_warm(folder: Path, settings: AwsSettings, number: int, repeat: int) -> list[Row]:
    from aws_secretsmanager_caching import SecretCache, SecretCacheConfig

    ring = _ring(2)
    vault = VaultFile(folder / "warm.json")
    doc: dict[str, object] = {}
    store_ring(doc, ring)
    vault.write(doc)
    client, _ = _client(settings)
    push_ring(client, "bench/warm", ring, create=True)

    by_vault = SecretResolver([EnvSource({}), VaultSource(vault.path)])
    by_aws = _aws_resolver(folder, AwsSecretSource("bench/warm", settings=settings, client=client))
    anchor = SecretCache(SecretCacheConfig(), client)
    name = "JWT_SECRET_ID"
    assert by_vault.get(name) == by_aws.get(name) == ring.active.id
    assert anchor.get_secret_string("bench/warm")

    def anchor_get() -> object:
        return anchor.get_secret_string("bench/warm")

    def anchor_field() -> object:  # what get_secret(name) needs from the whole JSON string
        return json.loads(anchor.get_secret_string("bench/warm"))[name]

    vault_fig, aws_fig, anchor_fig, field_fig = interleaved(
        [lambda: by_vault.get(name), lambda: by_aws.get(name), anchor_get, anchor_field],
        number=number,
        repeat=repeat,
    )
    return [
        ("get_secret, warm, vault-file backend (baseline)", str(vault_fig), "1.00x", ""),
        (
            "get_secret, warm, AWS backend (env -> vault -> AWS)",
            str(aws_fig),
            f"{ratio(vault_fig, aws_fig):.2f}x the baseline's time",
            "<= 1.5x",
        ),
        (
            "aws-secretsmanager-caching get_secret_string, warm",
            str(anchor_fig),
            f"erp is {ratio(aws_fig, anchor_fig):.2f}x its speed",
            "> 1x",
        ),
        (
            "aws-secretsmanager-caching + json.loads for one name",
            str(field_fig),
            f"erp is {ratio(aws_fig, field_fig):.2f}x its speed",
            "",
        ),
    ]


def _signed_by(ring: KeyRing) -> str:
    return TokenService(lambda: ring).issue({"sub": "new"})


def _rotation_run(
    verifies: int,
    verifier: TokenService,
    rotate: Callable[[], KeyRing],
    signer_ring: KeyRing,
) -> tuple[float, float]:
    """``verifies`` calls; the secret rotates halfway (another process, not timed).

    Returns (seconds spent in verify calls, the slowest single call in seconds).
    """
    old = TokenService(lambda: signer_ring).issue({"sub": "old"})
    tokens = [old]
    worst = spent = 0.0
    for i in range(verifies):
        if i == verifies // 2:
            tokens = [old, _signed_by(rotate())]
        token = tokens[i % len(tokens)]
        began = time.perf_counter()
        verifier.verify(token)
        took = time.perf_counter() - began
        spent += took
        worst = max(worst, took)
    return spent, worst


def _rotator(settings: AwsSettings, secret: str) -> Callable[[], KeyRing]:
    client = secretsmanager_client(settings)

    def rotate() -> KeyRing:
        assert LocalRotationDriver(client).rotate(secret).ok
        return AwsSecretSource(secret, client=client).signing_ring()

    return rotate


def bench_rotation(folder: Path, settings: AwsSettings, verifies: int) -> list[Row]:
    from aws_secretsmanager_caching import SecretCache, SecretCacheConfig

    rows: list[Row] = []
    admin = secretsmanager_client(settings)

    ring = _ring(1)
    push_ring(admin, "bench/ours", ring, create=True)
    client, counter = _client(settings)
    resolver = _aws_resolver(
        folder, AwsSecretSource("bench/ours", settings=settings, client=client)
    )
    ours = TokenService(lambda: load_jwt_ring(resolver), on_reload=resolver.refresh)
    total, worst = _rotation_run(verifies, ours, _rotator(settings, "bench/ours"), ring)
    rows.append(
        (
            f"erp verify_token x{verifies:,} across a rotation: AWS calls",
            f"{counter.total} ({', '.join(counter.calls)})",
            f"{total * 1e6 / verifies:.1f} µs/verify; worst {worst * 1e3:.1f} ms",
            "<= 3 calls",
        )
    )

    push_ring(admin, "bench/anchor", ring, create=True)
    anchor_client, anchor_counter = _client(settings)
    cache = SecretCache(SecretCacheConfig(), anchor_client)
    memo: dict[str, KeyRing] = {}

    def anchor_ring() -> KeyRing:
        text = cache.get_secret_string("bench/anchor")
        if text not in memo:
            memo.clear()
            memo[text] = ring_from_document(json.loads(text))
        return memo[text]

    anchor = TokenService(anchor_ring, on_reload=lambda: cache.refresh_secret_now("bench/anchor"))
    total, worst = _rotation_run(verifies, anchor, _rotator(settings, "bench/anchor"), ring)
    rows.append(
        (
            "same on aws-secretsmanager-caching (refresh_secret_now on a new kid)",
            f"{anchor_counter.total} ({', '.join(anchor_counter.calls)})",
            f"{total * 1e6 / verifies:.1f} µs/verify; worst {worst * 1e3:.0f} ms",
            "",
        )
    )
    return rows


def bench_cold(folder: Path, settings: AwsSettings, repeat: int) -> list[Row]:
    from aws_secretsmanager_caching import SecretCache, SecretCacheConfig

    admin = secretsmanager_client(settings)
    push_ring(admin, "bench/cold", _ring(1), create=True)
    client, counter = _client(settings)

    def ours() -> None:
        AwsSecretSource("bench/cold", settings=settings, client=client).lookup("JWT_SECRET_ID")

    def anchor() -> None:
        SecretCache(SecretCacheConfig(), client).get_secret_string("bench/cold")

    base = wall_seconds(anchor, repeat=repeat)
    calls_anchor = counter.total / repeat
    counter.calls.clear()
    fig = wall_seconds(ours, repeat=repeat)
    calls_ours = counter.total / repeat
    return [
        (
            "first read, aws-secretsmanager-caching (baseline)",
            str(base),
            f"{calls_anchor:.0f} calls",
            "",
        ),
        (
            "first read, erp AWS backend",
            str(fig),
            f"{calls_ours:.0f} call; {fig.median / base.median:.2f}x the time",
            "<= 1x",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args(argv)
    number, repeat = (20_000, 3) if args.quick else (200_000, 7)
    server, endpoint = _start_moto()
    # rotations start with an empty AWSPENDING version, which only the strict layer can hold
    strict = StrictSecretsManager(endpoint).start()
    settings = AwsSettings(region="us-east-1", endpoint_url=strict.url, max_attempts=1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            print_table("warm get_secret", bench_warm(folder, settings, number, repeat))
            print_table("verify_token across a rotation", bench_rotation(folder, settings, 10_000))
            print_table("cold start", bench_cold(folder, settings, repeat * 3))
    finally:
        strict.stop()
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
