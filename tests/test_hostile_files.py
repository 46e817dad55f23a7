"""Hostile files: every path ``erp`` reads or writes, replaced by what a mistake or an attacker
leaves there. Each is refused in one sentence naming the file, exit code 1, nothing changed.

Paths: the vault file, its lock, the rotation log (and the folder they live in). Shapes: a
symbolic link (to a real file, and a loop), a FIFO, a device, a folder, a huge file, a deeply
nested file, a name too long, a wrong owner, and a vault whose generation is not a number.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from erp.clock import FrozenClock
from erp.errors import ConfigError, VaultCorrupt
from erp.jwt.keyring import RotationPolicy
from erp.jwt.rotation import load_ring, rotate_key
from erp.store.audit import AuditLog
from erp.store.vault import MAX_VAULT_BYTES, VaultFile, VaultReader
from erp.testing import CliResult as Ran

Cli = Callable[..., Ran]
COMMANDS = [
    ("jwt", "rotate"),
    ("jwt", "status"),
    ("jwt", "prune", "--dry-run"),
    ("audit", "verify"),
]


def _one_clear_line(ran: Ran, *needles: str) -> None:
    assert ran.code == 1, ran
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1, ran.err
    assert lines[0].startswith("error: "), ran.err
    assert "Traceback" not in ran.err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes | None]]:
    out: dict[str, tuple[int, bytes | None]] = {}
    for path in sorted(folder.rglob("*")):
        st = os.lstat(path)
        body = path.read_bytes() if stat.S_ISREG(st.st_mode) else None
        out[str(path.relative_to(folder))] = (st.st_mode, body)
    return out


@pytest.fixture
def rotated(vault: VaultFile, log: AuditLog, clock: FrozenClock) -> VaultFile:
    """A vault and log after one real rotation."""
    rotate_key(vault=vault, log=log, policy=RotationPolicy(), clock=clock)
    return vault


@pytest.mark.parametrize("args", COMMANDS)
def test_vault_that_is_a_fifo_is_refused_at_once(
    erp_cli: Cli, vault: VaultFile, args: tuple[str, ...]
) -> None:
    """A FIFO in place of the vault: one sentence, no blocking (reads open O_NONBLOCK)."""
    os.mkfifo(vault.path)
    _one_clear_line(erp_cli(*args, "--vault", str(vault.path)), str(vault.path), "FIFO")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_vault_that_is_a_device_is_refused_without_reading(
    erp_cli: Cli, monkeypatch: pytest.MonkeyPatch, device: str
) -> None:
    """/dev/zero as the vault is refused before a byte is read (no memory exhaustion)."""
    if not os.path.exists(device):
        pytest.skip(f"{device} is absent here")
    monkeypatch.setenv("ERP_VAULT_FILE", device)
    _one_clear_line(erp_cli("jwt", "status"), device, "device")


def test_vault_from_proc_is_read_bounded_and_refused_as_not_json(erp_cli: Cli) -> None:
    """A /proc file (size 0 in stat) is read with the size cap and refused as not a vault."""
    _one_clear_line(erp_cli("jwt", "status", "--vault", "/proc/self/status"), "/proc/self/status")


def test_vault_that_is_a_folder_is_refused(erp_cli: Cli, vault: VaultFile) -> None:
    """A folder in place of the vault (here $ERP_VAULT_FILE): one sentence naming it."""
    vault.path.mkdir()
    for args in COMMANDS:
        _one_clear_line(erp_cli(*args), "folder")


def test_huge_vault_is_refused_naming_the_limit(rotated: VaultFile) -> None:
    """A vault over MAX_VAULT_BYTES is refused (never read whole) and left as it is."""
    with rotated.path.open("ab") as fh:
        fh.truncate(MAX_VAULT_BYTES + 1)
    before = rotated.path.stat().st_size
    with pytest.raises(VaultCorrupt, match="byte limit"):
        rotated.read()
    assert rotated.path.stat().st_size == before


def test_deep_vault_is_one_sentence_not_a_recursion_error(
    erp_cli: Cli, vault: VaultFile, log: AuditLog
) -> None:
    """A vault nested 100,000 deep: VaultCorrupt ("nested"), from the CLI and the script path."""
    vault.path.write_bytes(b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    before = vault.path.read_bytes()
    for args in COMMANDS:
        _one_clear_line(
            erp_cli(*args, "--vault", str(vault.path), "--log", str(log.path))
            if args[0] == "audit" or args[1] == "rotate"
            else erp_cli(*args, "--vault", str(vault.path)),
            "nested",
        )
    assert vault.path.read_bytes() == before


@pytest.mark.parametrize(
    "generation", ['"NaN"', "NaN", "Infinity", "-Infinity", "1e400", '"seven"', "-1", "1.5", "true"]
)
def test_generation_that_is_not_a_whole_number_is_refused(
    erp_cli: Cli, rotated: VaultFile, log: AuditLog, generation: str
) -> None:
    """_erp.generation of NaN, infinity, text, negative or fractional: one sentence, no change."""
    doc = rotated.path.read_text()
    current = json.loads(doc)["_erp"]["generation"]
    broken = doc.replace(f'"generation": {current}', f'"generation": {generation}')
    assert broken != doc
    rotated.path.write_text(broken)
    ran = erp_cli("jwt", "rotate", "--vault", str(rotated.path), "--log", str(log.path))
    _one_clear_line(ran, str(rotated.path))
    assert rotated.path.read_text() == broken


def test_vault_symlink_loop_is_one_sentence(erp_cli: Cli, vault: VaultFile) -> None:
    """A vault path that is a symbolic-link loop: one sentence, for read and rotate alike."""
    os.symlink(vault.path.name, vault.path)  # points at itself
    for args in COMMANDS:
        _one_clear_line(erp_cli(*args, "--vault", str(vault.path)), str(vault.path))


def test_vault_name_too_long_is_one_sentence(erp_cli: Cli, tmp_path: Path) -> None:
    """A vault file name longer than the file system allows: one sentence, not a traceback."""
    path = tmp_path / ("v" * 400)
    for args in COMMANDS:
        _one_clear_line(erp_cli(*args, "--vault", str(path)), "too long")


def test_reader_of_a_looping_path_raises_one_sentence(tmp_path: Path) -> None:
    """VaultReader (get_secret's cache) gives VaultCorrupt for a link loop, not OSError."""
    loop = tmp_path / "loop.json"
    os.symlink(loop.name, loop)
    with pytest.raises(VaultCorrupt):
        VaultReader(loop).document()


def test_log_symlinked_to_another_file_is_never_written_through(
    erp_cli: Cli, rotated: VaultFile, log: AuditLog, tmp_path: Path
) -> None:
    """With the log a link to another file, rotate refuses before the vault changes; the
    other file is neither truncated nor appended to."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    log.path.rename(tmp_path / "moved.log")
    os.symlink(victim, log.path)
    before = _snapshot(tmp_path)
    ran = erp_cli("jwt", "rotate", "--vault", str(rotated.path), "--log", str(log.path))
    _one_clear_line(ran, str(log.path), "symbolic link")
    assert victim.read_text() == "precious\n"
    assert _snapshot(tmp_path) == before


def test_log_that_is_a_fifo_is_refused_without_blocking(
    erp_cli: Cli, rotated: VaultFile, log: AuditLog
) -> None:
    """A FIFO in place of the log: rotate and audit verify refuse at once, vault unchanged."""
    log.path.unlink()
    os.mkfifo(log.path)
    before = rotated.path.read_bytes()
    _one_clear_line(
        erp_cli("jwt", "rotate", "--vault", str(rotated.path), "--log", str(log.path)),
        str(log.path),
    )
    _one_clear_line(
        erp_cli("audit", "verify", "--vault", str(rotated.path), "--log", str(log.path)),
        str(log.path),
    )
    assert rotated.path.read_bytes() == before


def test_log_that_is_a_folder_is_refused(erp_cli: Cli, rotated: VaultFile, log: AuditLog) -> None:
    """A folder in place of the log ($ERP_ROTATION_LOG): one sentence, vault unchanged."""
    log.path.unlink()
    log.path.mkdir()
    before = rotated.path.read_bytes()
    _one_clear_line(erp_cli("jwt", "rotate"), str(log.path))
    _one_clear_line(erp_cli("audit", "verify"), str(log.path))
    assert rotated.path.read_bytes() == before


def test_lock_file_symlinked_elsewhere_is_refused_and_not_followed(
    erp_cli: Cli, rotated: VaultFile, log: AuditLog, tmp_path: Path
) -> None:
    """A .lock that is a link to another file: refused; the target is not truncated."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    rotated.lock_path.unlink(missing_ok=True)
    os.symlink(victim, rotated.lock_path)
    before = rotated.path.read_bytes()
    ran = erp_cli("jwt", "rotate", "--vault", str(rotated.path), "--log", str(log.path))
    _one_clear_line(ran, str(rotated.path), "lock")
    assert victim.read_text() == "precious\n"
    assert rotated.path.read_bytes() == before


def test_lock_file_that_is_a_fifo_is_refused(
    erp_cli: Cli, rotated: VaultFile, log: AuditLog
) -> None:
    """A FIFO in place of the .lock: refused at once (opened O_NONBLOCK), vault unchanged."""
    rotated.lock_path.unlink(missing_ok=True)
    os.mkfifo(rotated.lock_path)
    ran = erp_cli("jwt", "rotate", "--vault", str(rotated.path), "--log", str(log.path))
    _one_clear_line(ran, "lock")


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_rotation_as_root_keeps_the_service_users_ownership(
    rotated: VaultFile, log: AuditLog, clock: FrozenClock
) -> None:
    """Root rotating a vault owned by the service user leaves it that user's, mode kept."""
    os.chown(rotated.path, 4321, 4322)
    os.chmod(rotated.path, 0o640)
    clock.advance(60)
    rotate_key(vault=rotated, log=log, policy=RotationPolicy(), clock=clock)
    st = os.stat(rotated.path)
    assert (st.st_uid, st.st_gid) == (4321, 4322)
    assert stat.S_IMODE(st.st_mode) == 0o600 & 0o640
    assert len(load_ring(rotated)) == 2


def test_every_refusal_above_is_a_config_error() -> None:
    """The file errors are ConfigError: 'fix your setup', exit 1, never TransientError."""
    assert issubclass(VaultCorrupt, ConfigError)
