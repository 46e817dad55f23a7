"""Both hooks fail closed when their configuration cannot load, and select files by one rule."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
from pathlib import Path

from erp.scan import scan_files, testing

from .conftest import ROOT, Repo


def _ds_hook(repo: Repo, *files: str) -> tuple[int, str]:
    done = repo.run(
        sys.executable, "-m", "erp.scan.ds_hook", "--baseline", ".secrets.baseline",
        "--no-verify", *files, check=False,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def test_detect_secrets_hook_fails_closed_when_the_plugins_cannot_load(repo: Repo) -> None:
    """The project's baseline copied into another repository: detect-secrets alone passes the
    commit; the project's hook exits 2 naming the missing plugin file and the fix."""
    shutil.copy(ROOT / ".secrets.baseline", repo.path)
    repo.write("app.py", "x = 1\n")
    plain = repo.run("detect-secrets-hook", "--baseline", ".secrets.baseline", "--no-verify",
                     "app.py", check=False)  # fmt: skip
    assert plain.returncode == 0  # the upstream behaviour this wrapper exists for
    code, output = _ds_hook(repo, "app.py")
    assert code == 2
    assert "src/erp/scan/ds_plugins.py" in output
    assert "--init-baseline" in output


def test_detect_secrets_hook_fails_closed_on_a_filter_that_cannot_import(repo: Repo) -> None:
    """A filter path that does not import is a closed gate, not a warning."""
    repo.run("erp-secrets", "scan", "--init-baseline")
    path = repo.path / ".secrets.baseline"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["filters_used"].append({"path": "erp.scan.no_such_module.no_such_filter"})
    path.write_text(json.dumps(doc), encoding="utf-8")
    repo.write("app.py", "x = 1\n")
    code, output = _ds_hook(repo, "app.py")
    assert code == 2
    assert "erp.scan.no_such_module.no_such_filter" in output


def test_detect_secrets_hook_fails_closed_on_a_broken_baseline(repo: Repo) -> None:
    """An unreadable baseline stops the commit."""
    repo.write(".secrets.baseline", "{not json")
    repo.write("app.py", "x = 1\n")
    code, output = _ds_hook(repo, "app.py")
    assert code == 2
    assert "not JSON" in output


NAMES = [
    "go.sum", "package-lock.json", "poetry.lock", "yarn.lock", "static/site.css",
    "static/logo.svg", "static/app.js.map", "swagger/api.yaml", "Cargo.lock", "notes.txt",
]  # fmt: skip


def test_both_hooks_select_the_same_files(repo: Repo) -> None:
    """A key in a lock file, go.sum, CSS, SVG, a source map or a swagger file is reported by
    both hooks; a binary file is skipped by both."""
    repo.run("erp-secrets", "scan", "--init-baseline")
    for name in NAMES:
        repo.write(name, f'FERNET_KEY = "{testing.fernet_key()}"\n')
    (repo.path / "blob.bin").write_bytes(
        b"\0\1\2FERNET_KEY=" + testing.fernet_key().encode() + b"\n"
    )
    files = [*NAMES, "blob.bin"]
    code, output = _ds_hook(repo, *files)
    assert code == 1
    ds_files = {line.split("Location:", 1)[1].strip().rsplit(":", 1)[0]
                for line in output.splitlines() if "Location:" in line}  # fmt: skip
    ours = scan_files([str(repo.path / f) for f in files])
    erp_files = {str(Path(f.path).relative_to(repo.path)) for f in ours.findings}
    assert ds_files == erp_files == set(NAMES)
    assert [reason for _, reason in ours.skipped] == ["binary"]


def _ppk() -> str:
    body = base64.b64encode(os.urandom(600)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (
        "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy\n"
        f"Public-Lines: 1\nAAAAC3NzaC1lZDI1NTE5AAAAI\nPrivate-Lines: {len(lines)}\n"
        + "\n".join(lines)
        + "\nPrivate-MAC: 00ff\n"
    )


def _ssh2() -> str:
    body = base64.b64encode(os.urandom(600)).decode()
    return (
        '---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: "rsa-key"\n'
        + "\n".join(body[i : i + 70] for i in range(0, len(body), 70))
        + "\n---- END SSH2 ENCRYPTED PRIVATE KEY ----\n"
    )


def _k8s_secret() -> str:
    encoded = base64.b64encode(testing.secret_access_key().encode()).decode()
    return f"kind: Secret\ndata:\n  aws_secret_access_key: {encoded}\n"


def test_both_hooks_find_putty_ssh2_and_kubernetes_secrets(repo: Repo) -> None:
    """PuTTY .ppk, ssh.com SSH2 keys and base64 in a Secret's data: blocked by both hooks."""
    repo.run("erp-secrets", "scan", "--init-baseline")
    files = {"deploy.ppk": _ppk(), "id_ssh2": _ssh2(), "k8s/secret.yaml": _k8s_secret()}
    for name, content in files.items():
        repo.write(name, content)
    code, output = _ds_hook(repo, *files)
    assert code == 1
    assert output.count("Private Key Block") == 2
    assert "AWS Secret Access Key" in output
    ours = repo.run("erp-secrets", "scan", "--no-baseline", *files, check=False)
    assert ours.returncode == 1
    assert all(f"{name}:" in ours.stdout for name in files)


def test_detect_secrets_hook_takes_names_after_double_dash_as_files(repo: Repo) -> None:
    """Files named "--help" or "--baseline=other" after "--" are scanned, not parsed as
    options, by the wrapper (which reads --baseline) and by detect-secrets."""
    repo.run("erp-secrets", "scan", "--init-baseline")
    names = ["--help", "--baseline=missing.json", "-x.py"]
    for name in names:
        (repo.path / name).write_text(f'KEY = "{testing.access_key_id()}"\n', encoding="utf-8")
    code, output = _ds_hook(repo, "--", *names)
    assert code == 1, output
    assert sorted(line.split("Location:", 1)[1].strip() for line in output.splitlines()
                  if "Location:" in line) == sorted(f"{name}:1" for name in names)  # fmt: skip


def test_a_file_detect_secrets_cannot_decode_is_scanned_by_erp_only(repo: Repo) -> None:
    """The one difference in file selection (docs/scanning.md): detect-secrets skips a Latin-1
    file without a word; erp-secrets scan reads bytes and blocks its key."""
    repo.run("erp-secrets", "scan", "--init-baseline")
    (repo.path / "latin1.py").write_bytes(
        b"# caf\xe9\n" + f'KEY = "{testing.access_key_id()}"\n'.encode()
    )
    code, output = _ds_hook(repo, "--", "latin1.py")
    assert (code, "Location:" in output) == (0, False)
    ours = repo.run("erp-secrets", "scan", "--no-baseline", "--", "latin1.py", check=False)
    assert ours.returncode == 1
    assert ours.stdout.startswith("latin1.py:2: AWS Access Key ID")
