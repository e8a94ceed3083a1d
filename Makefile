PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d" " -f1)

.PHONY: dev test install lint

## dev: start the Dagster UI (http://localhost:3000) and daemon on the embedded simulator
dev: $(STAMP)
	$(VENV)/bin/tiktok-pipeline dev

## test: run the whole test suite, then its warehouse-touching tests (marked both_backends) again on a DuckLake
test: $(STAMP)
	$(VENV)/bin/pytest $(PYTEST_ARGS)
	@echo "== the warehouse-touching tests again, on DuckLake (TIKTOK_TEST_WAREHOUSE=ducklake; names end [ducklake]) =="
	TIKTOK_TEST_WAREHOUSE=ducklake $(VENV)/bin/pytest $(PYTEST_ARGS)

## lint: ruff (lint and format) and the type checker, as CI runs them
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

install: $(STAMP)

# A fresh virtual environment with the exact, hash-checked versions of requirements.lock.
$(STAMP): requirements.lock pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@
