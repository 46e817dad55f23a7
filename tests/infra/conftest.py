"""Fixtures for the infrastructure tests: the project's template and variants of it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from erp.infra.template import dump_template, load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"

Mutation = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="session")
def good_template() -> dict[str, Any]:
    """infra/template.yaml as plain data (long-form intrinsic functions)."""
    return load_template(TEMPLATE)


@pytest.fixture
def template() -> dict[str, Any]:
    """A private copy of the template, free to modify."""
    return load_template(TEMPLATE)


@pytest.fixture
def variant(tmp_path: Path, good_template: dict[str, Any]) -> Callable[[Mutation], Path]:
    """Write a copy of the good template changed by ``mutate`` to a file; return its path."""

    def make(mutate: Mutation) -> Path:
        data = copy.deepcopy(good_template)
        mutate(data)
        path = tmp_path / "variant.json"
        path.write_text(dump_template(data))
        return path

    return make
