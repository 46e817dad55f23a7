"""Model fields whose values are stored encrypted, on the same Fernet ring as ``erp.security``.

``EncryptedTextField`` holds text, ``EncryptedJSONField`` any JSON value; both store a Fernet
token in a text column, encrypt with ``FERNET_KEY`` on every save and decrypt with it or
any of ``FERNET_FALLBACK_KEYS`` on read, so a key rotation needs no code change and
``erp-secrets fernet reencrypt`` can rewrite the column underneath (it keeps each token's
timestamp). Every encryption of a value differs, so lookups other than ``isnull`` cannot
work and are refused instead of silently matching nothing.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core import checks
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import Expression

from erp.security import decrypt, encrypt

__all__ = ["EncryptedField", "EncryptedJSONField", "EncryptedTextField"]


class EncryptedField(models.TextField):  # type: ignore[type-arg]  # stubs need the plugin
    """Base of the encrypted fields: a text column of Fernet tokens."""

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        # each encryption differs: a unique or indexed ciphertext column constrains nothing
        for option in ("unique", "db_index"):  # unique is also true of a primary key
            if getattr(self, option, False):
                errors.append(
                    checks.Error(
                        f"{type(self).__name__} cannot be {option}: every encryption of a "
                        "value differs, so the database cannot compare them",
                        obj=self,
                        id="erp.E001",
                    )
                )
        return errors

    def get_lookup(self, lookup_name: str) -> Any:
        return super().get_lookup(lookup_name) if lookup_name == "isnull" else None

    def get_transform(self, lookup_name: str) -> Any:
        return None

    def to_plain(self, value: Any) -> str:
        """The text to encrypt for a Python value."""
        raise NotImplementedError

    def from_plain(self, text: str) -> Any:
        """The Python value for decrypted text."""
        raise NotImplementedError

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return encrypt(self.to_plain(value))

    def from_db_value(
        self, value: Any, expression: Expression, connection: BaseDatabaseWrapper
    ) -> Any:
        if value is None:
            return None
        return self.from_plain(decrypt(value))

    def to_python(self, value: Any) -> Any:
        return value


class EncryptedTextField(EncryptedField):
    """A ``TextField`` stored encrypted."""

    description = "Text stored encrypted with the configured Fernet key"

    def to_plain(self, value: Any) -> str:
        return str(value)

    def from_plain(self, text: str) -> Any:
        return text


class EncryptedJSONField(EncryptedField):
    """Any JSON-serialisable value stored encrypted (``None`` is SQL NULL)."""

    description = "A JSON value stored encrypted with the configured Fernet key"

    def __init__(
        self,
        *args: Any,
        encoder: type[json.JSONEncoder] | None = None,
        decoder: type[json.JSONDecoder] | None = None,
        **kwargs: Any,
    ) -> None:
        self.encoder = encoder
        self.decoder = decoder
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.encoder is not None:
            kwargs["encoder"] = self.encoder
        if self.decoder is not None:
            kwargs["decoder"] = self.decoder
        return name, path, args, kwargs

    def to_plain(self, value: Any) -> str:
        return json.dumps(value, cls=self.encoder, separators=(",", ":"))

    def from_plain(self, text: str) -> Any:
        return json.loads(text, cls=self.decoder)

    def value_to_string(self, obj: models.Model) -> str:
        return self.to_plain(self.value_from_object(obj))

    def formfield(self, **kwargs: Any) -> Any:
        return super().formfield(
            **{
                "form_class": forms.JSONField,
                "encoder": self.encoder,
                "decoder": self.decoder,
                **kwargs,
            }
        )
