"""The Django app that brings the ``erp_secrets`` management command."""

from __future__ import annotations

from django.apps import AppConfig


class ErpConfig(AppConfig):
    """``INSTALLED_APPS += ["erp.integrations.django"]``."""

    name = "erp.integrations.django"
    label = "erp_secrets"
    verbose_name = "erp secrets and key rotation"
