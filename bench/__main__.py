"""Run every benchmark: ``python -m bench`` (``--quick`` for a short pass).

Each benchmark is a module ``bench/<name>.py`` with a ``main(argv)`` that prints its own
figures and ratios against a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def benchmarks() -> list[str]:
    """Modules in bench/ that define ``main`` and are not helpers."""
    found = []
    for path in sorted(HERE.glob("*.py")):
        if path.stem.startswith("_") or path.stem in {"timing"}:
            continue
        tree = ast.parse(path.read_text())
        has_main = any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body)
        doc = ast.get_docstring(tree) or ""
        if has_main and "not a benchmark" not in doc.lower():
            found.append(path.stem)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs")
    parser.add_argument("names", nargs="*", help="only these benchmarks")
    args = parser.parse_args(argv)
    failed = []
    for name in args.names or benchmarks():
        print(f"\n## bench.{name}\n", flush=True)
        extra = ["--quick"] if args.quick else []
        result = subprocess.run([sys.executable, "-m", f"bench.{name}", *extra], check=False)
        if result.returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
