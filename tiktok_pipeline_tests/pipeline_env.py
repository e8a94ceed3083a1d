"""The environment of a pipeline process a test starts: the embedded simulator, every runtime file under one folder."""

import os
from pathlib import Path

from tiktok_pipeline.settings import DATA_DIR, PROJECT_ROOT
from tiktok_pipeline_tests.sqlite_no_fsync import NO_FSYNC_ENV

HOOKS = Path(__file__).parent / "hooks"
"""Test-only start-up hooks (``sitecustomize``) of the processes a test starts."""


def pipeline_env(folder: Path) -> dict[str, str]:
    """This process's environment without any ``TIKTOK_*`` (no real host), with the warehouse, landing zone, token
    store and polling state under ``folder``, the shipped registry and a fixed partitions start; Dagster's SQLite
    storages without fsync (``hooks/sitecustomize.py``, first on ``PYTHONPATH``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIKTOK_")}
    env.update(
        TIKTOK_WAREHOUSE_PATH=str(folder / "warehouse.duckdb"),
        TIKTOK_LANDING_DIR=str(folder / "landing"),
        TIKTOK_TOKEN_STORE_PATH=str(folder / "tokens.json"),
        TIKTOK_POLLING_STATE_DIR=str(folder / "polling_state"),
        TIKTOK_REGISTRY_PATH=str(DATA_DIR / "tracking_registry.json"),
        TIKTOK_PARTITIONS_START="2026-11-20T00:00:00Z",
        PYTHONPATH=os.pathsep.join(filter(None, [str(HOOKS), str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
    )
    env[NO_FSYNC_ENV] = "1"
    return env


def lake_env(folder: Path, url: str, data_path: Path) -> dict[str, str]:
    """:func:`pipeline_env` with the DuckLake ``url`` (``ducklake:postgres:...``) and ``data_path`` as the warehouse."""
    env = pipeline_env(folder)
    del env["TIKTOK_WAREHOUSE_PATH"]
    env.update(TIKTOK_WAREHOUSE_URL=url, TIKTOK_LAKE_DATA_PATH=str(data_path))
    return env
