"""`make demo`'s script: runs in its scratch folder, says what it did in words, runs again."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "scripts" / "demo.py"


def run_demo(folder: Path) -> subprocess.CompletedProcess[str]:
    """The demo with its scratch folder at ``folder``, the environment's secrets removed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ERP_", "JWT_", "FERNET"))}
    env["ERP_DEMO_DIR"] = str(folder)
    return subprocess.run(
        [sys.executable, str(DEMO)], env=env, capture_output=True, text=True, check=False
    )


def test_demo_runs_twice_in_its_folder_and_tells_it_in_words(tmp_path: Path) -> None:
    """Two runs both succeed with the same story; no epochs, no None, nothing in the checkout."""
    before = {p.name for p in ROOT.iterdir()}
    folder = tmp_path / "demo"
    outputs = [run_demo(folder) for _ in range(2)]
    for done in outputs:
        assert done.returncode == 0, done.stderr
        assert "still verifies" in done.stdout
        assert "chain of 8 entries is intact" in done.stdout
        assert "None" not in done.stdout
        assert not re.search(r"\b1[6-9]\d{8}\b", done.stdout), "a raw epoch time"
    assert (folder / "jwt_secrets.json").exists()
    assert {p.name for p in ROOT.iterdir()} <= before | {".demo"}


def test_demo_refuses_to_empty_a_folder_it_did_not_make(tmp_path: Path) -> None:
    """ERP_DEMO_DIR pointing at a folder with someone's files: exit 2, the files untouched."""
    (tmp_path / "precious.txt").write_text("keep me")
    done = run_demo(tmp_path)
    assert done.returncode == 2
    assert "not a demo folder" in done.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"
