"""A run over several windows stores each asset's materialisations as one batch (DAGSTER_EVENT_BATCH_SIZE).

The variable is not in the environment the test gives the run: the pipeline's definitions set it in every process
that loads them. The run is a real ``dagster asset materialize`` process with its default executor (the definitions'
in-process one: that process runs the steps and writes the events), on the production instance (deploy/dagster.yaml, PostgreSQL), whose
``store_event_batch`` inserts a batch in one statement: rows inserted by one transaction share PostgreSQL's ``xmin``.
Each window still has its own materialisation (its own figures: ``test_window_truth.py``).
"""

import subprocess
import sys
from pathlib import Path

import pytest

from tiktok_pipeline.governance.event_batching import EVENT_BATCH_SIZE_ENV
from tiktok_pipeline.settings import PROJECT_ROOT
from tiktok_pipeline_tests.pipeline_env import pipeline_env

pytestmark = pytest.mark.heavy(13)  # seconds of a core, measured alone: started first under pytest-xdist

WINDOWS = ("2026-11-20-10:00", "2026-11-20-10:05", "2026-11-20-10:10")
ASSETS = ("raw_video_snapshots", "raw_creator_snapshots", "display_api_quarantine", "poll_telemetry")
DERIVED = ("enriched_video_metrics", "video_velocity")


def test_a_multi_window_run_stores_each_assets_materialisations_in_one_batch(pg_instance, pg_database, tmp_path):
    env = pipeline_env(tmp_path)
    env.pop(EVENT_BATCH_SIZE_ENV, None)
    dagster = [
        str(Path(sys.executable).with_name("dagster")),
        "asset",
        "materialize",
        "-m",
        "tiktok_pipeline.definitions",
    ]
    done = subprocess.run(
        [*dagster, "--select", ",".join(ASSETS + DERIVED), "--partition-range", f"{WINDOWS[0]}...{WINDOWS[-1]}"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = pg_database.query(
        """SELECT asset_key, count(*), count(DISTINCT partition), count(DISTINCT xmin::text) FROM event_logs
           WHERE dagster_event_type = 'ASSET_MATERIALIZATION' GROUP BY asset_key ORDER BY asset_key"""
    )
    by_asset = {key.strip('[]"'): (count, partitions, transactions) for key, count, partitions, transactions in rows}
    assert by_asset == {asset: (3, 3, 1) for asset in sorted(ASSETS + DERIVED)}
