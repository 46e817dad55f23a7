"""``erp-secrets scan``: exit codes, text and JSON reports, --staged, baselines, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from erp.cli import main
from erp.scan import hash_secret, testing

from .conftest import Repo, plants


@dataclass
class Ran:
    """What one CLI invocation did."""

    code: int
    out: str
    err: str


Cli = Callable[..., Ran]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run ``erp-secrets scan ARGS`` in-process (in the current directory)."""

    def run(*args: str) -> Ran:
        capsys.readouterr()
        try:
            # The console script exits with what main() returns (click's ctx.exit code).
            returned = main(["scan", *args])
            code = returned if isinstance(returned, int) else 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A plain (non-git) folder as the working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_clean_tree_exits_zero(cli: Cli, tree: Path) -> None:
    """No findings: exit 0 and a one-line summary on stderr."""
    (tree / "app.py").write_text("print('hello')\n", encoding="utf-8")
    ran = cli()
    assert (ran.code, ran.out) == (0, "")
    assert "no findings (1 file scanned)" in ran.err


def test_each_kind_is_reported_with_file_line_detector_and_no_secret(cli: Cli, tree: Path) -> None:
    """Exit 1; every finding names file, line, detector and a redacted value, never the secret."""
    planted = plants()
    for plant in planted:
        (tree / plant.filename).parent.mkdir(parents=True, exist_ok=True)
        (tree / plant.filename).write_text(plant.content, encoding="utf-8")
    ran = cli()
    assert ran.code == 1
    for plant in planted:
        line = next(line for line in ran.out.splitlines() if line.startswith(plant.filename))
        assert f"{plant.detector} ({plant.slug})" in line
        assert "…" in line
        assert plant.secret not in ran.out + ran.err
    assert "8 findings in 8 files" in ran.out
    assert "pragma: allowlist secret" in ran.out


def test_json_report_lists_findings_without_secrets(cli: Cli, tree: Path) -> None:
    """--json prints one JSON document: findings with hashes, counts, suppressions."""
    key = testing.fernet_key()
    (tree / "conf.py").write_text(
        f'FERNET_KEY = "{key}"\nB = "arn:aws:iam::123456789012:role/x"\n', encoding="utf-8"
    )
    ran = cli("--json")
    report = json.loads(ran.out)
    assert ran.code == 1
    assert report["findings"] == [
        {
            "file": "conf.py",
            "line": 1,
            "detector": "Fernet Key",
            "detector_id": "fernet-key",
            "redacted": report["findings"][0]["redacted"],
            "hashed_secret": hash_secret(key),
        }
    ]
    assert (report["files_scanned"], report["suppressed"]) == (1, {"example": 1})
    assert key not in ran.out


def test_baseline_suppresses_and_no_baseline_reports(cli: Cli, tree: Path) -> None:
    """A finding recorded in .secrets.baseline passes; --no-baseline shows it again."""
    key = testing.fernet_key()
    (tree / "conf.py").write_text(f'FERNET_KEY = "{key}"\n', encoding="utf-8")
    entry = {"type": "Fernet Key", "hashed_secret": hash_secret(key), "line_number": 1}
    (tree / ".secrets.baseline").write_text(
        json.dumps({"version": "1.5.0", "results": {"conf.py": [entry]}}), encoding="utf-8"
    )
    assert cli("conf.py").code == 0
    assert cli("conf.py", "--no-baseline").code == 1


def test_broken_baseline_is_an_error_naming_the_file(cli: Cli, tree: Path) -> None:
    """An unreadable baseline stops the scan with one line naming the file and the fix."""
    (tree / "b.json").write_text("{", encoding="utf-8")
    ran = cli("--baseline", "b.json")
    assert ran.code == 1
    assert ran.err.startswith("error: baseline b.json is unusable: not JSON")


def test_missing_path_is_an_error(cli: Cli, tree: Path) -> None:
    """A path that does not exist is named in the error."""
    ran = cli("nowhere.py")
    assert (ran.code, ran.err.strip()) == (
        1,
        "error: no such file or directory: nowhere.py; check the paths to scan",
    )


def test_binary_and_oversized_files_are_skipped_and_listed(cli: Cli, tree: Path) -> None:
    """Binary files and files over --max-bytes are not scanned; the JSON lists them."""
    (tree / "image.png").write_bytes(b"\x89PNG\0\0" + testing.fernet_key().encode())
    (tree / "big.txt").write_text("x" * 2000, encoding="utf-8")
    report = json.loads(cli("--json", "--max-bytes", "1000").out)
    assert report["skipped"] == [
        {"file": "big.txt", "reason": "larger than 1000 bytes"},
        {"file": "image.png", "reason": "binary"},
    ]


def test_skipped_files_are_listed_in_the_text_report(cli: Cli, tree: Path) -> None:
    """The text report names every file it did not scan and why (on stderr, beside the
    summary), with and without findings."""
    (tree / "image.png").write_bytes(b"\x89PNG\0\0" + testing.fernet_key().encode())
    (tree / "big.txt").write_text("x" * 2000, encoding="utf-8")
    (tree / "app.py").write_text("print('hello')\n", encoding="utf-8")
    ran = cli("--max-bytes", "1000")
    assert (ran.code, ran.out) == (0, "")
    assert "big.txt: skipped, not scanned (larger than 1000 bytes)" in ran.err
    assert "image.png: skipped, not scanned (binary)" in ran.err
    assert "no findings (1 file scanned, 2 skipped)" in ran.err
    (tree / "app.py").write_text(f'FERNET_KEY = "{testing.fernet_key()}"\n', encoding="utf-8")
    ran = cli("--max-bytes", "1000")
    assert ran.code == 1
    assert "image.png: skipped, not scanned (binary)" in ran.err
    assert "1 finding in 1 file (1 file scanned, 2 skipped)" in ran.out


