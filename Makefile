# Set-up: `make demo` (run the main job on embedded defaults) and `make test` (everything).
# Both install the project into the Python on your PATH (activate a venv first to isolate
# it), so the runbook's commands (`./scripts/rotate_jwt_secret.py`, `pytest ...`) work as
# written afterwards.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
STAMP := .make
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install install-dev demo test lint typecheck unit precommit postgres bench bench-quick lambda-zip clean

$(STAMP)/install: pyproject.toml
	@mkdir -p $(STAMP)
	$(PIP) install -q -e .
	@-command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
	@touch $@

$(STAMP)/install-dev: pyproject.toml
	@mkdir -p $(STAMP)
	$(PIP) install -q -e '.[dev]'
	@-command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
	@touch $@ $(STAMP)/install

install: $(STAMP)/install
install-dev: $(STAMP)/install-dev

demo: $(STAMP)/install
	$(PYTHON) scripts/demo.py

postgres:
	@bash scripts/ensure_postgres.sh

lint: $(STAMP)/install-dev
	$(PYTHON) -m ruff check src tests bench scripts
	$(PYTHON) -m erp.cli infra lint

typecheck: $(STAMP)/install-dev
	$(PYTHON) -m mypy

unit: $(STAMP)/install-dev postgres
	ERP_REQUIRE_POSTGRES=1 $(PYTHON) -m pytest -q

precommit: $(STAMP)/install-dev
	@if [ -f .pre-commit-config.yaml ] && [ -d .git ]; then $(PYTHON) -m pre_commit run --all-files --show-diff-on-failure; fi

test: lint typecheck unit precommit

bench: $(STAMP)/install-dev postgres
	$(PYTHON) -m bench

bench-quick: $(STAMP)/install-dev
	$(PYTHON) -m bench --quick

lambda-zip: $(STAMP)/install
	$(PYTHON) -m erp.cli infra package

clean:
	rm -rf $(STAMP) build dist artifacts .pytest_cache .mypy_cache .ruff_cache
