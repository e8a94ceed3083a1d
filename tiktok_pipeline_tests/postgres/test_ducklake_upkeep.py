"""The retention job's DuckLake upkeep (``warehouse/maintenance.py``) on the real PostgreSQL: small files merged,
old snapshots expired, files nothing reads deleted (a killed writer's orphans included), every row unchanged."""

import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from tiktok_pipeline.warehouse.io import connect, read_frame
from tiktok_pipeline.warehouse.maintenance import live_files, tidy_lake
from tiktok_pipeline.windows import WINDOW
from tiktok_pipeline_tests.conftest import lake_settings
from tiktok_pipeline_tests.pg import Lake
from tiktok_pipeline_tests.test_assets import materialize_range
from tiktok_pipeline_tests.test_retention import EVENING, KEPT_TABLES, WINDOW_TABLES, prune, roll_up

TABLES = (*WINDOW_TABLES, *KEPT_TABLES)


def _rows(settings) -> dict[str, pl.DataFrame]:
    with connect(settings.warehouse) as connection:
        return {t: read_frame(connection, f'SELECT * FROM "{t}"').sort(pl.all()) for t in TABLES}


def _same(left: dict[str, pl.DataFrame], right: dict[str, pl.DataFrame]) -> bool:
    return all(left[t].equals(right[t]) for t in TABLES)


def test_retention_on_a_lake_merges_small_files_and_deletes_what_nothing_reads(tmp_path: Path, lake: Lake, instance):
    settings = lake_settings(tmp_path, lake).replace(retention__retention_days=2)
    for first in range(4):  # one run per window, then two windows again: many small files, some dead
        window = EVENING + first * WINDOW
        assert materialize_range(settings, window, window, instance=instance).success
    for again in (0, 3):
        window = EVENING + again * WINDOW
        assert materialize_range(settings, window, window, instance=instance).success
    assert roll_up(settings, instance, "2026-11-20").success
    data = lake.data_path
    parquet = sorted(data.rglob("*.parquet"))
    old_orphan, new_orphan = parquet[0].with_name("orphan-old.parquet"), parquet[0].with_name("orphan-new.parquet")
    for orphan in (old_orphan, new_orphan):  # what a writer killed before its COMMIT leaves behind
        shutil.copy(parquet[0], orphan)
    two_days_ago = time.time() - 2 * 86400
    os.utime(old_orphan, (two_days_ago, two_days_ago))

    report = prune(settings, instance)  # the 20th goes (rolled up), the 19th stays; then the upkeep

    assert report["days_pruned"] == 1
    assert report["lake_files_after"] < report["lake_files_before"], report
    assert report["lake_orphans_deleted"] == 1 and not old_orphan.exists() and new_orphan.exists()
    after_prune = _rows(settings)
    assert all(after_prune[t].height > 0 for t in ("raw_video_snapshots", "daily_video_metrics"))

    # A week later: the snapshots before then expire, the files only they read are deleted; the rows stay.
    with connect(settings.warehouse) as connection:
        later = datetime.now(UTC) + timedelta(days=8)
        upkeep = tidy_lake(connection, now=later, keep_snapshots=timedelta(days=7))
        live = live_files(connection)
        delete_files = connection.execute(
            "SELECT count(*) FROM __ducklake_metadata_lake.ducklake_delete_file WHERE end_snapshot IS NULL"
        ).fetchall()[0][0]
    assert upkeep.snapshots_expired > 0 and upkeep.files_deleted > 0
    assert upkeep.orphans_deleted == 1 and not new_orphan.exists()  # a day old by then
    on_disk = len(list(data.rglob("*.parquet")))
    assert on_disk == live + delete_files, "no file left that the lake does not read"
    assert _same(after_prune, _rows(settings))
