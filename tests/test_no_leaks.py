"""No secret material in any output, log line, exception text or repr.

Every secret the vault ever held (including pruned keys) is searched for, whole and as any
12-character slice, in: the stdout/stderr of every CLI command and of the rotation script,
success and failure alike; the rotation log and the other files beside the vault; Python log
records; the text, repr and cause chain of every error; and the repr of every library object.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest

import erp.secrets
from erp.cli import main
from erp.clock import FrozenClock
from erp.errors import ErpError
from erp.jwt.keyring import KeyRing, RotationPolicy, generate_secret, prune, rotate, stage
from erp.jwt.rotation import load_ring, prune_keys, rotate_key, stage_key, status
from erp.secrets import SecretResolver, VaultSource, get_secret, load_jwt_ring
from erp.security import TokenService
from erp.store.audit import AuditLog
from erp.store.vault import VaultFile, VaultReader

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "rotate_jwt_secret.py"
WINDOW = 12


class SecretWatch:
    """Every secret seen so far, and a check that none shows up in a text."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()

    def collect(self, vault: VaultFile) -> None:
        if vault.path.is_file():
            try:
                doc = json.loads(vault.path.read_text())
            except ValueError:
                return
            if isinstance(doc.get("JWT_SECRETS"), dict):
                self.secrets.update(doc["JWT_SECRETS"].values())

    def assert_clean(self, text: str, where: str) -> None:
        assert self.secrets, "nothing to look for"
        for secret in self.secrets:
            for start in range(0, max(1, len(secret) - WINDOW + 1)):
                piece = secret[start : start + WINDOW]
                assert piece not in text, f"secret material in {where}"


@pytest.fixture
def watch() -> SecretWatch:
    """The set of secrets to search for."""
    return SecretWatch()


@pytest.fixture
def world(vault: VaultFile, log: AuditLog, watch: SecretWatch) -> VaultFile:
    """A vault with a pruned key, retiring keys, an active and a staged key; all watched."""
    now = datetime.now(UTC)
    for age in (timedelta(hours=6), timedelta(hours=4), timedelta(minutes=30)):
        rotate_key(vault=vault, log=log, policy=RotationPolicy(), clock=FrozenClock(now - age))
        watch.collect(vault)
    prune_keys(vault=vault, log=log, policy=RotationPolicy())
    stage_key(vault=vault, log=log, policy=RotationPolicy(), clock=FrozenClock(now - timedelta(1)))
    watch.collect(vault)
    return vault


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _error_text(exc: BaseException) -> str:
    """str, repr and the formatted chain of an exception (causes included)."""
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])


def _raised(call: Callable[[], object]) -> BaseException:
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError("expected an error")


def _files_beside(vault: VaultFile, log: AuditLog) -> Iterable[tuple[str, str]]:
    for folder in {vault.path.parent, log.path.parent}:
        for path in folder.iterdir():
            if path.is_file() and path != vault.path:
                yield str(path), path.read_text(errors="replace")


