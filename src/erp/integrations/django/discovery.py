"""Which columns hold encrypted fields, read from Django's app registry.

``erp-secrets fernet reencrypt|verify --django-settings mysite.settings`` and the
``erp_secrets`` management command call :func:`columns_from_django_settings` /
:func:`encrypted_columns`; both return ``(table, column)`` pairs, the form the re-encryption
commands take from ``--column table.column``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from erp.errors import ConfigError

__all__ = [
    "columns_from_django_settings",
    "database_url",
    "encrypted_columns",
    "url_from_settings",
]


def encrypted_columns(apps: Any = None) -> list[tuple[str, str]]:
    """Every ``(db_table, column)`` of an encrypted field in the registry (default: the
    project's), sorted. A migration's historical ``apps`` works too."""
    from erp.integrations.django.fields import EncryptedField

    if apps is None:
        from django.apps import apps as project_apps

        apps = project_apps
    found: set[tuple[str, str]] = set()
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.proxy:  # same table as its concrete model
            continue
        for field in meta.local_concrete_fields:
            if isinstance(field, EncryptedField) and field.column:
                found.add((str(meta.db_table), field.column))
    return sorted(found)


def _setup(settings_module: str) -> None:
    import django
    from django.conf import settings

    current = os.environ.get("DJANGO_SETTINGS_MODULE")
    if current and current != settings_module and settings.configured:
        raise ConfigError(
            f"Django is already set up with {current!r}; cannot switch to {settings_module!r}"
        )
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:  # as manage.py: the project root imports
        sys.path.insert(0, here)
    try:
        django.setup()
    except ImportError as exc:
        raise ConfigError(
            f"--django-settings {settings_module!r}: cannot import it ({exc}); run from the "
            "project root (where manage.py is) or put it on PYTHONPATH"
        ) from None


def columns_from_django_settings(settings_module: str) -> list[tuple[str, str]]:
    """Set Django up with ``settings_module``; the encrypted columns of its installed apps."""
    if importlib.util.find_spec("django") is None:
        raise ConfigError(
            f"--django-settings {settings_module!r} needs Django: pip install 'erp-secrets[django]'"
        )
    from django.core.exceptions import ImproperlyConfigured

    try:
        _setup(settings_module)
    except ImproperlyConfigured as exc:
        raise ConfigError(f"--django-settings {settings_module!r}: {exc}") from None
    found = encrypted_columns()
    if not found:
        raise ConfigError(
            f"--django-settings {settings_module!r}: no installed model has an "
            "EncryptedTextField or EncryptedJSONField"
        )
    return found


def database_url(alias: str = "default") -> str:
    """``settings.DATABASES[alias]`` in the form ``--db`` takes (SQLite or PostgreSQL).

    The URL may hold the database password: pass it on, never print it.
    """
    from django.db import connections

    return url_from_settings(connections[alias].settings_dict, alias)


def url_from_settings(conf: Mapping[str, Any], alias: str = "default") -> str:
    """The ``--db`` form of one ``DATABASES`` entry."""
    engine = str(conf.get("ENGINE", ""))
    name = str(conf.get("NAME") or "")
    if engine.endswith("sqlite3"):
        if not name or name == ":memory:" or name.startswith("file:"):
            raise ConfigError(f"DATABASES[{alias!r}] is not a SQLite file; re-encryption needs one")
        return name
    if "postgresql" in engine:
        user = quote(str(conf.get("USER") or ""), safe="")
        password = quote(str(conf.get("PASSWORD") or ""), safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = str(conf.get("HOST") or "127.0.0.1")
        port = f":{conf['PORT']}" if conf.get("PORT") else ""
        return f"postgresql://{auth}{host}{port}/{quote(name, safe='')}"
    raise ConfigError(
        f"DATABASES[{alias!r}] uses {engine!r}; re-encryption supports SQLite and PostgreSQL"
    )
