PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d" " -f1)

.PHONY: dev test install lint

## dev: start the Dagster UI (http://localhost:3000) and daemon on the embedded simulator
dev: $(STAMP)
	$(VENV)/bin/tiktok-pipeline dev

## test: run the whole test suite on the DuckDB file and, side by side, its warehouse-touching tests on DuckLake
# The two passes share nothing (each test has its own temporary folders and PostgreSQL databases), so they run at
# once, and each spreads its test modules over the machine's cores (pytest-xdist, TEST_WORKERS per pass, `auto`: one
# per core; a module's tests stay together in one worker, so a module-scoped fixture is built once). Two passes of one
# worker per core keep every core busy until the last module ends, whichever pass finishes first, and fill the time
# a test waits on the disk, PostgreSQL or a subprocess. The DuckLake pass's output is printed when both have finished.
# Modules are handed out in the suite's order (--no-loadscope-reorder), which puts those marked `heavy` first
# (tiktok_pipeline_tests/conftest.py); pytest-xdist's own order, the most tests first, left them for last.
TEST_WORKERS ?= auto
XDIST := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
test: $(STAMP)
	@lake_log=$$(mktemp); \
	TIKTOK_TEST_WAREHOUSE=ducklake $(VENV)/bin/pytest $(XDIST) $(PYTEST_ARGS) >"$$lake_log" 2>&1 & lake=$$!; \
	echo "== pass 1: the whole suite on the DuckDB file (pass 2, DuckLake, runs beside it) =="; \
	$(VENV)/bin/pytest $(XDIST) $(PYTEST_ARGS); file_status=$$?; \
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
