"""Public helpers for testing code that uses ``erp``; importing this never imports pytest.

* :class:`FrozenClock`: a clock that moves only when told to (inject it, never sleep);
* :class:`SecretSourceContract` (from :mod:`erp.testing.contract`, which needs pytest): the
  promises every secret source keeps, as a test class to subclass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from erp.clock import FrozenClock

if TYPE_CHECKING:
    from erp.testing.contract import SecretSourceContract, Update

__all__ = ["FrozenClock", "SecretSourceContract", "Update"]


def __getattr__(name: str) -> Any:
    if name in ("SecretSourceContract", "Update"):  # pytest only when asked for
        from erp.testing import contract

        return getattr(contract, name)
    raise AttributeError(f"module 'erp.testing' has no attribute {name!r}")
