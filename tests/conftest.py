"""Shared fixtures: a frozen clock, a temp vault and log, and a throw-away PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import erp.secrets
from erp.clock import FrozenClock
from erp.store.audit import AuditLog
from erp.store.vault import VaultFile
from erp.testing import CliResult, run_cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def erp_cli() -> Callable[..., CliResult]:
    """Run ``erp-secrets ARGS`` in-process (exit code included), as the console script does."""
    return run_cli


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """Make ``folder`` read-only for the block: a read-only bind mount as root, else chmod."""
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(mode)
        return
    done = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount {folder} read-only as root: {done.stderr!r}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@contextlib.contextmanager
def _small_disk(folder: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs mounted at ``folder`` (needs root), unmounted afterwards."""
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"a small tmpfs is needed to fill a disk for real: {done.stderr!r}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def _fill_disk(folder: Path) -> None:
    """Write a filler file until the file system says ENOSPC."""
    with contextlib.suppress(OSError), open(folder / "filler", "wb") as fh:
        while True:
            fh.write(b"\0" * 4096)
            fh.flush()


ReadOnly = Callable[[Path], contextlib.AbstractContextManager[None]]
SmallDisk = Callable[[Path], contextlib.AbstractContextManager[Path]]
FillDisk = Callable[[Path], None]


@pytest.fixture
def read_only() -> ReadOnly:
    """``with read_only(folder):`` the folder cannot be written (a real read-only mount as root)."""
    return _read_only


@pytest.fixture
def small_disk() -> SmallDisk:
    """``with small_disk(path) as folder:`` a real 64 KiB tmpfs (root only, else skip)."""
    return _small_disk


@pytest.fixture
def fill_disk() -> FillDisk:
    """``fill_disk(folder)`` writes until the file system is full (ENOSPC)."""
    return _fill_disk


@pytest.fixture
def clock() -> FrozenClock:
    """A clock that moves only when the test says so."""
    return FrozenClock(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))


@pytest.fixture
def vault(tmp_path: Path) -> VaultFile:
    """An empty vault file location in a temp folder."""
    return VaultFile(tmp_path / "jwt_secrets.json")


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    """A rotation log location in a temp folder."""
    return AuditLog(tmp_path / "logs" / "jwt_rotation.log")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's vault, keys or AWS settings."""
    for name in list(os.environ):
        if name.startswith(("ERP_", "JWT_", "AWS_")) or name == "FERNET_KEY":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ERP_VAULT_FILE", str(tmp_path / "jwt_secrets.json"))
    monkeypatch.setenv("ERP_ROTATION_LOG", str(tmp_path / "logs" / "jwt_rotation.log"))
    erp.secrets.reset()


def _pg_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return candidates[-1].parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A SQLAlchemy URL to a fresh PostgreSQL cluster on 127.0.0.1, removed afterwards.

    ``ERP_TEST_PG_URL`` points at an existing server instead. Without PostgreSQL the
    tests skip, unless ``ERP_REQUIRE_POSTGRES=1`` (as ``make test`` sets) makes it an error.
    """
    given = os.environ.get("ERP_TEST_PG_URL")
    if given:
        yield given
        return
    bindir = _pg_bindir()
    if bindir is None:
        if os.environ.get("ERP_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required but not installed: run scripts/ensure_postgres.sh")
        pytest.skip("PostgreSQL is not installed (run scripts/ensure_postgres.sh)")
    base = Path(tempfile.mkdtemp(prefix="erp-pg-"))
    data = base / "data"
    as_root = os.geteuid() == 0
    prefix: list[str] = []
    if as_root:  # postgres refuses to run as root
        shutil.chown(base, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    subprocess.run(
        [
            *prefix,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off"
    subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-l",
            str(base / "server.log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            env=env,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a moto server (AWS emulator) shared by the session.

    Tests talk to it over HTTP with boto3 (``endpoint_url=...``); call
    ``reset_moto(endpoint)`` between tests that need a clean account.
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> str:
    """Fake credentials and region for the moto server, which is reset first."""
    import urllib.request

    reset = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=10).close()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint
