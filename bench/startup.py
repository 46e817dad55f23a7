"""Start-up cost of the commands people type, in a virtual environment (as after `make demo`
and `. .venv/bin/activate`): `erp-secrets --help` and `./scripts/rotate_jwt_secret.py`
against `python3 -c pass`, measured in alternating rounds so a busy host slows all alike.

`python -m bench.startup [--quick]`; targets: the rotation script <= 3x `python3 -c pass`,
`erp-secrets --help` under 100 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _rounds(commands: Sequence[list[str]], env: dict[str, str], repeat: int) -> list[list[float]]:
    samples: list[list[float]] = [[] for _ in commands]
    for _ in range(repeat):
        for i, command in enumerate(commands):
            start = time.perf_counter()
            subprocess.run(command, env=env, check=True, capture_output=True)
            samples[i].append((time.perf_counter() - start) * 1000.0)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args(argv)
    repeat = 7 if args.quick else 21
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",  # as if activated
            "ERP_VAULT_FILE": str(Path(tmp) / "jwt_secrets.json"),
            "ERP_ROTATION_LOG": str(Path(tmp) / "rotation.log"),
        }
        commands = [
            ["python3", "-c", "pass"],
            [str(bin_dir / "erp-secrets"), "--help"],
            [str(ROOT / "scripts" / "rotate_jwt_secret.py")],
        ]
        _rounds(commands, env, 1)  # warm the page cache and the .pyc files
        base, helps, rotates = _rounds(commands, env, repeat)
    median = statistics.median

    def ratio(samples: list[float]) -> str:
        return f"{median(s / b for s, b in zip(samples, base, strict=True)):.2f}x"

    rows = [
        ("python3 -c pass (the venv's, through PATH)", base, "1.00x", ""),
        ("erp-secrets --help", helps, ratio(helps), "< 100 ms"),
        ("./scripts/rotate_jwt_secret.py (one rotation)", rotates, ratio(rotates), "<= 3x"),
    ]
    print(f"\n### start-up in a venv ({sys.executable}, {repeat} alternating rounds)\n")
    print("| what | min / median / max ms | ratio to python3 -c pass (median) | target |")
    print("|---|---|---|---|")
    for what, samples, times, target in rows:
        figure = f"{min(samples):.0f} / {median(samples):.0f} / {max(samples):.0f}"
        print(f"| {what} | {figure} | {times} | {target} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
