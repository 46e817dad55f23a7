#!/usr/bin/env python3
"""The main job on embedded defaults: a JWT key ring in a vault file, a token, a rotation by
the runbook's script, the old token still verifying, the rotation log checked, then a Fernet
key rotation over a SQLite table. Run by `make demo`.

Everything happens in the scratch folder .demo/ (git-ignored), emptied at the start of each
run, so the checkout is left as it was and every run tells the same story. Times are local.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# ERP_DEMO_DIR moves the scratch folder (the tests use a temporary one).
SCRATCH = Path(os.environ.get("ERP_DEMO_DIR") or ROOT / ".demo").absolute()
# Secrets set in the environment take precedence over the vault file; the demo shows the file.
_OVERRIDES = ("JWT_SECRETS", "JWT_SECRET_ID", "FERNET_KEY", "FERNET_FALLBACK_KEYS")


def shown(path: Path) -> str:
    """``path`` relative to the checkout when inside it, else as it is."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def local(moment: datetime | str | None) -> str:
    """A UTC time (datetime or the log's ISO text) as local wall-clock time with its zone."""
    if moment is None:
        return "never"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def step(number: int, title: str) -> None:
    print(f"\n{number}. {title}")


def say(text: str) -> None:
    print(f"   {text}")


def _id(part: Any) -> str:
    if not isinstance(part, dict):
        return "none"
    return str(part.get("id") or part.get("fingerprint") or "none")


# The rotation log's events in words (anything else is shown by its event name).
_EVENTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "jwt.rotate": lambda e: (
        f"JWT key {_id(e.get('new'))} became the signing key"
        + (f"; {_id(e['previous'])} now only verifies" if e.get("previous") else " (first key)")
    ),
    "fernet.rotate": lambda e: (
        f"Fernet key {_id(e.get('new'))} became the primary"
        + (f"; {_id(e['previous'])} kept for reading" if e.get("previous") else " (first key)")
    ),
    "fernet.reencrypt.start": lambda e: f"re-encryption of {', '.join(e.get('columns', []))} began",
    "fernet.reencrypt": lambda e: (
        f"re-encryption ended ({e.get('outcome')}): {e.get('rows_this_run')} rows this run"
    ),
    "fernet.verify": lambda e: (
        "verify: every value opens with the primary key alone"
        if e.get("ok")
        else f"verify: {e.get('failing_total')} values still need an old key"
    ),
    "fernet.retire": lambda e: f"old Fernet key(s) {', '.join(e.get('retired', []))} removed",
}


def describe(entry: dict[str, Any]) -> str:
    """One rotation-log entry as a sentence, with its local time."""
    words = _EVENTS.get(str(entry.get("event")))
    text = words(entry) if words else str(entry.get("event"))
    return f"entry {entry.get('seq')} at {local(entry.get('time'))} by {entry.get('actor')}: {text}"


def _fernet_demo() -> Callable[..., Iterable[str]]:
    # The SQLite walk-through has moved between releases; take it from where it is.
    for module in ("fernet_demo", "erp.fernet.reencrypt", "erp.reencrypt"):
        try:
            found: Callable[..., Iterable[str]] = importlib.import_module(module).demo
        except (ImportError, AttributeError):
            continue
        return found
    raise SystemExit("the Fernet demo is missing from this checkout")


def main() -> int:
    marker = SCRATCH / ".erp-demo"
    if SCRATCH.exists() and any(SCRATCH.iterdir()):
        # never empty a folder the demo did not make (ERP_DEMO_DIR may point anywhere)
        if SCRATCH != ROOT / ".demo" and not marker.exists():
            sys.stderr.write(f"error: {SCRATCH} is not empty and not a demo folder\n")
            return 2
        shutil.rmtree(SCRATCH)
    SCRATCH.mkdir(parents=True, exist_ok=True)
    marker.touch()
    vault_path, log_path = SCRATCH / "jwt_secrets.json", SCRATCH / "logs" / "jwt_rotation.log"
    os.environ["ERP_VAULT_FILE"], os.environ["ERP_ROTATION_LOG"] = str(vault_path), str(log_path)
    ignored = [name for name in _OVERRIDES if os.environ.pop(name, None) is not None]

    from erp.audit import AuditLog
    from erp.keyring import RotationPolicy
    from erp.rotation.jwt import load_ring, rotate_key
    from erp.secrets import SecretResolver, load_jwt_ring
    from erp.security import TokenService
    from erp.vault import META_KEY, VaultFile

    print(
        f"Demo in {shown(SCRATCH)}/ (a scratch folder, emptied on each run; "
        "the rest of the checkout is not touched). Times are local."
    )
    if ignored:
        names = ", ".join(ignored)
        print(f"(ignoring {names} from the environment: the demo shows the vault file)")
    vault, log = VaultFile(vault_path), AuditLog(log_path)
    resolver = SecretResolver.from_config(vault.path)
    service = TokenService(lambda: load_jwt_ring(resolver), on_reload=resolver.refresh)

    step(1, "A JWT key ring in a vault file")
    rotate_key(vault=vault, log=log)
    first = load_ring(vault).active
    mode = vault.path.stat().st_mode & 0o777
    say(f"created {shown(vault.path)} (mode {mode:04o}) with its first key {first.id},")
    say(f"signing since {local(first.activated_at)}")

    step(2, "A token signed with that key")
    ttl = timedelta(minutes=15)
    token = service.issue({"sub": "demo-user", "scope": "erp:read"}, ttl=ttl)
    say(
        f"issued a token for demo-user, signed by {first.id}, valid until "
        f"{local(datetime.now().astimezone() + ttl)}"
    )

    step(3, "Rotation with the runbook's ./scripts/rotate_jwt_secret.py")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "rotate_jwt_secret.py")],
        check=True,
        capture_output=True,
        text=True,
    )
    for line in done.stdout.splitlines():
        say(f"| {line}")

    step(4, "The old token after the rotation")
    resolver.refresh()
    service.reload()
    claims = service.verify(token)
    ring = service.ring()
    policy = RotationPolicy.from_env()
    retiring = ring.get(first.id)
    assert retiring is not None
    assert retiring.deactivated_at is not None
    prunable = retiring.deactivated_at + policy.max_token_ttl + policy.leeway
    expires = local(datetime.fromtimestamp(claims["exp"]))
    say(f"still verifies: subject {claims['sub']}, expires {expires}")
    say(
        f"{first.id} is now {retiring.state.value}: it verifies but signs nothing, "
        f"and may be pruned after {local(prunable)}"
    )
    service.verify(service.issue({"sub": "demo-user"}, ttl=ttl))
    say(f"new tokens are signed by {ring.active.id}")

    step(5, "Fernet field encryption on SQLite: rotate, re-encrypt, verify, retire")
    for line in _fernet_demo()(SCRATCH / "demo.db", vault=vault, log=log):
        say(line)

    step(6, f"The rotation log {shown(log.path)}")
    for entry in log.entries():
        say(describe(entry))
    head = (vault.read().get(META_KEY) or {}).get("audit")
    report = log.verify(head)
    verdict = (
        "intact, and its last entry is the one the vault records"
        if report.ok
        else (f"BROKEN: {report.problems}")
    )
    say(f"erp-secrets audit verify: the hash chain of {len(log.entries())} entries is {verdict}")
    print(f"\nThe files are in {shown(SCRATCH)}/; `make demo` again starts afresh.")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
