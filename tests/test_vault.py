"""The vault file: atomic, locked, 0600 writes; corrupt files never overwritten; cached reads."""

from __future__ import annotations

import contextlib
import json
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from erp.errors import ConcurrentChange, VaultCorrupt, VaultWriteError
from erp.jwt.keyring import generate_secret
from erp.store.vault import META_KEY, VaultFile, VaultReader

ReadOnly = Callable[[Path], contextlib.AbstractContextManager[None]]  # conftest fixture
SmallDisk = Callable[[Path], contextlib.AbstractContextManager[Path]]  # conftest fixture
FillDisk = Callable[[Path], None]  # conftest fixture


def _doc() -> dict[str, Any]:
    return {"JWT_SECRETS": {"k1": generate_secret()}, "JWT_SECRET_ID": "k1"}


def _write(vault: VaultFile, doc: dict[str, Any]) -> None:
    with vault.locked():
        vault.write(doc)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_missing_vault_reads_as_empty(vault: VaultFile) -> None:
    """A vault file that does not exist yet reads as an empty document."""
    assert vault.read() == {}
    assert not vault.exists()


def test_write_creates_a_0600_json_file_and_bumps_the_generation(vault: VaultFile) -> None:
    """write stores valid JSON with mode 0600 and increments _erp.generation each time."""
    doc = _doc()
    _write(vault, doc)
    assert stat.S_IMODE(vault.path.stat().st_mode) == 0o600
    first = json.loads(vault.path.read_text())
    assert first["JWT_SECRETS"] == doc["JWT_SECRETS"]
    assert first[META_KEY]["generation"] == 1
    _write(vault, vault.read())
    assert vault.read()[META_KEY]["generation"] == 2


def test_write_replaces_the_file_atomically_leaving_no_temp_files(vault: VaultFile) -> None:
    """Each write renames a new file into place (new inode) and leaves no temp file behind."""
    _write(vault, _doc())
    before = vault.path.stat().st_ino
    _write(vault, _doc())
    assert vault.path.stat().st_ino != before
    assert _leftovers(vault.path.parent) == []


def test_write_removes_temp_files_left_by_a_killed_writer(vault: VaultFile) -> None:
    """A temp file a killed writer left (secrets inside) is deleted by the next locked write."""
    _write(vault, _doc())
    stale = vault.path.parent / f".{vault.path.name}.4242.deadbeef.tmp"
    stale.write_text(json.dumps(_doc()))
    unrelated = vault.path.parent / ".other.json.1.ab.tmp"
    unrelated.write_text("{}")
    _write(vault, _doc())
    assert not stale.exists()
    assert unrelated.exists()


def test_write_tightens_a_loose_existing_mode(vault: VaultFile) -> None:
    """A vault made world-readable by hand is 0600 again after the next write."""
    _write(vault, _doc())
    vault.path.chmod(0o644)
    _write(vault, vault.read())
    assert stat.S_IMODE(vault.path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"JWT_SECRETS": {"k1": "abc"', "not valid JSON"),
        (b"[1, 2, 3]", "must be a JSON object, not list"),
        (b'{"JWT_SECRETS": ["x"]}', "JWT_SECRETS must be a JSON object"),
        (b'{"JWT_SECRETS": {"k1": 5}}', "JWT_SECRETS['k1'] must be a string"),
        (b'{"JWT_SECRET_ID": 7}', "JWT_SECRET_ID must be a string"),
        (b'{"JWT_KEYS": []}', "JWT_KEYS must be a JSON object"),
        (b'{"JWT_SECRET_ID": "\xff"}', "not UTF-8"),
    ],
)
def test_corrupt_vault_is_refused_naming_path_and_problem(
    vault: VaultFile, content: bytes, problem: str
) -> None:
    """A vault that does not parse or validate raises VaultCorrupt with its path and the problem."""
    vault.path.write_bytes(content)
    with pytest.raises(VaultCorrupt) as caught:
        vault.read()
    text = str(caught.value)
    assert str(vault.path) in text
    assert problem in text
    assert "not modified" in text


def test_corrupt_vault_is_never_overwritten(vault: VaultFile) -> None:
    """A transaction on a corrupt vault raises before writing; the bytes stay as they were."""
    broken = b'{"JWT_SECRETS": {"k1": "' + generate_secret().encode() + b'"'
    vault.path.write_bytes(broken)
    with pytest.raises(VaultCorrupt), vault.transaction() as doc:
        doc["JWT_SECRET_ID"] = "k1"
    assert vault.path.read_bytes() == broken
    assert _leftovers(vault.path.parent) == []


def test_corrupt_vault_error_never_quotes_file_content(vault: VaultFile) -> None:
    """The VaultCorrupt message shows a position, never the (secret) text of the file."""
    secret = generate_secret()
    vault.path.write_text('{"JWT_SECRETS": {"k1": "' + secret + '"}, oops}')
    with pytest.raises(VaultCorrupt) as caught:
        vault.read()
    assert secret not in str(caught.value)
    assert secret[:12] not in repr(caught.value)


def test_folder_in_place_of_the_vault_is_refused(vault: VaultFile) -> None:
    """A folder at the vault's path is reported as such."""
    vault.path.mkdir()
    with pytest.raises(VaultCorrupt, match="folder"):
        vault.read()


