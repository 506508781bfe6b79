# stratix-queue: `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
PY := $(CURDIR)/$(VENV)/bin/python
STAMP_BASE := $(VENV)/.installed-base
STAMP_DEV := $(VENV)/.installed-dev

.DEFAULT_GOAL := help
.PHONY: help demo test test-fast lint format clean bench bench-quick

help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP_BASE): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

demo: $(STAMP_BASE) ## Run the demo on the SQLite default, in a fresh temporary directory
	@dir=$$(mktemp -d) && cd $$dir && $(PY) $(CURDIR)/examples/demo.py

lint: $(STAMP_DEV) ## ruff, ruff format --check and mypy --strict
	$(VENV)/bin/ruff check src tests examples
	$(VENV)/bin/ruff format --check src tests examples
	$(VENV)/bin/mypy

test: lint ## Lint, then the whole suite on SQLite, PostgreSQL and MariaDB
	$(PY) -m pytest

test-fast: $(STAMP_DEV) ## The suite without the multi-process load tests
	$(PY) -m pytest -m "not slow"

bench: $(STAMP_DEV) ## Benchmark against the peers, side by side (writes bench/RESULTS.md)
	$(PY) bench/run.py

bench-quick: $(STAMP_DEV) ## A short benchmark run (N=2,000, one repetition, no W5)
	$(PY) bench/run.py --quick

format: $(STAMP_DEV) ## Format the code with ruff
	$(VENV)/bin/ruff format src tests examples
	$(VENV)/bin/ruff check --fix src tests examples

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache src/*.egg-info
