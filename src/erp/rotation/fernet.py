"""Old home of the Fernet vault operations, kept so existing imports work: see
:mod:`erp.fernet.rotation`."""

from __future__ import annotations

from erp.fernet.rotation import *  # noqa: F403
from erp.fernet.rotation import __all__ as __all__
