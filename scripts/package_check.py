#!/usr/bin/env python3
"""The package as users get it: build the wheel, install it (not editable) into a clean
virtual environment and smoke-test it there: `erp-secrets --help`, a rotation, a token, a
Fernet round trip, the slim import, and the message for a missing extra.

Run by `make package-check` (and so by CI). `--sizes` also installs `[all]` into a second
clean venv and prints the installed size of both. Work happens in build/package-check/.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "package-check"

# Runs inside the clean venv, from a folder outside the checkout so nothing imports from src/.
_SMOKE = """
import sys
from datetime import timedelta

import erp.security
heavy = sorted({"boto3", "botocore", "sqlalchemy", "rich", "psycopg", "yaml"} & set(sys.modules))
assert not heavy, f"import erp.security pulled {heavy}"
token = erp.security.issue_token({"sub": "smoke"}, ttl=timedelta(minutes=5))
assert erp.security.verify_token(token)["sub"] == "smoke"
from erp.fernet.keys import load_fernet_ring  # noqa: F401  (the Fernet ring imports on core)
from cryptography.fernet import Fernet, MultiFernet
old, new = Fernet(Fernet.generate_key()), Fernet(Fernet.generate_key())
sealed = old.encrypt(b"tax-id")
assert new.decrypt(MultiFernet([new, old]).rotate(sealed)) == b"tax-id"
assert erp.security.decrypt(erp.security.encrypt("tax-id")) == "tax-id"
print("token and Fernet round trips: ok; import erp.security pulled no boto3/SQLAlchemy/rich")
"""


def run(*command: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in command], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(
            f"FAILED ({done.returncode}): {' '.join(map(str, command))}\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def build_wheel() -> Path:
    dist = WORK / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, ROOT)
    (wheel,) = dist.glob("erp_secrets-*.whl")
    print(f"built {wheel.relative_to(ROOT)} ({wheel.stat().st_size // 1024} KiB)")
    return wheel


def clean_venv(name: str, requirement: str) -> Path:
    venv = WORK / name
    shutil.rmtree(venv, ignore_errors=True)
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "-q", requirement)
    return venv


def site_size(venv: Path) -> tuple[int, list[str]]:
    """Bytes under site-packages, less pip/setuptools that every venv has, and the names."""
    (site,) = (venv / "lib").glob("python3*/site-packages")
    skip = ("pip", "setuptools", "_distutils_hack", "pkg_resources", "distutils-precedence.pth")
    total, names = 0, set()
    for entry in site.iterdir():
        base = entry.name.split("-")[0]
        if base in skip:
            continue
        if entry.name.endswith(".dist-info"):
            names.add(base)
        files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        total += sum(p.stat().st_size for p in files)
    return total, sorted(names)


def smoke(venv: Path) -> None:
    scratch = WORK / "smoke"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin:/bin",
        "HOME": str(scratch),
        "ERP_VAULT_FILE": str(scratch / "jwt_secrets.json"),
        "ERP_ROTATION_LOG": str(scratch / "logs" / "jwt_rotation.log"),
    }
    cli = venv / "bin" / "erp-secrets"
    started = time.perf_counter()
    assert "Commands" in run(cli, "--help", env=env, cwd=scratch)
    print(f"erp-secrets --help: ok ({(time.perf_counter() - started) * 1000:.0f} ms, cold)")
    run(cli, "jwt", "rotate", env=env, cwd=scratch)
    print("erp-secrets jwt rotate: " + run(cli, "audit", "verify", env=env, cwd=scratch).strip())
    run(cli, "fernet", "rotate", env=env, cwd=scratch)
    print(run(venv / "bin" / "python", "-c", _SMOKE, env=env, cwd=scratch).strip())
    missing = subprocess.run(
        [str(cli), "aws", "status", "--secret-id", "erp/jwt-keys"],
        env={**env, "AWS_REGION": "eu-west-1"},
        cwd=scratch,
        capture_output=True,
        text=True,
    )
    assert "pip install 'erp-secrets[aws]'" in missing.stderr, missing.stderr
    assert "Traceback" not in missing.stderr, missing.stderr
    print(f"erp-secrets aws status without [aws]: {missing.stderr.strip()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", action="store_true", help="also install [all]; print sizes")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    wheel = build_wheel()
    core = clean_venv("venv-core", str(wheel))
    smoke(core)
    sizes = [("erp-secrets (core)", core)]
    if args.sizes:
        sizes.append(("erp-secrets[all]", clean_venv("venv-all", f"{wheel}[all]")))
    for label, venv in sizes:
        total, names = site_size(venv)
        print(f"installed size of {label}: {total / 2**20:.1f} MiB ({', '.join(names)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
