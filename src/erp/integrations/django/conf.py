"""Settings: secrets through ``erp.secrets.get_secret``, and the ``ERP_AUTH`` dictionary.

In ``settings.py``::

    from erp.integrations.django.conf import secret
    SECRET_KEY = secret("DJANGO_SECRET_KEY")        # environment, vault file(s), then AWS
    ERP_AUTH = {"AUDIENCE": "erp-api", "ISSUER": None, "USER_CLAIM": "sub"}

``ERP_AUTH`` keys: ``AUDIENCE``, ``ISSUER`` (checked when set), ``USER_CLAIM`` (the claim
naming the user, default ``sub``, matched against the user model's natural key),
``REALM``, and ``VERIFIER`` (an object with ``verify`` like
:class:`erp.security.TokenService`, or its dotted path; default
:func:`erp.security.verify_token`).
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from erp.errors import ConfigError, SecretNotFound
from erp.integrations._bearer import BearerPolicy
from erp.secrets import get_secret

__all__ = ["auth_policy", "secret", "user_claim"]

_MISSING = object()


def secret(name: str, default: Any = _MISSING) -> Any:
    """The secret ``name`` as :func:`erp.secrets.get_secret` resolves it, or ``default``."""
    try:
        return get_secret(name)
    except SecretNotFound:
        if default is _MISSING:
            raise
        return default


_lock = threading.Lock()
_policy: BearerPolicy | None = None


def _options() -> dict[str, Any]:
    options = getattr(settings, "ERP_AUTH", {})
    if not isinstance(options, dict):
        raise ConfigError("settings.ERP_AUTH must be a dict, e.g. {'AUDIENCE': 'erp-api'}")
    return options


def auth_policy() -> BearerPolicy:
    """The :class:`BearerPolicy` described by ``settings.ERP_AUTH`` (cached until it changes)."""
    global _policy
    policy = _policy
    if policy is not None:
        return policy
    with _lock:
        options = _options()
        verifier = options.get("VERIFIER")
        if isinstance(verifier, str):
            verifier = import_string(verifier)
        _policy = BearerPolicy(
            verifier=verifier,
            audience=options.get("AUDIENCE"),
            issuer=options.get("ISSUER"),
            realm=options.get("REALM", ""),
        )
        return _policy


def user_claim() -> str:
    """The claim that names the user (``ERP_AUTH["USER_CLAIM"]``, default ``sub``)."""
    return str(_options().get("USER_CLAIM", "sub"))


@receiver(setting_changed)
def _forget_policy(*, setting: str, **_: Any) -> None:
    global _policy
    if setting == "ERP_AUTH":
        _policy = None
