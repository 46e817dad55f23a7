#!/usr/bin/env python3
"""Rotate the JWT signing key: append a new random key to jwt_secrets.json, flip
JWT_SECRET_ID and record the rotation in logs/jwt_rotation.log.

Usage: ./scripts/rotate_jwt_secret.py [--vault PATH] [--log PATH] [--policy immediate|staged]

Defaults: $ERP_VAULT_FILE or ./jwt_secrets.json, $ERP_ROTATION_LOG or ./logs/jwt_rotation.log,
$ERP_JWT_POLICY or immediate. Same as 'erp-secrets jwt rotate', without the CLI's start-up.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if not argv:  # the runbook's call: no options, so no argparse to import (start-up time)
        return _rotate(vault=None, log=None, policy=None)
    import argparse

    parser = argparse.ArgumentParser(
        prog="rotate_jwt_secret.py",
        description="Append a new JWT signing key, flip JWT_SECRET_ID, log the rotation.",
    )
    parser.add_argument("--vault", help="vault file (default: $ERP_VAULT_FILE or jwt_secrets.json)")
    parser.add_argument(
        "--log", help="rotation log (default: $ERP_ROTATION_LOG or logs/jwt_rotation.log)"
    )
    parser.add_argument(
        "--policy", choices=["immediate", "staged"], help="override $ERP_JWT_POLICY"
    )
    args = parser.parse_args(argv)
    return _rotate(vault=args.vault, log=args.log, policy=args.policy)


def _rotate(*, vault: str | None, log: str | None, policy: str | None) -> int:
    try:
        from erp.scripting import rotate_jwt_main
    except ImportError:
        _run_in_project_venv()  # returns only when there is no other environment to try
        print(
            "error: the erp package is not installed for this python "
            f"({sys.executable}); run 'make install' (or 'pip install -e .') first",
            file=sys.stderr,
        )
        return 2
    return rotate_jwt_main(vault=vault, log=log, policy=policy)


def _run_in_project_venv() -> None:
    """Start again under the checkout's .venv (made by `make demo`/`make test`), if not in it."""
    import os
    from pathlib import Path

    bin_dir = Path(__file__).resolve().parent.parent / ".venv" / "bin"
    python = bin_dir / "python"
    try:  # a venv this user may not enter (its python links into another's home) is none
        if os.environ.get("ERP_SCRIPT_REEXEC") or not python.exists():
            return
        if os.path.samefile(Path(sys.executable).parent, bin_dir):
            return  # already there: erp is simply not installed in it
        os.environ["ERP_SCRIPT_REEXEC"] = "1"  # never loop
        os.execv(python, [str(python), __file__, *sys.argv[1:]])  # noqa: S606 (no shell)
    except OSError:
        return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
