#!/usr/bin/env python3
"""The main job on embedded defaults: rotate the JWT key in ./jwt_secrets.json and show that a
token issued before the rotation still verifies after it, with the rotation log to prove it.

Run by `make demo`. Everything stays in the working directory: jwt_secrets.json (created
if absent, mode 0600) and logs/jwt_rotation.log.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def step(title: str) -> None:
    print(f"\n== {title}")


def main() -> int:
    from erp.audit import AuditLog
    from erp.rotation.jwt import load_ring, rotate_key
    from erp.secrets import SecretResolver, load_jwt_ring
    from erp.security import TokenService
    from erp.vault import META_KEY, VaultFile

    vault, log = VaultFile(), AuditLog()
    resolver = SecretResolver.from_config(vault.path)
    service = TokenService(lambda: load_jwt_ring(resolver), on_reload=resolver.refresh)

    step(f"key ring in {vault.path}")
    if not load_ring(vault).keys:
        rotate_key(vault=vault, log=log)
        print(f"created {vault.path} with a first key")
    ring = load_ring(vault)
    print(f"{len(ring)} key(s); JWT_SECRET_ID = {ring.active.id}")

    step("issue a token with the current key")
    token = service.issue({"sub": "demo-user", "scope": "erp:read"})
    print(f"issued a token for sub=demo-user signed by kid {ring.active.id}")

    step("rotate: ./scripts/rotate_jwt_secret.py")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "rotate_jwt_secret.py")], check=True)

    step("verify the old token after the rotation")
    resolver.refresh()
    service.reload()
    claims = service.verify(token)
    print(f"still valid until it expires: sub={claims['sub']} exp={claims['exp']}")
    fresh = service.issue({"sub": "demo-user"})
    service.verify(fresh)
    print(f"new tokens are signed by kid {service.ring().active.id}")

    step(f"rotation log {log.path} (last 3 entries)")
    for entry in log.entries()[-3:]:
        new = (entry.get("new") or {}).get("id")
        previous = (entry.get("previous") or {}).get("id")
        print(f"#{entry['seq']} {entry['time']} {entry['event']} new={new} previous={previous}")
    head = (vault.read().get(META_KEY) or {}).get("audit")
    report = log.verify(head)
    print(f"audit verify: {'chain intact' if report.ok else report.problems}")

    step("Fernet field encryption on SQLite (demo.db): rotate, re-encrypt, verify, retire")
    from erp.reencrypt import demo as fernet_demo

    for line in fernet_demo("demo.db", vault=vault, log=log):
        print(line)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
