# Set-up: `make demo` (run the main job on embedded defaults) and `make test` (everything).
# Both install the project into a virtual environment: the active one if a venv is
# activated, else the project's own .venv, created on first use with python3 (3.11+;
# Debian's externally-managed python3 included, see scripts/ensure_venv.sh).
# `./scripts/rotate_jwt_secret.py` finds .venv by itself; `. .venv/bin/activate` puts
# `pytest` and `erp-secrets` on PATH.
VENV ?= $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV),.venv)
PYTHON := $(VENV)/bin/python
PYTHON_BOOT ?=
PIP := $(PYTHON) -m pip
# Stamps live in the venv they describe: a new venv installs again.
STAMP := $(VENV)/.erp-make
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PYTHON_BOOT
# As if activated: tests and hooks run `erp-secrets`, `python -m ...` through PATH.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: venv install install-dev demo test lint typecheck unit precommit postgres bench bench-quick \
	lambda-zip package-check sizes clean mutation

$(PYTHON):
	@bash scripts/ensure_venv.sh $(VENV)

venv: $(PYTHON)

$(STAMP)/install: pyproject.toml | $(PYTHON)
	@mkdir -p $(STAMP)
	$(PIP) install -q -e .
	@$(PYTHON) -m compileall -q src >/dev/null  # as a wheel install: fast start-up even with PYTHONDONTWRITEBYTECODE
	@touch $@

$(STAMP)/install-dev: pyproject.toml | $(PYTHON)
	@mkdir -p $(STAMP)
	$(PIP) install -q -e '.[dev]'
	@$(PYTHON) -m compileall -q src >/dev/null
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
	$(PYTHON) -c 'import sys; from importlinter.cli import lint_imports_command as lint; sys.exit(lint())'  # lint-imports: the layers in pyproject.toml

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

# The wheel as users get it: built, installed (not editable) into a clean venv, smoke-tested.
package-check: $(STAMP)/install-dev
	$(PYTHON) scripts/package_check.py

# Installed size of the core and of [all] (two clean venvs; needs the package index).
sizes: $(STAMP)/install-dev
	$(PYTHON) scripts/package_check.py --sizes

clean:
	rm -rf .make build dist artifacts .demo .pytest_cache .mypy_cache .ruff_cache

# Mutation testing of the JWT ring, token verification, the audit log and the vault (mutmut,
# configured in pyproject.toml). Slow (tens of minutes): run by hand, never by `make test`.
mutation: $(STAMP)/install-dev
	$(PYTHON) -m mutmut run
	$(PYTHON) -m mutmut results
