"""Optional dependencies: which extra brings which module, and one clear error when it is missing.

``pip install erp-secrets`` brings only what JWT and Fernet need (PyJWT, cryptography,
filelock, click). AWS, databases, scanning, tables and metrics are extras; code that needs
one imports it through :func:`require`, so a missing extra is a :class:`ConfigError` that
names the ``pip install`` line instead of a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from erp.errors import ConfigError

__all__ = ["EXTRA_FOR", "MissingExtra", "extra_for", "install_hint", "require"]

# Top-level module name -> the extra of erp-secrets that installs it (pyproject.toml).
EXTRA_FOR: dict[str, str] = {
    "boto3": "aws",
    "botocore": "aws",
    "sqlalchemy": "db",
    "psycopg": "db",
    "detect_secrets": "scan",
    "yaml": "scan",
    "rich": "rich",
    "prometheus_client": "metrics",
}


class MissingExtra(ConfigError):
    """A feature needs a package of an extra that is not installed."""

    def __init__(self, module: str, extra: str) -> None:
        self.module = module
        self.extra = extra
        super().__init__(
            f"this needs the Python package {module!r}, which is not installed: "
            f"{install_hint(extra)} (or '[all]'), then retry"
        )


def install_hint(extra: str) -> str:
    """The command that installs ``extra`` into the running environment."""
    return f"pip install 'erp-secrets[{extra}]'"


def extra_for(module: str) -> str | None:
    """The extra that provides ``module`` (a dotted name is fine), or None if none does."""
    return EXTRA_FOR.get(module.partition(".")[0])


def require(module: str, extra: str | None = None) -> ModuleType:
    """Import ``module``; if it (or its package) is missing, raise :class:`MissingExtra`.

    ``extra`` defaults to the one :data:`EXTRA_FOR` names for the top-level package.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.partition(".")[0]
        # Only the package itself being absent is a missing extra; a broken install of it
        # (one of its own imports failing) must surface as it is.
        if exc.name != top:
            raise
        raise MissingExtra(top, extra or EXTRA_FOR.get(top, "all")) from None
