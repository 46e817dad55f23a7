"""The FastAPI example app as uvicorn serves it in the live-rotation test.

The only difference from ``examples/fastapi_app.py``: the token service reads the time from
the file named by ``ERP_TEST_CLOCK_FILE``, so the test moves the server's clock the way it
moves its own (no sleeping until tokens expire).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from examples import fastapi_app
from fastapi import FastAPI

from erp.clock import from_iso
from erp.secrets import SecretResolver, load_jwt_ring
from erp.security import TokenService


class FileClock:
    """A clock whose time is the ISO timestamp in a file, re-read on every call."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self) -> datetime:
        return from_iso(self.path.read_text().strip())


def make_app() -> FastAPI:
    """The example app over ``$ERP_VAULT_FILE`` on the file clock (``uvicorn --factory``)."""
    resolver = SecretResolver.from_config()
    service = TokenService(
        lambda: load_jwt_ring(resolver),
        clock=FileClock(Path(os.environ["ERP_TEST_CLOCK_FILE"])),
        on_reload=resolver.refresh,
    )
    return fastapi_app.create_app(verifier=service)
