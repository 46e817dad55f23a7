"""The vault file: atomic, locked, 0600 writes; corrupt files never overwritten; cached reads."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from erp.errors import ConcurrentChange, VaultCorrupt, VaultWriteError
from erp.jwt.keyring import generate_secret
from erp.store import vault as vault_module
from erp.store.vault import (
    META_KEY,
    VaultFile,
    VaultReader,
    default_vault_path,
    register_entry_check,
)

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


# -- pins found by mutation testing: defaults, the written form, the reader's clock ----------


def test_default_vault_path_is_the_setting_else_jwt_secrets_json(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """VaultFile() uses $ERP_VAULT_FILE, else jwt_secrets.json; its lock is a .lock sibling."""
    monkeypatch.setenv("ERP_VAULT_FILE", str(tmp_path / "keys.json"))
    assert VaultFile().path == tmp_path / "keys.json"
    monkeypatch.delenv("ERP_VAULT_FILE")
    assert default_vault_path() == Path("jwt_secrets.json")
    assert VaultFile().lock_path == Path("jwt_secrets.json.lock")
    assert VaultFile().lock_timeout_seconds == 60.0


def test_registered_entry_check_refuses_reads_and_writes_and_runs_once(
    vault: VaultFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A feature's shape check, registered (twice), runs once per read and write; its phrase
    is the VaultCorrupt problem, naming the file."""
    monkeypatch.setattr(vault_module, "_checks", list(vault_module._checks))
    calls: list[int] = []

    def no_colour(doc: Mapping[str, Any]) -> str | None:
        calls.append(1)
        return "colour must not be set" if "colour" in doc else None

    register_entry_check(no_colour)
    register_entry_check(no_colour)
    _write(vault, _doc())
    assert len(calls) == 1
    vault.read()
    assert len(calls) == 2
    with pytest.raises(VaultCorrupt) as caught:
        _write(vault, {**_doc(), "colour": "red"})
    assert (caught.value.path, caught.value.problem) == (vault.path, "colour must not be set")
    vault.path.write_text(json.dumps({"colour": "red"}))
    with pytest.raises(VaultCorrupt) as caught:
        vault.read()
    assert (caught.value.path, caught.value.problem) == (vault.path, "colour must not be set")


def test_written_file_is_two_space_json_in_the_documents_order_with_a_newline(
    vault: VaultFile,
) -> None:
    """The file is indent-2 JSON, keys in the caller's order, _erp last with format 1, then a
    newline: a hand-edited vault keeps its layout and diffs stay small."""
    secret = generate_secret()
    doc = {"JWT_SECRET_ID": "k1", "JWT_SECRETS": {"k1": secret}, "A_NOTE": "x"}
    _write(vault, doc)
    meta = {"format": 1, "generation": 1}
    assert vault.path.read_text() == json.dumps({**doc, META_KEY: meta}, indent=2) + "\n"
    assert doc[META_KEY] == meta


def test_write_of_a_nan_or_infinite_value_is_refused_and_changes_nothing(vault: VaultFile) -> None:
    """NaN or infinity (not JSON) is a VaultWriteError naming the file; the old file stays."""
    _write(vault, _doc())
    before = vault.path.read_bytes()
    for bad in (float("nan"), float("inf")):
        with pytest.raises(VaultWriteError) as caught:
            _write(vault, {**_doc(), "n": bad})
        assert caught.value.path == vault.path
        assert caught.value.problem == "a value is NaN or infinite"
    assert vault.path.read_bytes() == before


def test_write_of_a_malformed_document_is_refused_naming_the_file(vault: VaultFile) -> None:
    """write validates first: a bad _erp block is VaultCorrupt with the path; nothing written."""
    for meta, problem in (
        ([], "_erp must be a JSON object"),
        ({"generation": -1}, f"_erp.generation must be a whole number from 0 to {2**53}"),
    ):
        with pytest.raises(VaultCorrupt) as caught:
            _write(vault, {**_doc(), META_KEY: meta})
        assert caught.value.path == vault.path
        assert caught.value.problem == problem
    assert not vault.path.exists()


@pytest.mark.parametrize(
    ("generation", "ok"),
    [
        (0, True),
        (2**53 - 1, True),
        (2**53, True),
        (3.0, True),
        (-1, False),
        (2**53 + 1, False),
        (True, False),
    ],
)
def test_generation_bounds_are_inclusive(vault: VaultFile, generation: Any, ok: bool) -> None:
    """_erp.generation from 0 to 2**53 inclusive is read (3.0 as 3), beyond or a bool is not;
    at 2**53 a write is refused rather than leaving a file no read accepts."""
    vault.path.write_text(json.dumps({META_KEY: {"generation": generation}}))
    if ok:
        assert vault.read()[META_KEY]["generation"] == generation
        before = vault.path.read_bytes()
        if generation < 2**53:
            _write(vault, vault.read())
            assert vault.read()[META_KEY]["generation"] == int(generation) + 1
        else:  # one more write would make a file the next read refuses
            with pytest.raises(VaultWriteError, match="generation is at its maximum"):
                _write(vault, vault.read())
            assert vault.path.read_bytes() == before
    else:
        with pytest.raises(VaultCorrupt, match="generation must be a whole number"):
            vault.read()


