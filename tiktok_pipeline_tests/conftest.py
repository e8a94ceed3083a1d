"""Shared fixtures: settings pointing at a temporary warehouse, landing zone and token store."""

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from tiktok_pipeline.settings import DATA_DIR, PROJECT_ROOT, Settings
from tiktok_pipeline_tests.pg import TEST_WAREHOUSE_ENV, Lake, fresh_lake, server_or_skip
from tiktok_pipeline_tests.sqlite_no_fsync import install as install_sqlite_without_fsync

SHIPPED_REGISTRY = DATA_DIR / "tracking_registry.json"
BOTH_BACKENDS = "both_backends"
FILE_BACKEND_ONLY = "file_backend_only"
"""Marks a warehouse-touching test that `make test` runs on the DuckDB file and again on a DuckLake."""
HEAVY = "heavy"
"""Marks a module that keeps a core busy for long (``heavy(seconds)``): pytest-xdist is handed it first."""
# A fixed past window, so runs are deterministic whatever the wall clock says.
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


install_sqlite_without_fsync()  # see tiktok_pipeline_tests/sqlite_no_fsync.py


def _walk_the_defs_folder_once() -> None:
    """``build_definitions`` walks ``tiktok_pipeline/defs/`` at every call (a tenth of a second), and finds the same
    objects every time: module-level definitions of modules imported once per process (the walk's result is only a
    ``Definitions`` holding them, which nothing alters). Tests build definitions for every run they materialise, so
    in the test process the walk is done once; the settings, resources and policies are still applied at every call,
    and a process a test starts loads everything itself."""
    from tiktok_pipeline import definitions

    definitions.load_defs_folder = functools.cache(definitions.load_defs_folder)


_walk_the_defs_folder_once()


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Settings for the embedded simulator with every runtime file under ``tmp_path``; the warehouse a DuckDB file
    there, or with TIKTOK_TEST_WAREHOUSE=ducklake a fresh DuckLake (see the ``lake`` fixture)."""
    if os.environ.get(TEST_WAREHOUSE_ENV, "duckdb") == "ducklake":
        lake: Lake = request.getfixturevalue("lake")
        return lake_settings(tmp_path, lake)
    return Settings(
        warehouse_path=tmp_path / "warehouse.duckdb",
        landing_dir=tmp_path / "landing",
        token_store_path=tmp_path / "tokens.json",
        registry_path=SHIPPED_REGISTRY,
        polling_state_dir=tmp_path / "polling_state",
    )


def lake_settings(tmp_path: Path, lake: Lake) -> Settings:
    """The ``settings`` fixture's, with ``lake`` as the warehouse."""
    return Settings(
        warehouse_url=lake.url,
        lake_data_path=str(lake.data_path),
        landing_dir=tmp_path / "landing",
        token_store_path=tmp_path / "tokens.json",
        registry_path=SHIPPED_REGISTRY,
        polling_state_dir=tmp_path / "polling_state",
    )


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    """A fresh DuckLake: its catalog a new PostgreSQL database (dropped after the test), its data under ``tmp_path``.
    Needs the PostgreSQL server of :mod:`tiktok_pipeline_tests.pg` (skipped without it, failed with
    TIKTOK_REQUIRE_POSTGRES=1)."""
    with fresh_lake(server_or_skip(), tmp_path / "lake") as fresh:
        yield fresh


@contextmanager
def open_warehouse(settings: Settings, *, read_only: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to ``settings``' warehouse, whichever the backend (for tests that read what a run wrote, or
    plant a writer's bug)."""
    from tiktok_pipeline.warehouse.io import connect

    with connect(settings.warehouse, read_only=read_only, lock_timeout=60) as connection:
        yield connection


def shipped_event_log(base_dir: Path) -> dict[str, Any]:
    """dagster.yaml's event log storage (its class: consolidated events, one pooled engine) under ``base_dir``."""
    shipped = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())["event_log_storage"]
    return {"event_log_storage": {**shipped, "config": {"base_dir": str(base_dir)}}}


@pytest.fixture
def instance(tmp_path: Path):
    """A temporary Dagster instance whose events are queryable across runs, with dagster.yaml's event log class."""
    import dagster as dg

    overrides = shipped_event_log(tmp_path / "events")
    with dg.instance_for_test(overrides=overrides) as test_instance:
        yield test_instance


def pytest_configure(config: pytest.Config) -> None:
    """pytest resets the warning filters around every test: re-apply the package's Dagster beta/preview filter."""
    from tiktok_pipeline import DAGSTER_LABEL_WARNINGS

    config.addinivalue_line("filterwarnings", f"ignore:{DAGSTER_LABEL_WARNINGS}")
    config.addinivalue_line(
        "markers",
        f"{BOTH_BACKENDS}: a test whose point is the warehouse (every test using `settings` runs on both backends)",
    )
    config.addinivalue_line(
        "markers",
        f"{FILE_BACKEND_ONLY}: left out of the DuckLake pass (it compares a lake with the file itself, or starts "
        "processes whose warehouse is not the test's)",
    )
    config.addinivalue_line(
        "markers",
        f"{HEAVY}(seconds): a module taking about `seconds` of a core (measured alone); the heaviest run first, so "
        "that under pytest-xdist none is left to end a pass alone while the other workers idle",
    )


def _on_lake() -> bool:
    return os.environ.get(TEST_WAREHOUSE_ENV, "duckdb") == "ducklake"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """On a lake (TIKTOK_TEST_WAREHOUSE=ducklake) a test using ``settings`` is named for it: ``test_x[ducklake]``,
    so a failure says which backend failed."""
    if _on_lake() and "settings" in metafunc.fixturenames:
        metafunc.parametrize("settings", ["ducklake"], indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a lake, a test that never uses ``settings`` (so never the lake) is deselected: it ran in the file pass; so is
    one marked ``file_backend_only``. Then the modules marked ``heavy`` go first, the heaviest first (the rest keep
    their order).

    ``make test`` runs ``--dist loadfile --no-loadscope-reorder``: a worker is handed whole modules in this order,
    the next when it runs short. pytest-xdist's own order (the most tests first) put the modules of a few long tests
    (the CLI bursts, the fuzz) last, where one worker ran them alone while the other had nothing left."""
    if _on_lake():
        _keep_lake_tests(config, items)
    items.sort(key=_heavy_seconds, reverse=True)  # stable: modules stay together, the others in collection order


def _heavy_seconds(item: pytest.Item) -> float:
    marker = item.get_closest_marker(HEAVY)
    return float(marker.args[0]) if marker is not None else 0.0


def _keep_lake_tests(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep = [
        item
        for item in items
        if "settings" in getattr(item, "fixturenames", ()) and item.get_closest_marker(FILE_BACKEND_ONLY) is None
    ]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep


def alerts_resource(**overrides):
    """The AlertsResource the settings give (no webhook unless the environment sets one), with ``overrides``."""
    from tiktok_pipeline.defs.alerts.resources import AlertsResource

    base = AlertsResource.from_settings(Settings())
    return AlertsResource(**{**{name: getattr(base, name) for name in AlertsResource.model_fields}, **overrides})
