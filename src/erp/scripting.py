"""Entry points for the runbook's scripts, kept free of the CLI's imports for a fast start."""

from __future__ import annotations

import os
import sys

from erp.errors import ErpError
from erp.jwt.keyring import KeyRef, RotationPolicy
from erp.jwt.rotation import rotate_key
from erp.store.audit import AuditLog
from erp.store.journal import Recorded
from erp.store.vault import VaultFile

__all__ = ["describe", "rotate_jwt_main"]


def describe(
    result: Recorded, vault: os.PathLike[str] | str, log: os.PathLike[str] | str
) -> list[str]:
    """What a rotation, staging or promotion did, in lines for an operator (no secrets)."""
    event = result.event or {}
    new: KeyRef | None = event.get("new")
    previous: KeyRef | None = event.get("previous")
    staged: KeyRef | None = event.get("staged")
    lines = []
    if new:
        lines.append(f"JWT_SECRET_ID is now {new['id']} ({new['fingerprint']})")
    if previous:
        lines.append(f"previous key {previous['id']} ({previous['fingerprint']}) now only verifies")
    if staged:
        lines.append(f"staged next key {staged['id']} ({staged['fingerprint']}) for verification")
    where = f"vault: {os.fspath(vault)}  log: {os.fspath(log)}"
    lines.append(f"{where} (entry {(result.entry or {}).get('seq')})")
    if new:
        lines.append("next: redeploy services so every instance loads the new JWT_SECRET_ID")
    return lines


def rotate_jwt_main(
    *, vault: str | None = None, log: str | None = None, policy: str | None = None
) -> int:
    """Rotate once and print what happened; return the process exit code."""
    try:
        store = VaultFile(vault) if vault else VaultFile()
        journal = AuditLog(log) if log else AuditLog()
        result = rotate_key(
            vault=store, log=journal, policy=RotationPolicy.from_env().with_mode(policy)
        )
    except ErpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except RecursionError:  # belt and braces: every parser here is depth-bounded
        print("error: an input is nested too deeply to read; nothing was changed", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C, waiting for the lock or anywhere: no traceback
        print(
            "interrupted: nothing is half-written (the vault and the log are replaced whole); "
            "run the script again to rotate",
            file=sys.stderr,
        )
        return 130
    print("\n".join(describe(result, store, journal)))
    return 0
