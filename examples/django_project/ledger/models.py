"""A customer whose national id and profile are stored encrypted."""

from __future__ import annotations

from django.db import models

from erp.integrations.django.fields import EncryptedJSONField, EncryptedTextField


class Customer(models.Model):
    name = models.CharField(max_length=100)
    ssn = EncryptedTextField()
    profile = EncryptedJSONField(default=dict)  # added by migration 0002

    def __str__(self) -> str:
        return self.name
