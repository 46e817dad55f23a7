"""Rotations under stress: many processes at once, and processes killed at random instants.

The kill test runs this file as a script (``python tests/test_reliability.py drive ...``): a
single-threaded driver that has imported ``erp`` once forks a child which rotates in a loop,
SIGKILLs it after a seeded-random number of busy iterations (no sleeping), checks the files
and reports one JSON line per round. The test asserts on those lines.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from erp.jwt.keyring import KeyState, RotationPolicy, fingerprint
from erp.jwt.rotation import load_ring, rotate_key
from erp.store.audit import AuditLog
from erp.store.vault import META_KEY, VaultFile

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "rotate_jwt_secret.py"
KILL_ROUNDS = 200
KILL_SEED = 20261125


def _fingerprints(vault_path: Path) -> dict[str, str]:
    doc = json.loads(vault_path.read_bytes())
    return {k: fingerprint(v) for k, v in doc.get("JWT_SECRETS", {}).items()}


def _check_round(vault_path: Path, log_path: Path, before: dict[str, str]) -> dict[str, Any]:
    """The invariants after a kill, as a JSON-able record."""
    record: dict[str, Any] = {}
    try:
        doc = json.loads(vault_path.read_bytes())
    except (OSError, ValueError) as exc:
        return {"parses": False, "error": type(exc).__name__}
    record["parses"] = True
    now = {k: fingerprint(v) for k, v in doc.get("JWT_SECRETS", {}).items()}
    record["lost"] = sorted(k for k, fp in before.items() if now.get(k) != fp)
    record["keys"] = len(now)
    head = (doc.get(META_KEY) or {}).get("audit") or {}
    record["head_seq"] = head.get("seq")
    report = AuditLog(log_path).verify(head or None)
    record["problems"] = report.problems
    record["incomplete"] = report.incomplete
    record["stale_temp_files"] = len(list(vault_path.parent.glob(".*.tmp")))
    return record


def _spin(iterations: int) -> None:
    for _ in range(iterations):
        pass


def drive(vault_path: Path, log_path: Path, rounds: int, seed: int) -> None:
    """Fork a rotating child per round, SIGKILL it at a random instant, print the checks."""
    rng = random.Random(seed)
    policy = RotationPolicy()
    started = time.perf_counter()
    rotate_key(vault=VaultFile(vault_path), log=AuditLog(log_path), policy=policy)
    rotation_seconds = time.perf_counter() - started
    started = time.perf_counter()
    _spin(1_000_000)
    spins_per_second = 1_000_000 / (time.perf_counter() - started)
    # kill anywhere from before the first rotation starts to a few rotations in
    max_spins = max(1000, int(3 * rotation_seconds * spins_per_second))
    for index in range(rounds):
        before = _fingerprints(vault_path)
        pid = os.fork()
        if pid == 0:  # the child: rotate until killed
            try:
                while True:
                    rotate_key(vault=VaultFile(vault_path), log=AuditLog(log_path), policy=policy)
            finally:
                os._exit(3)
        _spin(rng.randrange(max_spins))
        os.kill(pid, signal.SIGKILL)
        _pid, status = os.waitpid(pid, 0)
        record = _check_round(vault_path, log_path, before)
        record["round"] = index
        record["killed"] = os.WIFSIGNALED(status)
        print(json.dumps(record), flush=True)
    # the next rotation completes whatever the last kill interrupted
    rotate_key(vault=VaultFile(vault_path), log=AuditLog(log_path), policy=policy)
    final = _check_round(vault_path, log_path, {})
    final["round"] = "final"
    print(json.dumps(final), flush=True)


def test_kill_at_random_instants_never_breaks_the_vault_or_loses_a_key(tmp_path: Path) -> None:
    """200 SIGKILLs mid-rotation: vault parses, no key lost, log ok or one incomplete entry."""
    vault_path, log_path = tmp_path / "jwt_secrets.json", tmp_path / "logs" / "jwt_rotation.log"
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "drive",
            str(vault_path),
            str(log_path),
            str(KILL_ROUNDS),
            str(KILL_SEED),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in done.stdout.splitlines()]
    rounds, final = records[:-1], records[-1]
    assert len(rounds) == KILL_ROUNDS
    assert all(r["killed"] for r in rounds)
    for r in rounds:
        assert r["parses"], r
        assert r["lost"] == [], r
        assert r["keys"] == r["head_seq"], r  # one key per committed entry: nothing half-done
        if r["problems"]:
            assert r["incomplete"] == r["head_seq"], r
            assert len(r["problems"]) == 1, r
        assert r["stale_temp_files"] <= 1, r  # a killed writer's temp file goes at the next write
    assert any(r["incomplete"] for r in rounds), "no kill landed between vault and log writes"
    assert any(not r["problems"] for r in rounds)
    assert rounds[-1]["keys"] > rounds[0]["keys"]
    assert final["problems"] == []
    assert final["stale_temp_files"] == 0
    assert final["keys"] == final["head_seq"] == len(AuditLog(log_path).entries())


def test_rotate_from_32_processes_at_once_lands_all_32_keys(tmp_path: Path) -> None:
    """32 concurrent runs of the rotation script: 32 new keys, a valid file, an intact chain."""
    vault, log = VaultFile(tmp_path / "jwt_secrets.json"), AuditLog(tmp_path / "rotation.log")
    flags = ["--vault", str(vault.path), "--log", str(log.path)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(32)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 32, [err for _out, err in outputs if err]
    ring = load_ring(vault)
    assert len(ring) == 32
    assert [k.state for k in ring.keys].count(KeyState.ACTIVE) == 1
    reported = {out.split()[3] for out, _err in outputs}  # "JWT_SECRET_ID is now <id> ..."
    assert reported == {k.id for k in ring.keys}
    report = log.verify(vault.read()[META_KEY]["audit"])
    assert report.ok, report.problems
    assert report.entries == 32
    assert [e["new"]["id"] for e in log.entries()] == [k.id for k in ring.keys]


def test_concurrent_rotations_from_threads_all_land(vault: VaultFile, log: AuditLog) -> None:
    """Rotations from 8 threads of one process, each with its own handles, all land in order."""
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker() -> None:
        start.wait()
        try:
            for _ in range(3):
                rotate_key(vault=VaultFile(vault.path), log=AuditLog(log.path))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(load_ring(vault)) == 24
    assert log.verify(vault.read()[META_KEY]["audit"]).ok


if __name__ == "__main__" and sys.argv[1:2] == ["drive"]:
    drive(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
