"""Old home of Fernet re-encryption, kept so existing imports work: see
:mod:`erp.fernet.reencrypt`, where everything now lives."""

from __future__ import annotations

from erp.fernet.reencrypt import *  # noqa: F403
from erp.fernet.reencrypt import __all__ as __all__
