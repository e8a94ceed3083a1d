PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d" " -f1)

.PHONY: dev test install lint

## dev: start the Dagster UI (http://localhost:3000) and daemon on the embedded simulator
dev: $(STAMP)
	$(VENV)/bin/tiktok-pipeline dev

## test: run the whole test suite on the DuckDB file and, side by side, its warehouse-touching tests on DuckLake
# The two passes share nothing (each test has its own temporary folders and PostgreSQL databases), so they run at
# once on the machine's two cores; the DuckLake pass's output is printed when both have finished.
test: $(STAMP)
	@lake_log=$$(mktemp); \
	TIKTOK_TEST_WAREHOUSE=ducklake $(VENV)/bin/pytest $(PYTEST_ARGS) >"$$lake_log" 2>&1 & lake=$$!; \
	echo "== pass 1: the whole suite on the DuckDB file (pass 2, DuckLake, runs beside it) =="; \
	$(VENV)/bin/pytest $(PYTEST_ARGS); file_status=$$?; \
	wait $$lake; lake_status=$$?; \
	echo "== pass 2: the warehouse-touching tests on DuckLake (TIKTOK_TEST_WAREHOUSE=ducklake; names end [ducklake]) =="; \
	cat "$$lake_log"; rm -f "$$lake_log"; \
	echo "== file pass: exit $$file_status; DuckLake pass: exit $$lake_status =="; \
	test $$file_status -eq 0 && test $$lake_status -eq 0

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
