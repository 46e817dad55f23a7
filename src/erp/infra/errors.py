"""Errors of the infrastructure feature; all say the setup needs fixing (:class:`ConfigError`)."""

from __future__ import annotations

from erp.errors import ConfigError

__all__ = ["StrictDeployError", "TemplateError", "TemplateInvalid"]


class TemplateError(ConfigError):
    """The template file cannot be read as a CloudFormation template."""


class TemplateInvalid(ConfigError):
    """The template has lint errors (listed before this is raised)."""


class StrictDeployError(ConfigError):
    """The emulator skipped a resource or output that is not a known exclusion."""
