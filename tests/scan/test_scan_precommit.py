"""The project's pre-commit configuration in a real git repository with real pre-commit.

A template repository (the project's .pre-commit-config.yaml, a baseline made by
``erp-secrets scan --init-baseline``, hooks installed) is built once and copied per test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from erp.scan import load_baseline, scan_files, testing

from .conftest import ROOT, Plant, Repo, call_argument_plants, git_env, plants


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, scan_home: Path) -> Repo:
    """A repository with the project's hooks installed and one clean commit."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    made = Repo(tmp_path_factory.mktemp("template") / "repo", git_env(scan_home))
    made.path.mkdir()
    made.run("git", "init", "-q")
    shutil.copy(ROOT / ".pre-commit-config.yaml", made.path)
    made.run("erp-secrets", "scan", "--init-baseline")
    made.write("app.py", "print('hello')\n")
    made.run("git", "add", ".")
    made.run("git", "commit", "-q", "--no-verify", "-m", "initial")
    made.run(sys.executable, "-m", "pre_commit", "install")
    return made


@pytest.fixture
def hooked(template: Repo, tmp_path: Path) -> Repo:
    """A fresh copy of the template repository."""
    target = tmp_path / "repo"
    shutil.copytree(template.path, target, symlinks=True)
    return Repo(target, template.env)


def head(repo: Repo) -> str:
    return repo.run("git", "rev-parse", "HEAD").stdout.strip()


@pytest.mark.parametrize(
    "plant",
    plants() + call_argument_plants(),
    ids=lambda p: f"{p.slug}:{p.filename}",
)
def test_commit_with_a_planted_secret_is_blocked_naming_it(hooked: Repo, plant: Plant) -> None:
    """git commit fails; the output names the file and the detector; the secret is not shown."""
    before = head(hooked)
    hooked.write(plant.filename, plant.content)
    done = hooked.commit(plant.filename)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert head(hooked) == before
    assert f"{plant.filename}:" in output
    assert plant.detector in output
    assert plant.secret not in output
    assert "erp-secrets scan" in output
    assert "detect-secrets" in output


def test_clean_commit_passes(hooked: Repo) -> None:
    """Ordinary code, docs with documentation examples, and secrets read at run time commit."""
    hooked.write(
        "src/aws.py",
        "import os\n\n"
        'client = boto3.client("s3", aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"])\n'
        'role = f"arn:aws:iam::{account}:role/deploy"\n'
        'cipher = Fernet(get_secret("FERNET_KEY"))\n',
    )
    hooked.write(
        "docs/aws.md",
        "Assume `arn:aws:iam::123456789012:role/deploy` with the key "
        f"`{testing.documented_access_key_id()}`.\n",
    )
    done = hooked.commit("src/aws.py", "docs/aws.md")
    assert done.returncode == 0, done.stdout + done.stderr


def test_allow_pragma_lets_a_reviewed_value_through(hooked: Repo) -> None:
    """`pragma: allowlist secret` in a comment satisfies both hooks."""
    key = testing.fernet_key()
    hooked.write("fixture.py", f'KNOWN = "{key}"  # pragma: allowlist secret\n')
    done = hooked.commit("fixture.py")
    assert done.returncode == 0, done.stdout + done.stderr


def test_baseline_refreshed_by_detect_secrets_lets_a_reviewed_value_through(hooked: Repo) -> None:
    """The documented workflow: record the finding with detect-secrets, commit the baseline;
    both hooks then accept that secret in that file (and only there)."""
    secret = testing.jwt_secret()
    hooked.write("conf/dev.json", f'{{"JWT_SECRETS": {{"dev": "{secret}"}}}}\n')
    hooked.run("git", "add", "conf/dev.json")
    hooked.run("detect-secrets", "scan", "--no-verify", "--baseline", ".secrets.baseline")
    baseline = load_baseline(hooked.path / ".secrets.baseline")
    assert len(baseline) == 1
    done = hooked.commit("conf/dev.json", ".secrets.baseline")
    assert done.returncode == 0, done.stdout + done.stderr
    hooked.write("conf/prod.json", f'{{"JWT_SECRETS": {{"prod": "{secret}"}}}}\n')
    assert hooked.commit("conf/prod.json").returncode != 0


def failed_hooks(output: str) -> set[str]:
    """Ids of the hooks pre-commit reports as failed."""
    return {line.split(":", 1)[1].strip() for line in output.splitlines() if "- hook id:" in line}


@pytest.mark.parametrize("name", ["--help", "--list-detectors", "-x.py"])
def test_a_file_named_like_an_option_is_scanned_by_both_hooks(hooked: Repo, name: str) -> None:
    """pre-commit appends file names after the entry's "--": a staged file named "--help"
    cannot make a hook print its help and pass, and a clean "-x.py" commits."""
    key = testing.access_key_id()
    (hooked.path / name).write_text(f'KEY = "{key}"\n', encoding="utf-8")
    done = hooked.commit(name)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert failed_hooks(output) == {"erp-secrets-scan", "detect-secrets"}
    assert output.count(f"{name}:1") == 2  # erp's "name:1: ..." and detect-secrets' Location
    assert key not in output
    (hooked.path / name).write_text("x = 1\n", encoding="utf-8")
    done = hooked.commit(name)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_pragma_before_a_lone_carriage_return_allows_nothing(hooked: Repo) -> None:
    """A pragma, a lone carriage return, then a key: two lines to Python, detect-secrets and
    editors, so both hooks report the key on line 2."""
    (hooked.path / "a.py").write_bytes(
        f'# pragma: allowlist secret\rKEY = "{testing.access_key_id()}"\n'.encode()
    )
    done = hooked.commit("a.py")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert failed_hooks(output) == {"erp-secrets-scan", "detect-secrets"}
    assert "a.py:2: AWS Access Key ID" in output
    assert "Location:    a.py:2" in output


def test_a_trailing_nextline_pragma_in_a_latin1_file_allows_nothing(hooked: Repo) -> None:
    """detect-secrets skips a file it cannot decode; erp-secrets scan reads it and ignores a
    nextline pragma that follows code on its line."""
    (hooked.path / "a.py").write_bytes(
        b"# caf\xe9\nx = 1  # pragma: allowlist nextline secret\n"
        + f'KEY = "{testing.access_key_id()}"\n'.encode()
    )
    done = hooked.commit("a.py")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert failed_hooks(output) == {"erp-secrets-scan"}
    assert "a.py:3: AWS Access Key ID" in output


def test_pre_commit_config_uses_only_local_system_hooks() -> None:
    """No hook repository is cloned and nothing is installed at commit time."""
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    assert {hook["language"] for hook in hooks} == {"system"}
    assert {hook["id"] for hook in hooks} == {"erp-secrets-scan", "detect-secrets"}
    assert all("--baseline .secrets.baseline" in hook["entry"] for hook in hooks)
    assert all(hook["entry"].endswith(" --") for hook in hooks)  # file names are not options
    assert "--no-verify" in next(h["entry"] for h in hooks if h["id"] == "detect-secrets")
    assert all("exclude" not in hook and "files" not in hook for hook in hooks)


def test_project_tree_has_no_unreviewed_findings() -> None:
    """Dogfooding: the project's committed files pass erp-secrets scan with its baseline."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    names = [str(ROOT / n) for n in tracked.stdout.decode().split("\0") if n]
    report = scan_files(names, baseline=load_baseline(ROOT / ".secrets.baseline"))
    assert [str(f) for f in report.findings] == []
