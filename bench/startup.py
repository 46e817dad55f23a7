"""Start-up cost of the commands people type, in a virtual environment (as after `make demo`
and `. .venv/bin/activate`): `erp-secrets --help` and `./scripts/rotate_jwt_secret.py`
against `python3 -c pass`, measured in alternating rounds so a busy host slows all alike.

`python -m bench.startup [--quick]`; targets: the rotation script <= 3x `python3 -c pass`,
`erp-secrets --help` under 100 ms.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _rounds(
    commands: Sequence[list[str]], env: dict[str, str], repeat: int
) -> tuple[list[list[float]], list[list[float]]]:
    """Wall and CPU (user + system) milliseconds of each command, in alternating rounds."""
    wall: list[list[float]] = [[] for _ in commands]
    cpu: list[list[float]] = [[] for _ in commands]
    for _ in range(repeat):
        for i, command in enumerate(commands):
            used = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(command, env=env, check=True, capture_output=True)
            wall[i].append((time.perf_counter() - start) * 1000.0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            spent = (after.ru_utime - used.ru_utime) + (after.ru_stime - used.ru_stime)
            cpu[i].append(spent * 1000.0)
    return wall, cpu


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
        # Byte-compile the package as a wheel install does (pip compiles at install time):
        # with PYTHONDONTWRITEBYTECODE set, an editable checkout would otherwise compile
        # every module on every start and this would measure the compiler.
        compileall.compile_dir(str(ROOT / "src"), quiet=1)
        _rounds(commands, env, 1)  # warm the page cache
        wall, cpu = _rounds(commands, env, repeat)
    median = statistics.median
    names = [
        "python3 -c pass (the venv's, through PATH)",
        "erp-secrets --help",
        "./scripts/rotate_jwt_secret.py (one rotation)",
    ]
    targets = ["", "< 100 ms", "<= 3x"]
    print(f"\n### start-up in a venv ({sys.executable}, {repeat} alternating rounds)\n")
    print("| what | wall ms min / median / max | wall ratio | CPU ms median | CPU ratio | target |")
    print("|---|---|---|---|---|---|")
    for i, what in enumerate(names):
        w, c = wall[i], cpu[i]
        w_ratio = median(x / b for x, b in zip(w, wall[0], strict=True))
        c_ratio = median(x / b for x, b in zip(c, cpu[0], strict=True) if b > 0)
        figure = f"{min(w):.0f} / {median(w):.0f} / {max(w):.0f}"
        print(
            f"| {what} | {figure} | {w_ratio:.2f}x | {median(c):.0f} | {c_ratio:.2f}x "
            f"| {targets[i]} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