def test_transaction_writes_only_when_the_document_changed(vault: VaultFile) -> None:
    """A transaction that changes nothing leaves the file (and its inode) alone."""
    _write(vault, _doc())
    before = (vault.path.stat().st_ino, vault.path.read_bytes())
    with vault.transaction() as doc:
        assert doc["JWT_SECRET_ID"] == "k1"
    assert (vault.path.stat().st_ino, vault.path.read_bytes()) == before
    with vault.transaction() as doc:
        doc["JWT_SECRET_ID"] = "k1"
        doc["note"] = "changed"
    assert vault.read()["note"] == "changed"


def test_transactions_from_many_threads_all_land(vault: VaultFile) -> None:
    """Concurrent read-modify-write transactions under the lock lose no update."""
    _write(vault, {"counter": 0})
    start = threading.Barrier(8)

    def bump() -> None:
        start.wait()
        for _ in range(5):
            with VaultFile(vault.path).transaction() as doc:
                doc["counter"] += 1

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert vault.read()["counter"] == 40


def test_lock_held_too_long_is_reported_as_a_concurrent_change(vault: VaultFile) -> None:
    """A lock another holder keeps past the timeout raises ConcurrentChange naming the lock."""
    impatient = VaultFile(vault.path, lock_timeout_seconds=0)
    with vault.locked(), pytest.raises(ConcurrentChange) as caught, impatient.locked():
        pass
    assert str(vault.lock_path) in str(caught.value)


def test_write_into_read_only_folder_fails_clearly_and_changes_nothing(
    vault: VaultFile,
    read_only: ReadOnly,
) -> None:
    """A read-only folder gives VaultWriteError naming the file; the old bytes stay."""
    _write(vault, _doc())
    before = vault.path.read_bytes()
    with read_only(vault.path.parent), pytest.raises(VaultWriteError) as caught:
        vault.write(_doc())
    text = str(caught.value)
    assert str(vault.path) in text
    assert "read-only" in text
    assert "unchanged" in text
    assert vault.path.read_bytes() == before


def test_write_on_a_full_disk_fails_clearly_and_changes_nothing(
    tmp_path: Path, fill_disk: FillDisk, small_disk: SmallDisk
) -> None:
    """ENOSPC (a real full tmpfs) gives VaultWriteError; the old file and no temp file remain."""
    with small_disk(tmp_path / "small") as folder:
        vault = VaultFile(folder / "jwt_secrets.json")
        _write(vault, _doc())
        before = vault.path.read_bytes()
        fill_disk(folder)
        doc = vault.read()
        doc["padding"] = "x" * 8192
        with pytest.raises(VaultWriteError) as caught, vault.locked():
            vault.write(doc)
        assert "the disk is full" in str(caught.value)
        assert str(vault.path) in str(caught.value)
        assert vault.path.read_bytes() == before
        assert _leftovers(folder) == []


def test_reader_serves_the_cached_document_until_the_interval_passes(vault: VaultFile) -> None:
    """Within check_interval_seconds a VaultReader does not look at the file again."""
    _write(vault, _doc())
    now = [100.0]
    reader = VaultReader(vault.path, check_interval_seconds=1.0, monotonic=lambda: now[0])
    first = reader.document()
    _write(vault, {**first, "JWT_SECRET_ID": "k1", "extra": "new"})
    now[0] += 0.5
    assert reader.document() is first
    now[0] += 0.6
    assert reader.document()["extra"] == "new"


def test_reader_does_not_reread_an_unchanged_file(vault: VaultFile) -> None:
    """After the interval, an unchanged file (same size, mtime, inode) is not parsed again."""
    _write(vault, _doc())
    now = [0.0]
    reader = VaultReader(vault.path, check_interval_seconds=1.0, monotonic=lambda: now[0])
    first = reader.document()
    now[0] += 5
    assert reader.document() is first


def test_reader_keeps_serving_last_good_content_when_the_file_breaks(vault: VaultFile) -> None:
    """A changed file that no longer parses is reported to on_error; the last good doc stays."""
    _write(vault, _doc())
    now = [0.0]
    errors: list[Exception] = []
    reader = VaultReader(
        vault.path, check_interval_seconds=1.0, monotonic=lambda: now[0], on_error=errors.append
    )
    good = reader.document()
    vault.path.write_text("{broken")
    now[0] += 2
    assert reader.document() == good
    assert len(errors) == 1
    assert isinstance(errors[0], VaultCorrupt)


def test_reader_raises_when_the_first_read_fails(vault: VaultFile) -> None:
    """With no good content to fall back on, a corrupt file raises VaultCorrupt."""
    vault.path.write_text("{broken")
    with pytest.raises(VaultCorrupt):
        VaultReader(vault.path).document()


def test_reader_sees_a_missing_file_as_empty_and_picks_up_its_creation(vault: VaultFile) -> None:
    """A reader over a missing file returns {} and sees the file once it appears."""
    now = [0.0]
    reader = VaultReader(vault.path, check_interval_seconds=1.0, monotonic=lambda: now[0])
    assert reader.document() == {}
    _write(vault, _doc())
    reader.invalidate()
    assert reader.document()["JWT_SECRET_ID"] == "k1"


def test_repr_names_the_path_only(vault: VaultFile) -> None:
    """VaultFile and VaultReader reprs show the path and nothing read from the file."""
    doc = _doc()
    _write(vault, doc)
    reader = VaultReader(vault.path)
    reader.document()
    for shown in (repr(vault), repr(reader)):
        assert str(vault.path) in shown
        assert doc["JWT_SECRETS"]["k1"] not in shown