def test_vault_in_missing_nested_folders_is_created_with_its_lock(tmp_path: Path) -> None:
    """The first locked write creates every missing folder above the vault."""
    vault = VaultFile(tmp_path / "a" / "b" / "jwt_secrets.json")
    _write(vault, _doc())
    assert vault.read()["JWT_SECRET_ID"] == "k1"
    assert vault.lock_path.exists()


def test_exists_is_false_under_a_regular_file(tmp_path: Path) -> None:
    """A vault path below a regular file does not exist (no error)."""
    (tmp_path / "file").write_text("")
    assert not VaultFile(tmp_path / "file" / "jwt_secrets.json").exists()


def test_lock_timeout_message_names_the_lock_and_the_wait(vault: VaultFile) -> None:
    """ConcurrentChange says which lock, for how long, and to retry."""
    impatient = VaultFile(vault.path, lock_timeout_seconds=0)
    with vault.locked(), pytest.raises(ConcurrentChange) as caught, impatient.locked():
        pass
    assert str(caught.value) == (
        f"another process has held the lock {vault.lock_path} for over 0 s; "
        "retry when it has finished"
    )


def test_stale_temp_file_of_a_bracketed_name_is_removed_but_a_link_is_kept(
    tmp_path: Path,
) -> None:
    """The stale-temp sweep matches the vault's own name literally and never unlinks a link."""
    vault = VaultFile(tmp_path / "v[1].json")
    _write(vault, _doc())
    stale = tmp_path / ".v[1].json.42.ab.tmp"
    stale.write_text("{}")
    target = tmp_path / "target"
    target.write_text("keep")
    link = tmp_path / ".v[1].json.43.cd.tmp"
    link.symlink_to(target)
    _write(vault, _doc())
    assert not stale.exists()
    assert link.is_symlink()
    assert target.read_text() == "keep"


def test_reader_checks_again_exactly_when_the_interval_ends(vault: VaultFile) -> None:
    """At check time + interval (default 1 s) the reader looks at the file again, not later."""
    _write(vault, _doc())
    now = [10.0]
    reader = VaultReader(vault.path, monotonic=lambda: now[0])
    reader.document()
    _write(vault, {**_doc(), "extra": "new"})
    now[0] = 10.999
    assert "extra" not in reader.document()
    now[0] = 11.0
    assert reader.document()["extra"] == "new"


def test_reader_reads_its_own_path_not_the_default_vault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader over a file other than $ERP_VAULT_FILE serves that file."""
    monkeypatch.setenv("ERP_VAULT_FILE", str(tmp_path / "default.json"))
    _write(VaultFile(tmp_path / "default.json"), {"which": "default"})
    _write(VaultFile(tmp_path / "mine.json"), {"which": "mine"})
    assert VaultReader(tmp_path / "mine.json").document()["which"] == "mine"


def test_reader_of_a_link_loop_names_the_problem(tmp_path: Path) -> None:
    """The reader's VaultCorrupt for a path it cannot stat says why."""
    loop = tmp_path / "loop.json"
    os.symlink(loop.name, loop)
    with pytest.raises(VaultCorrupt) as caught:
        VaultReader(loop).document()
    assert caught.value.problem == "it is a symbolic link (or a link loop), which is refused"


def _same_length_rewrite(path: Path, *, new_inode: bool, keep_mtime: bool, grow: bool) -> None:
    """Change the vault's content keeping chosen parts of (size, mtime, inode) as they were."""
    old = path.stat()
    doc = json.loads(path.read_text())
    doc["JWT_SECRET_ID"] = "k2" if not grow else "k22"
    doc["JWT_SECRETS"] = {doc["JWT_SECRET_ID"]: doc["JWT_SECRETS"]["k1"]}
    text = json.dumps(doc, indent=2) + "\n"
    if new_inode:
        other = path.with_name("replacement.json")
        other.write_text(text)
        other.replace(path)
    else:
        with path.open("r+") as fh:
            fh.write(text)
            fh.truncate()
    mtime = old.st_mtime_ns if keep_mtime else old.st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(mtime, mtime))


