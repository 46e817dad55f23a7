"""JWT benchmarks: verify_token against bare PyJWT, refusals, warm get_secret, script start-up.

Run: ``python -m bench.jwt_bench`` (``--quick`` for a short run). Every ratio compares two
figures measured in this same run on this machine.
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from functools import partial
from pathlib import Path

import jwt

from bench.timing import interleaved, ops_per_second, print_table, ratio, wall_seconds
from erp.clock import system_clock
from erp.errors import InvalidToken
from erp.jwt.codec import store_ring
from erp.jwt.keyring import KeyRing, RotationPolicy
from erp.jwt.keyring import rotate as rotate_ring
from erp.secrets import SecretResolver, load_jwt_ring
from erp.security import TokenService
from erp.store.vault import VaultFile

ROOT = Path(__file__).resolve().parent.parent


def _ring_of(size: int) -> KeyRing:
    ring = KeyRing()
    policy = RotationPolicy()
    now = system_clock()
    for _ in range(size):
        ring = rotate_ring(ring, now, policy).ring
    return ring


def bench_verify(folder: Path, number: int, repeat: int) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for size in (1, 10, 100):
        vault = VaultFile(folder / f"ring{size}.json")
        doc: dict[str, object] = {}
        store_ring(doc, _ring_of(size))
        vault.write(doc)
        resolver = SecretResolver.from_config(vault.path, environ={})
        service = TokenService(partial(load_jwt_ring, resolver), on_reload=resolver.refresh)
        token = service.issue({"sub": "bench", "scope": "erp:read"}, ttl=timedelta(minutes=30))
        key = service.ring().active.key_bytes
        service.verify(token)
        bare, ours = interleaved(
            [partial(jwt.decode, token, key, algorithms=["HS256"]), partial(service.verify, token)],
            number=number,
            repeat=repeat,
        )
        rows.append((f"jwt.decode, right key given (baseline), ring {size}", str(bare), "1.00", ""))
        rows.append(
            (
                f"erp verify_token, kid lookup in ring of {size}",
                str(ours),
                f"{ratio(ours, bare):.2f}x",
                ">= 0.9x",
            )
        )
    return rows


def _refuse(service: TokenService, token: str) -> None:
    try:
        service.verify(token)
    except InvalidToken:
        return
    raise AssertionError("a hostile token was accepted")


def bench_refusals(folder: Path, number: int, repeat: int) -> list[tuple[str, str, str, str]]:
    """What refusing hostile tokens costs, against verifying a valid small one."""
    vault = VaultFile(folder / "refusals.json")
    doc: dict[str, object] = {}
    store_ring(doc, _ring_of(10))
    vault.write(doc)
    resolver = SecretResolver.from_config(vault.path, environ={})
    service = TokenService(partial(load_jwt_ring, resolver), on_reload=resolver.refresh)
    valid = service.issue({"sub": "bench"}, ttl=timedelta(minutes=30))
    rest = valid.partition(".")[2]
    oversize = valid + "A" * (10 * 1024 * 1024)  # the issue's 10 MB token
    nested = b'{"alg":"HS256","x":' + b"[" * 2000 + b"]" * 2000 + b"}"  # under the size limit
    deep = base64.urlsafe_b64encode(nested).rstrip(b"=").decode() + "." + rest
    forged = valid[:-4] + ("AAAA" if not valid.endswith("AAAA") else "BBBB")
    service.verify(valid)
    good, big, deep_header, bad_sig = interleaved(
        [
            partial(service.verify, valid),
            partial(_refuse, service, oversize),
            partial(_refuse, service, deep),
            partial(_refuse, service, forged),
        ],
        number=number,
        repeat=repeat,
    )
    return [
        ("verify a valid small token (baseline)", str(good), "1.00", ""),
        ("refuse a 10 MB token", str(big), f"{ratio(big, good):.2f}x", "> 1x (cheaper)"),
        ("refuse a deeply nested header", str(deep_header), f"{ratio(deep_header, good):.2f}x", ""),
        ("refuse a forged signature", str(bad_sig), f"{ratio(bad_sig, good):.2f}x", ""),
    ]


def bench_get_secret(folder: Path, number: int, repeat: int) -> list[tuple[str, str, str, str]]:
    vault = VaultFile(folder / "secrets.json")
    doc: dict[str, object] = {}
    store_ring(doc, _ring_of(2))
    vault.write(doc)
    resolver = SecretResolver.from_config(vault.path, environ=os.environ)
    resolver.get("JWT_SECRET_ID")
    plain = {"JWT_SECRET_ID": "x"}
    base = ops_per_second(lambda: plain.get("JWT_SECRET_ID"), number=number * 10, repeat=repeat)
    warm = ops_per_second(lambda: resolver.get("JWT_SECRET_ID"), number=number * 10, repeat=repeat)
    # a changed file is seen within the 1 s stat interval (this part waits, by design)
    with vault.transaction() as current:
        current["BENCH_MARKER"] = "changed"
    start = time.monotonic()
    seen_after = None
    while seen_after is None and time.monotonic() - start < 5:
        if resolver.find("BENCH_MARKER") is not None:
            seen_after = time.monotonic() - start
        else:
            time.sleep(0.005)
    micros = 1e6 / warm.median
    return [
        ("dict.get (floor)", str(base), "1.00", ""),
        (
            "get_secret, warm, vault-file backend",
            str(warm),
            f"{micros:.2f} µs/call",
            "< 2 µs",
        ),
        (
            "changed vault file picked up after",
            "never" if seen_after is None else f"{seen_after:.2f} s",
            "",
            "<= 1 s",
        ),
    ]


def bench_startup(folder: Path, repeat: int) -> list[tuple[str, str, str, str]]:
    env = {
        **os.environ,
        "ERP_VAULT_FILE": str(folder / "startup.json"),
        "ERP_ROTATION_LOG": str(folder / "startup.log"),
    }
    script = str(ROOT / "scripts" / "rotate_jwt_secret.py")
    subprocess.run([script], env=env, check=True, capture_output=True)

    def bare() -> None:  # as an operator types it: through PATH, like the shebang
        subprocess.run(["python3", "-c", "pass"], check=True)

    def direct() -> None:  # the interpreter binary itself, no launcher
        subprocess.run([sys.executable, "-c", "pass"], check=True)

    def rotate() -> None:
        subprocess.run([script], env=env, check=True, capture_output=True)

    base = wall_seconds(bare, repeat=repeat)
    floor = wall_seconds(direct, repeat=repeat)
    ours = wall_seconds(rotate, repeat=repeat)
    return [
        ("python3 -c pass, through PATH like the shebang (baseline)", str(base), "1.00", ""),
        (f"{sys.executable} -c pass", str(floor), f"{floor.median / base.median:.2f}x", ""),
        (
            "./scripts/rotate_jwt_secret.py (one rotation)",
            str(ours),
            f"{ours.median / base.median:.2f}x",
            "<= 3x",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args(argv)
    number, repeat = (2_000, 3) if args.quick else (20_000, 7)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print_table("verify_token vs bare jwt.decode (HS256)", bench_verify(folder, number, repeat))
        print_table("refusing hostile tokens", bench_refusals(folder, number, repeat))
        print_table("get_secret", bench_get_secret(folder, number, repeat))
        print_table("rotation script wall time", bench_startup(folder, repeat * 3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
