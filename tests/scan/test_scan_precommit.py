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


def test_pre_commit_config_uses_only_local_system_hooks() -> None:
    """No hook repository is cloned and nothing is installed at commit time."""
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    assert {hook["language"] for hook in hooks} == {"system"}
    assert {hook["id"] for hook in hooks} == {"erp-secrets-scan", "detect-secrets"}
    assert all("--baseline .secrets.baseline" in hook["entry"] for hook in hooks)
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
