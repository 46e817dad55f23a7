"""Placeholder: the AWS Secrets Manager source (replaced by the AWS backend)."""

from __future__ import annotations

from collections.abc import Mapping

from erp.errors import ConfigError


class AwsSecretSource:
    """Reads secrets from AWS Secrets Manager."""

    @classmethod
    def from_env(cls, secret_id: str, *, environ: Mapping[str, str]) -> AwsSecretSource:
        raise ConfigError("the AWS Secrets Manager backend is not available in this build")

    def lookup(self, name: str) -> str | None:
        return None

    def describe(self) -> str:
        return "AWS Secrets Manager"

    def refresh(self) -> None:
        return None
