"""The contract every secret source keeps, as a pytest test class (imports pytest).

Subclass :class:`SecretSourceContract`, give it a ``source_and_update`` fixture returning
your source and a function that stores a value at the source, and pytest runs the promises
every :class:`erp.secrets.SecretSource` must keep against it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from erp.jwt.keyring import generate_secret
from erp.secrets import SecretSource

__all__ = ["SecretSourceContract", "Update"]

Update = Callable[[str, str], None]
"""Stores ``value`` under ``name`` at the source being tested."""


class SecretSourceContract:
    """What every secret source promises; one subclass per backend supplies the factory."""

    @pytest.fixture
    def source_and_update(self, tmp_path: Path) -> tuple[SecretSource, Update]:
        raise NotImplementedError

    def test_lookup_returns_a_stored_value(
        self, source_and_update: tuple[SecretSource, Update]
    ) -> None:
        """A name the source holds comes back as its text."""
        source, update = source_and_update
        value = generate_secret()
        update("API_TOKEN", value)
        source.refresh()
        assert source.lookup("API_TOKEN") == value

    def test_lookup_of_an_unknown_name_is_none(
        self, source_and_update: tuple[SecretSource, Update]
    ) -> None:
        """A name the source does not hold gives None, not an error."""
        source, _update = source_and_update
        assert source.lookup("NO_SUCH_SECRET") is None

    def test_refresh_shows_a_changed_value(
        self, source_and_update: tuple[SecretSource, Update]
    ) -> None:
        """After the value changes at the source, refresh() makes lookup return the new one."""
        source, update = source_and_update
        update("API_TOKEN", generate_secret())
        source.refresh()
        source.lookup("API_TOKEN")
        newer = generate_secret()
        update("API_TOKEN", newer)
        source.refresh()
        assert source.lookup("API_TOKEN") == newer

    def test_describe_and_repr_never_show_values(
        self, source_and_update: tuple[SecretSource, Update]
    ) -> None:
        """describe() and repr() say where the source looks, never what it holds."""
        source, update = source_and_update
        value = generate_secret()
        update("API_TOKEN", value)
        source.refresh()
        source.lookup("API_TOKEN")
        assert source.describe()
        assert value not in source.describe()
        assert value not in repr(source)
