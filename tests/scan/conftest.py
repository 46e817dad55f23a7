"""Fixtures for the secret-scanning tests: real git repositories, pre-commit, planted secrets.

Every secret-looking value is generated at test time (``erp.scan.testing``); none is committed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from erp.scan import testing

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Plant:
    """A file holding one secret of one kind, in a realistic context."""

    slug: str
    detector: str
    filename: str
    content: str
    secret: str


def plants() -> list[Plant]:
    """One planted secret per detector, each in a file type where it typically leaks."""
    k = {slug: testing.make(slug) for slug in testing.KINDS}
    return [
        Plant("fernet-key", "Fernet Key", "app/settings.py",
              f'FERNET_KEY = "{k["fernet-key"]}"\n', k["fernet-key"]),
        Plant("jwt-secret", "JWT Signing Secret", "config/jwt_secrets.json",
              '{\n  "JWT_SECRETS": {\n    "k-20261125T120000Z-a1b2c3": '
              f'"{k["jwt-secret"]}"\n  }},\n  "JWT_SECRET_ID": "k-20261125T120000Z-a1b2c3"\n}}\n',
              k["jwt-secret"]),
        Plant("aws-arn", "AWS ARN", "deploy/roles.yaml",
              f"deploy_role: {k['aws-arn']}\n", k["aws-arn"]),
        Plant("aws-access-key-id", "AWS Access Key ID", ".env",
              f"AWS_ACCESS_KEY_ID={k['aws-access-key-id']}\n", k["aws-access-key-id"]),
        Plant("aws-secret-access-key", "AWS Secret Access Key", "aws/credentials.ini",
              f"[default]\naws_secret_access_key = {k['aws-secret-access-key']}\n",
              k["aws-secret-access-key"]),
        Plant("private-key", "Private Key Block", "keys/deploy_key.pem",
              k["private-key"], k["private-key"].splitlines()[1]),
        Plant("pagerduty-routing-key", "PagerDuty Routing Key", "alerts/pagerduty.json",
              f'{{"routing_key": "{k["pagerduty-routing-key"]}", "event_action": "trigger"}}\n',
              k["pagerduty-routing-key"]),
        Plant("slack-webhook", "Slack Webhook URL", "alerts/notify.py",
              f'WEBHOOK_URL = "{k["slack-webhook"]}"\n', k["slack-webhook"]),
    ]  # fmt: skip


def call_argument_plants() -> list[Plant]:
    """detect-secrets' known misses: secrets passed as call arguments."""
    key_id, secret_key = testing.access_key_id(), testing.secret_access_key()
    fernet, arn = testing.fernet_key(), testing.aws_arn()
    return [
        Plant("aws-access-key-id", "AWS Access Key ID", "jobs/upload.py",
              f'client = boto3.client("s3", aws_access_key_id="{key_id}", '
              f'aws_secret_access_key="{secret_key}")\n', key_id),
        Plant("fernet-key", "Fernet Key", "jobs/crypt.py",
              f'cipher = Fernet(b"{fernet}")\n', fernet),
        Plant("aws-arn", "AWS ARN", "jobs/assume.py",
              f'creds = sts.assume_role(RoleArn="{arn}", RoleSessionName="ci")\n', arn),
    ]  # fmt: skip


def git_env(home: Path) -> dict[str, str]:
    """An environment for git and pre-commit that ignores the user's config and caches."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(
        {
            "HOME": str(home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": str(home / "gitconfig"),
            "GIT_AUTHOR_NAME": "Scan Test",
            "GIT_AUTHOR_EMAIL": "scan-test@example.invalid",
            "GIT_COMMITTER_NAME": "Scan Test",
            "GIT_COMMITTER_EMAIL": "scan-test@example.invalid",
            "PRE_COMMIT_HOME": str(home / "pre-commit"),
            "PRE_COMMIT_COLOR": "never",
            "NO_COLOR": "1",
        }
    )
    # The hooks are `language: system`: they need the commands of this interpreter's env.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@dataclass
class Repo:
    """A throw-away git repository and how to run commands in it."""

    path: Path
    env: Mapping[str, str]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            list(args), cwd=self.path, env=dict(self.env), capture_output=True, text=True
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{args} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        return done

    def write(self, name: str, content: str) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        return target

    def commit(self, *names: str, message: str = "change") -> subprocess.CompletedProcess[str]:
        self.run("git", "add", "--", *names)
        return self.run("git", "commit", "-q", "-m", message, check=False)


@pytest.fixture(scope="session")
def scan_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HOME for git and PRE_COMMIT_HOME, shared by the session (pre-commit caches there)."""
    home = tmp_path_factory.mktemp("scan-home")
    (home / "gitconfig").write_text("[init]\n\tdefaultBranch = main\n", encoding="utf-8")
    return home


@pytest.fixture
def repo(tmp_path: Path, scan_home: Path) -> Repo:
    """An empty git repository (no hooks installed)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    path = tmp_path / "repo"
    path.mkdir()
    made = Repo(path, git_env(scan_home))
    made.run("git", "init", "-q")
    return made