@pytest.mark.parametrize(
    ("new_inode", "keep_mtime", "grow"),
    [(True, True, False), (False, True, True), (False, False, False)],
    ids=["inode", "size", "mtime"],
)
def test_reader_rereads_when_any_one_of_size_mtime_inode_changes(
    vault: VaultFile, new_inode: bool, keep_mtime: bool, grow: bool
) -> None:
    """A change that keeps two of size, mtime and inode is still seen at the next check."""
    _write(vault, _doc())
    vault.path.write_text(json.dumps(json.loads(vault.path.read_text()), indent=2) + "\n")
    now = [0.0]
    reader = VaultReader(vault.path, monotonic=lambda: now[0])
    assert reader.document()["JWT_SECRET_ID"] == "k1"
    _same_length_rewrite(vault.path, new_inode=new_inode, keep_mtime=keep_mtime, grow=grow)
    now[0] = 5.0
    assert reader.document()["JWT_SECRET_ID"] in {"k2", "k22"}


def test_reader_serves_an_empty_document_once_the_file_is_deleted(vault: VaultFile) -> None:
    """A vault deleted after a good read is served as {} at the next check."""
    _write(vault, _doc())
    now = [0.0]
    reader = VaultReader(vault.path, monotonic=lambda: now[0])
    assert reader.document()
    vault.path.unlink()
    now[0] = 5.0
    assert reader.document() == {}


def test_check_file_passes_a_missing_or_regular_vault_and_names_anything_else(
    vault: VaultFile, tmp_path: Path
) -> None:
    """check_file (before the lock): no vault, or a regular file even if corrupt, passes; a
    folder, a FIFO, a link loop or a name too long is VaultCorrupt naming the problem."""
    vault.check_file()
    (tmp_path / "file").write_text("")
    VaultFile(tmp_path / "file" / "jwt_secrets.json").check_file()
    vault.path.write_text("{not json")
    vault.check_file()
    vault.path.unlink()
    cases: list[tuple[Callable[[], object], str]] = [
        (vault.path.mkdir, "it is a folder, not a regular file"),
        (lambda: os.mkfifo(vault.path), "it is a FIFO (named pipe), not a regular file"),
        (
            lambda: os.symlink(vault.path.name, vault.path),
            "it is a symbolic link (or a link loop), which is refused",
        ),
    ]
    for make, problem in cases:
        make()
        with pytest.raises(VaultCorrupt) as caught:
            vault.check_file()
        assert (caught.value.path, caught.value.problem) == (vault.path, problem)
        if vault.path.is_dir() and not vault.path.is_symlink():
            vault.path.rmdir()
        else:
            vault.path.unlink()
    with pytest.raises(VaultCorrupt) as caught:
        VaultFile(tmp_path / ("x" * 300)).check_file()
    assert caught.value.problem == "the path is too long"


def test_vault_named_relative_to_the_working_directory_is_written_there_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bare file name is written in the working directory, with its lock, and nothing else;
    a stale temp file of that name is removed there too."""
    monkeypatch.chdir(tmp_path)
    vault = VaultFile("jwt_secrets.json")
    assert os.fspath(vault) == "jwt_secrets.json"
    _write(vault, _doc())
    (tmp_path / ".jwt_secrets.json.7.ab.tmp").write_text("{}")
    _write(vault, _doc())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "jwt_secrets.json",
        "jwt_secrets.json.lock",
    ]


def test_stale_temp_sweep_removes_only_files_of_the_temp_form(vault: VaultFile) -> None:
    """Only regular files named .<vault>.<something>.tmp go; other names and a folder stay."""
    _write(vault, _doc())
    folder = vault.path.parent
    name = vault.path.name
    kept = [f".{name}..tmp", f".{name}.lock", f"{name}.1.tmp", f".{name}.1.tmpx", ".other.1.tmp"]
    for keep in kept:
        (folder / keep).write_text("{}")
    (folder / f".{name}.2.dir.tmp").mkdir()
    stale = [f".{name}.3.x.tmp", f".{name}.x.tmp"]
    for gone in stale:
        (folder / gone).write_text("{}")
    _write(vault, _doc())
    assert not any((folder / gone).exists() for gone in stale)
    assert all((folder / keep).exists() for keep in kept)
    assert (folder / f".{name}.2.dir.tmp").is_dir()


def test_stale_temp_file_in_a_read_only_folder_is_left_and_the_write_fails_clearly(
    vault: VaultFile, read_only: ReadOnly
) -> None:
    """A stale temp file that cannot be removed does not mask the real error: the folder is
    read-only, VaultWriteError says so, and vault and temp file stay as they were."""
    _write(vault, _doc())
    stale = vault.path.parent / f".{vault.path.name}.9.zz.tmp"
    stale.write_text("{}")
    before = vault.path.read_bytes()
    with read_only(vault.path.parent), pytest.raises(VaultWriteError, match="read-only"):
        vault.write(_doc())
    assert stale.exists()
    assert vault.path.read_bytes() == before
