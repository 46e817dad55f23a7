"""Ctrl-C at 3 a.m.: one sentence saying nothing is half-written, exit 130, no traceback.

And a re-encryption stopped part-way never reports itself "finished".
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from erp import scripting
from erp.fernet.reencrypt.progress import PlainReporter
from erp.jwt import rotation
from erp.testing import CliResult


def _interrupt(*_args: Any, **_kwargs: Any) -> Any:
    raise KeyboardInterrupt


def test_ctrl_c_in_a_cli_command_is_one_sentence_and_exit_130(
    erp_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rotation, "rotate_key", _interrupt)
    result = erp_cli("jwt", "rotate")
    assert result.code == 130
    assert result.err.strip().startswith("interrupted: nothing is half-written")
    assert "run the command again" in result.err
    assert "Traceback" not in result.err


def test_ctrl_c_in_the_rotation_script_is_one_sentence_and_exit_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Waiting for a held lock, say: the script's own error path, no traceback."""
    monkeypatch.setattr(scripting, "rotate_key", _interrupt)
    assert scripting.rotate_jwt_main() == 130
    assert capsys.readouterr().err.startswith("interrupted: nothing is half-written")


def test_a_stopped_pass_is_not_reported_finished() -> None:
    out = io.StringIO()
    reporter = PlainReporter(out, interval_seconds=0, monotonic=lambda: 0.0)
    reporter.begin("users.ssn", 200, 0, "pass 1")
    reporter.advance(66)
    reporter.end(finished=False)
    last = out.getvalue().strip().splitlines()[-1]
    assert "66/200" in last
    assert last.endswith("stopped (rerun to resume)")
    assert "finished" not in last