def test_cli_output_never_contains_secrets(
    world: VaultFile,
    log: AuditLog,
    watch: SecretWatch,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every jwt and audit command, including refusals, prints ids and fingerprints only."""
    monkeypatch.setenv("COLUMNS", "200")
    commands = [
        ("--help",),
        ("jwt", "status"),
        ("jwt", "status", "--json"),
        ("jwt", "stage"),  # refused: already staged
        ("jwt", "promote"),
        ("jwt", "rotate"),
        ("jwt", "rotate", "--policy", "staged"),
        ("jwt", "prune", "--dry-run"),
        ("jwt", "prune"),
        ("audit", "verify"),
        ("audit", "verify", "--json"),
        ("audit", "repair"),
    ]
    for args in commands:
        _code, out = _cli(capsys, *args)
        watch.collect(world)
        watch.assert_clean(out, f"erp-secrets {' '.join(args)}")


def test_reveal_secrets_is_the_one_documented_exception(
    world: VaultFile, log: AuditLog, watch: SecretWatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only 'jwt prune --reveal-secrets' prints secrets, and only when something was pruned."""
    now = datetime.now(UTC)
    rotate_key(vault=world, log=log, policy=RotationPolicy(), clock=FrozenClock(now - timedelta(3)))
    watch.collect(world)
    code, out = _cli(capsys, "jwt", "prune", "--reveal-secrets")
    assert code == 0
    assert any(secret in out for secret in watch.secrets)


def test_rotate_script_output_never_contains_secrets(
    tmp_path: Path, world: VaultFile, log: AuditLog, watch: SecretWatch
) -> None:
    """The rotation script's output, on success and on each failure, holds no secret."""

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, str(SCRIPT), *args], cwd=tmp_path, capture_output=True, text=True
        )
        watch.collect(world)
        return done.stdout + done.stderr

    watch.assert_clean(run(), "rotate_jwt_secret.py")
    watch.assert_clean(run("--policy", "staged"), "rotate_jwt_secret.py --policy staged")
    good = world.path.read_bytes()
    doc = json.loads(good)
    weak = generate_secret()[:20]
    watch.secrets.add(weak)
    for broken in (
        good[: len(good) // 2],  # cut inside a secret: a JSON error must not quote it
        json.dumps({**doc, "JWT_SECRET_ID": next(iter(doc["JWT_SECRETS"].values()))}).encode(),
        json.dumps({**doc, "JWT_SECRETS": {**doc["JWT_SECRETS"], "k-weak": weak}}).encode(),
        json.dumps({**doc, "JWT_SECRETS": list(doc["JWT_SECRETS"].values())}).encode(),
    ):
        world.path.write_bytes(broken)
        watch.assert_clean(run(), "rotate_jwt_secret.py on a bad vault")
    world.path.write_bytes(good)


def test_console_script_errors_never_contain_secrets(
    tmp_path: Path, world: VaultFile, watch: SecretWatch
) -> None:
    """The installed erp-secrets prints no secret when the vault is broken mid-secret."""
    good = world.path.read_bytes()
    secret = next(iter(json.loads(good)["JWT_SECRETS"].values())).encode()
    world.path.write_bytes(good[: good.index(secret) + len(secret) // 2])
    for args in (["jwt", "status"], ["jwt", "rotate"], ["audit", "verify"]):
        done = subprocess.run(
            ["erp-secrets", *args],
            cwd=tmp_path,
            env=dict(os.environ),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 1
        watch.assert_clean(done.stdout + done.stderr, f"erp-secrets {' '.join(args)}")


def test_rotation_log_and_files_beside_the_vault_hold_no_secret(
    world: VaultFile, log: AuditLog, watch: SecretWatch
) -> None:
    """The log, the lock file and anything else next to the vault are free of secrets."""
    for _ in range(3):
        rotate_key(vault=world, log=log, policy=RotationPolicy())
        watch.collect(world)
    for path, text in _files_beside(world, log):
        watch.assert_clean(text, path)


def test_library_errors_never_contain_secrets(
    world: VaultFile,
    log: AuditLog,
    watch: SecretWatch,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Errors from bad vaults, bad env vars, weak keys and bad tokens name no secret."""
    caplog.set_level(logging.DEBUG)
    good = world.path.read_bytes()
    doc = json.loads(good)
    secrets_map: dict[str, str] = doc["JWT_SECRETS"]
    a_secret = next(iter(secrets_map.values()))
    weak = generate_secret()[:16]
    watch.secrets.add(weak)
    errors: list[BaseException] = []

    world.path.write_bytes(good[: good.index(a_secret.encode()) + 10])
    errors.append(_raised(lambda: load_ring(world)))
    errors.append(_raised(lambda: rotate_key(vault=world, log=log)))
    world.path.write_text(json.dumps({**doc, "JWT_SECRET_ID": a_secret}))
    errors.append(_raised(lambda: load_ring(world)))
    world.path.write_text(json.dumps({**doc, "JWT_SECRETS": {**secrets_map, "w": weak}}))
    errors.append(_raised(lambda: load_ring(world)))
    world.path.write_bytes(good)

    monkeypatch.setenv("JWT_SECRETS", json.dumps(secrets_map)[:-5])
    errors.append(_raised(load_jwt_ring))
    monkeypatch.setenv("JWT_SECRETS", json.dumps({"w": weak}))
    monkeypatch.setenv("JWT_SECRET_ID", "w")
    errors.append(_raised(load_jwt_ring))
    monkeypatch.setenv("JWT_SECRETS", json.dumps(list(secrets_map.values())))
    errors.append(_raised(load_jwt_ring))
    monkeypatch.setenv("JWT_SECRETS", json.dumps(secrets_map))
    monkeypatch.setenv("JWT_SECRET_ID", a_secret)
    errors.append(_raised(load_jwt_ring))
    monkeypatch.delenv("JWT_SECRETS")
    monkeypatch.delenv("JWT_SECRET_ID")
    errors.append(_raised(lambda: get_secret("NO_SUCH_SECRET")))

    ring = load_ring(world)
    service = TokenService(lambda: ring, policy=RotationPolicy())
    token = service.issue({"sub": "u1"}, ttl=timedelta(minutes=1))
    head, body, _sig = token.split(".")
    for bad in (
        f"{head}.{body}.AAAA",
        jwt.encode(
            {"exp": 1}, ring.active.secret, algorithm="HS256", headers={"kid": ring.active.id}
        ),
        jwt.encode(
            {"exp": 2**40}, generate_secret(), algorithm="HS256", headers={"kid": "k-unknown"}
        ),
        "not.a.token",
    ):
        errors.append(_raised(lambda bad=bad: service.verify(bad)))  # type: ignore[misc]

    assert all(isinstance(e, ErpError) for e in errors), [type(e) for e in errors]
    for exc in errors:
        watch.assert_clean(_error_text(exc), f"{type(exc).__name__}")
    watch.assert_clean("\n".join(r.getMessage() for r in caplog.records), "log records")


def test_vault_source_logs_a_broken_file_without_its_content(
    world: VaultFile, watch: SecretWatch, caplog: pytest.LogCaptureFixture
) -> None:
    """When a watched vault breaks, the error logged while serving old content has no secret."""
    caplog.set_level(logging.DEBUG)
    source = VaultSource(world.path, check_interval_seconds=0)
    assert source.lookup("JWT_SECRET_ID")
    good = world.path.read_bytes()
    secret = next(iter(json.loads(good)["JWT_SECRETS"].values())).encode()
    world.path.write_bytes(good[: good.index(secret) + 20])
    assert source.lookup("JWT_SECRET_ID")
    assert caplog.records, "the broken file was not reported"
    watch.assert_clean("\n".join(r.getMessage() for r in caplog.records), "log records")


def test_reprs_of_library_objects_never_show_secrets(
    world: VaultFile, log: AuditLog, watch: SecretWatch, clock: FrozenClock
) -> None:
    """Keys, rings, transitions, results, services, sources and reports repr without secrets."""
    ring = load_ring(world)
    result = rotate_key(vault=world, log=log, policy=RotationPolicy())
    watch.collect(world)
    ring = load_ring(world)
    service = TokenService(lambda: ring, policy=RotationPolicy())
    service.issue({})
    resolver = SecretResolver.from_config(world.path)
    resolver.get("JWT_SECRETS")
    reader = VaultReader(world.path)
    reader.document()
    fresh = rotate(KeyRing(), clock(), RotationPolicy())
    watch.secrets.add(fresh.ring.active.secret)
    objects: list[Any] = [
        ring,
        *ring.keys,
        fresh,
        stage(fresh.ring, clock(), RotationPolicy()),
        prune(ring, clock(), RotationPolicy()),
        result,
        service,
        resolver,
        *resolver.sources,
        reader,
        world,
        log,
        log.verify(),
        status(ring, RotationPolicy()),
    ]
    for obj in objects:
        watch.assert_clean(repr(obj), f"repr of {type(obj).__name__}")
        watch.assert_clean(str(obj), f"str of {type(obj).__name__}")


@pytest.fixture(autouse=True)
def _fresh_resolver() -> None:
    """Each test starts with a new process-wide resolver (no cached vault content)."""
    erp.secrets.reset()


ALL_COMMANDS = [
    ("jwt", "status"),
    ("jwt", "status", "--json"),
    ("jwt", "rotate"),
    ("jwt", "rotate", "--policy", "staged"),
    ("jwt", "stage"),
    ("jwt", "promote"),
    ("jwt", "prune", "--dry-run"),
    ("jwt", "prune"),
    ("audit", "verify"),
    ("audit", "verify", "--json"),
    ("audit", "repair"),
]


def _error_states(doc: dict[str, Any], secret: str, other: str) -> dict[str, bytes]:
    """Broken vaults, each holding secrets where a careless message could quote them."""
    secrets_map = doc["JWT_SECRETS"]
    return {
        "cut inside a secret": json.dumps(doc).encode()[: json.dumps(doc).index(secret) + 20],
        "secret as JWT_SECRET_ID": json.dumps({**doc, "JWT_SECRET_ID": secret}).encode(),
        "foreign secret as JWT_SECRET_ID": json.dumps({**doc, "JWT_SECRET_ID": other}).encode(),
        "reversed map": json.dumps(
            {**doc, "JWT_SECRETS": {v: k for k, v in secrets_map.items()}}
        ).encode(),
        "weak value under a secret id": json.dumps(
            {**doc, "JWT_SECRETS": {secret: "weak"}, "JWT_SECRET_ID": secret}
        ).encode(),
        "NaN generation": json.dumps(doc)
        .replace('"generation": ', '"generation": NaN, "g": ')
        .encode(),
        "deep nesting after a secret": json.dumps(doc).encode()[:-1]
        + b', "x": '
        + b"[" * 5000
        + b"]" * 5000
        + b"}",
        "secrets not a map": json.dumps(
            {**doc, "JWT_SECRETS": list(secrets_map.values())}
        ).encode(),
        "secret as a key's state": json.dumps(
            {**doc, "JWT_KEYS": {k: {"state": secret} for k in secrets_map}}
        ).encode(),
    }


def test_every_command_in_every_error_state_shows_no_secret(
    world: VaultFile,
    log: AuditLog,
    watch: SecretWatch,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each jwt/audit command against each broken vault: no slice of any secret is printed."""
    monkeypatch.setenv("COLUMNS", "200")
    good = world.path.read_bytes()
    doc = json.loads(good)
    secret = next(iter(doc["JWT_SECRETS"].values()))
    other = generate_secret()
    watch.secrets.add(other)
    for state, broken in _error_states(doc, secret, other).items():
        for args in ALL_COMMANDS:
            world.path.write_bytes(broken)
            _code, out = _cli(capsys, *args)
            watch.assert_clean(out, f"erp-secrets {' '.join(args)} with {state}")
            exc = None
            try:
                load_ring(world)
            except ErpError as caught:
                exc = caught
            if exc is not None:
                watch.assert_clean(_error_text(exc), f"load_ring with {state}")
    world.path.write_bytes(good)
