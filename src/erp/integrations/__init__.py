"""Adapters that put ``erp`` into web applications: FastAPI/Starlette, Django, Flask.

Each adapter lives in its own module and imports its framework, so install the matching
extra (``erp-secrets[fastapi]``, ``[django]``, ``[flask]``) and import the module you use:
:mod:`erp.integrations.fastapi`, :mod:`erp.integrations.django`,
:mod:`erp.integrations.flask`. The core of ``erp`` never imports this package.
"""

from __future__ import annotations

__all__: list[str] = []
