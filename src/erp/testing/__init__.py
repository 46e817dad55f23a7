"""Public helpers for testing code that uses ``erp``; importing this never imports pytest.

* :class:`FrozenClock`: a clock that moves only when told to (inject it, never sleep);
* :class:`SecretSourceContract` (from :mod:`erp.testing.contract`, which needs pytest): the
  promises every secret source keeps, as a test class to subclass;
* :func:`run_cli`: run ``erp-secrets ARGS`` in-process and get its exit code and output.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from erp.clock import FrozenClock

if TYPE_CHECKING:
    from erp.testing.contract import SecretSourceContract, Update

__all__ = ["CliResult", "FrozenClock", "SecretSourceContract", "Update", "run_cli"]


@dataclass(frozen=True)
class CliResult:
    """What one ``erp-secrets`` invocation did: exit code, stdout and stderr."""

    code: int
    out: str
    err: str


def run_cli(*args: str) -> CliResult:
    """Run ``erp-secrets ARGS`` in this process, with the exit code the console script gives."""
    from erp.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result = main(list(args))
            code = int(result or 0)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return CliResult(code, out.getvalue(), err.getvalue())


def __getattr__(name: str) -> Any:
    if name in ("SecretSourceContract", "Update"):  # pytest only when asked for
        from erp.testing import contract

        return getattr(contract, name)
    raise AttributeError(f"module 'erp.testing' has no attribute {name!r}")
