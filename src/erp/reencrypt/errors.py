"""Errors of the re-encryption tools: each names the database, table, column or row."""

from __future__ import annotations

from erp.errors import ConfigError

__all__ = ["DatabaseUnavailable", "TargetNotFound", "WrongKeys"]


class DatabaseUnavailable(ConfigError):
    """The database cannot be reached or opened; nothing was written."""


class TargetNotFound(ConfigError):
    """A table or column to re-encrypt does not exist, or has no usable primary key."""


class WrongKeys(ConfigError):
    """No sampled value of a column opens with any configured key: the keys are wrong."""
