"""Names a package exports but loads on first use (PEP 562 module ``__getattr__``).

``__getattr__ = lazy_exports(__name__, {"name": "home.module", ...})`` in a package's
``__init__`` makes ``package.name`` import ``home.module`` only when first asked for, then
binds it in the package so the next look-up is a plain attribute. Imports nothing itself:
``import erp`` stays cheap.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported at run time (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` loading each name from its home module."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(home), name)
        vars(sys.modules[package])[name] = value  # the package's globals, as on first use
        return value

    return __getattr__
