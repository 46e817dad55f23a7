"""Settings of the example project: secrets come through ``erp.secrets.get_secret``.

``DJANGO_SECRET_KEY`` is looked up like every secret (environment, vault file, AWS); the
JWT ring and the Fernet keys are read by ``erp`` itself, from the same places.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from erp.integrations.django.conf import secret

BASE_DIR = Path(__file__).resolve().parent.parent

# Without a configured key the example makes one per process (sessions then do not survive
# a restart): fine for a demo, never for production.
SECRET_KEY = secret("DJANGO_SECRET_KEY", default=None) or secrets.token_urlsafe(50)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "erp.integrations.django",
    "ledger",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "mysite.urls"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_EXAMPLE_DB") or str(BASE_DIR / "db.sqlite3"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

AUTHENTICATION_BACKENDS = [
    "erp.integrations.django.auth.TokenBackend",
    "django.contrib.auth.backends.ModelBackend",
]
ERP_AUTH = {"AUDIENCE": "erp-api", "USER_CLAIM": "sub"}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["erp.integrations.django.drf.ErpTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}
