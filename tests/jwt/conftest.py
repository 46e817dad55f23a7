"""Fixtures of the JWT tests: a real JWK Set server on 127.0.0.1 and a hand-moved clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.jwt.jwks_helpers import JwksServer, Ticker


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    """A started :class:`JwksServer`, stopped (and its slow handlers freed) afterwards."""
    server = JwksServer()
    server.start()
    try:
        yield server
    finally:
        server.release.set()
        server.stop()


@pytest.fixture
def ticker() -> Ticker:
    """A fresh :class:`Ticker`."""
    return Ticker()