@pytest.mark.parametrize("name", ["--help", "--list-detectors", "-x.py", "--"])
def test_file_names_after_double_dash_are_never_options(cli: Cli, tree: Path, name: str) -> None:
    """After ``--`` (as the pre-commit hook passes them) a file named like an option is
    scanned, not obeyed."""
    (tree / name).write_text(f'FERNET_KEY = "{testing.fernet_key()}"\n', encoding="utf-8")
    ran = cli("--no-baseline", "--", name)
    assert ran.code == 1
    assert ran.out.startswith(f"{name}:1: Fernet Key (fernet-key): ")


def test_parallel_scan_reports_the_same_findings(cli: Cli, tree: Path) -> None:
    """--jobs 2 finds exactly what one process finds."""
    for i in range(6):
        (tree / f"f{i}.py").write_text(f'FERNET_KEY = "{testing.fernet_key()}"\n', encoding="utf-8")
    one = json.loads(cli("--json", "--jobs", "1").out)
    two = json.loads(cli("--json", "--jobs", "2").out)
    assert one == two
    assert len(one["findings"]) == 6


def test_list_detectors_names_all_eight(cli: Cli, tree: Path) -> None:
    """--list-detectors prints one line per detector."""
    ran = cli("--list-detectors")
    assert [line.split()[0] for line in ran.out.splitlines()] == list(testing.KINDS)


def test_directory_in_git_means_tracked_and_new_files_not_ignored(
    cli: Cli, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a git work tree a directory yields git's files; --all-files adds ignored ones."""
    monkeypatch.chdir(repo.path)
    key = testing.fernet_key()
    repo.write(".gitignore", "build/\n")
    repo.write("src/tracked.py", f'FERNET_KEY = "{key}"\n')
    repo.write("src/new.py", f'FERNET_KEY = "{key}"\n')
    repo.write("build/out.py", f'FERNET_KEY = "{key}"\n')
    repo.run("git", "add", ".gitignore", "src/tracked.py")
    assert [f["file"] for f in json.loads(cli("--json").out)["findings"]] == [
        "src/new.py",
        "src/tracked.py",
    ]
    everything = json.loads(cli("--json", "--all-files", ".").out)["findings"]
    assert [f["file"] for f in everything] == ["build/out.py", "src/new.py", "src/tracked.py"]


def test_staged_scans_the_index_not_the_working_tree(
    cli: Cli, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--staged reads what git would commit: a staged secret counts even if since removed from
    the file, and an unstaged secret does not."""
    monkeypatch.chdir(repo.path)
    key = testing.fernet_key()
    repo.write("a.py", f'FERNET_KEY = "{key}"\n')
    repo.run("git", "add", "a.py")
    repo.write("a.py", "K = load_key()\n")
    repo.write("b.py", "ok = True\n")
    repo.run("git", "add", "b.py")
    repo.write("b.py", f'FERNET_KEY = "{key}"\n')
    ran = cli("--staged", "--json")
    assert ran.code == 1
    assert [(f["file"], f["detector_id"]) for f in json.loads(ran.out)["findings"]] == [
        ("a.py", "fernet-key")
    ]


@pytest.mark.parametrize("name", ["a\nb.py", "-x.py", 'q"uote\t.py', " lead.py"])
def test_staged_scans_files_with_any_name(
    cli: Cli, repo: Repo, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A staged file whose name holds a newline (or a tab, a quote, a leading dash or blank) is
    scanned, not dropped; the text report quotes a name holding a control character."""
    monkeypatch.chdir(repo.path)
    key = testing.fernet_key()
    (repo.path / name).write_text(f'FERNET_KEY = "{key}"\n', encoding="utf-8")
    repo.write("ok.py", "ok = True\n")
    repo.run("git", "add", "--", name, "ok.py")
    ran = cli("--staged", "--json")
    assert ran.code == 1
    assert [f["file"] for f in json.loads(ran.out)["findings"]] == [name]
    text = cli("--staged").out.splitlines()
    shown = name if name.isprintable() else json.dumps(name)
    assert text[0].startswith(f"{shown}:1: Fernet Key (fernet-key): ")
    assert key not in "\n".join(text)


def test_staged_outside_git_is_a_clear_error(cli: Cli, tree: Path) -> None:
    """--staged needs a git repository and says so."""
    ran = cli("--staged")
    assert ran.code == 1
    assert ran.err.startswith("error: 'git rev-parse --show-toplevel' failed")


def test_console_script_exit_status_is_one_on_findings(tree: Path) -> None:
    """The installed erp-secrets command exits 1 on findings and 0 when clean (CI relies on it)."""
    (tree / "dirty.py").write_text(f'FERNET_KEY = "{testing.fernet_key()}"\n', encoding="utf-8")
    (tree / "clean.py").write_text("K = load()\n", encoding="utf-8")
    command = [str(Path(sys.executable).with_name("erp-secrets")), "scan"]
    assert subprocess.run([*command, "dirty.py"], capture_output=True).returncode == 1
    assert subprocess.run([*command, "clean.py"], capture_output=True).returncode == 0
