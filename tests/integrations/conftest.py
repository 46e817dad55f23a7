"""Fixtures for the framework adapters: a vault with one JWT key, a token service on the
frozen clock, and the example apps importable from ``examples/``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from erp.audit import AuditLog
from erp.clock import FrozenClock
from erp.rotation.jwt import rotate_key
from erp.secrets import SecretResolver, load_jwt_ring
from erp.security import TokenService
from erp.vault import VaultFile

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

AUDIENCE = "erp-api"

Issue = Callable[..., str]


@pytest.fixture
def jwt_vault(vault: VaultFile, log: AuditLog, clock: FrozenClock) -> VaultFile:
    """The test's vault file ($ERP_VAULT_FILE) holding one active JWT key."""
    rotate_key(vault=vault, log=log, clock=clock)
    return vault


@pytest.fixture
def service(jwt_vault: VaultFile, clock: FrozenClock) -> TokenService:
    """A token service over the test's vault, on the frozen clock."""
    resolver = SecretResolver.from_config(jwt_vault.path)
    return TokenService(lambda: load_jwt_ring(resolver), clock=clock, on_reload=resolver.refresh)


@pytest.fixture
def issue(service: TokenService) -> Issue:
    """Issue a token for ``sub`` with the example apps' audience (overridable)."""

    def _issue(sub: str = "ada", ttl: timedelta = timedelta(minutes=15), **claims: Any) -> str:
        return service.issue({"sub": sub, "aud": AUDIENCE, **claims}, ttl=ttl)

    return _issue
