"""Django: token authentication (a backend, a view decorator, a DRF class), encrypted model
fields on the ``erp.security`` Fernet ring, and discovery of their columns for re-encryption.

Add ``"erp.integrations.django"`` to ``INSTALLED_APPS`` for the ``erp_secrets`` management
command. Import what you use from the submodules (they need Django's settings):
:mod:`~erp.integrations.django.auth`, :mod:`~erp.integrations.django.drf`,
:mod:`~erp.integrations.django.fields`, :mod:`~erp.integrations.django.discovery`,
:mod:`~erp.integrations.django.conf`.
"""

from __future__ import annotations

__all__: list[str] = []
