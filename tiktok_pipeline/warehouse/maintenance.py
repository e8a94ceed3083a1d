"""DuckLake upkeep, run by the retention job on a lake: fewer, larger Parquet files, and no file kept for ever.

Every committed write adds at least one Parquet file per table it touches (a window run: one per window table), so
288 windows a day make thousands of small files a day; a window re-run or pruned leaves its old files referenced by
earlier snapshots. Once a day:

1. ``ducklake_merge_adjacent_files`` rewrites each table's small files into larger ones (a new snapshot; the rows
   are unchanged, and a concurrent writer's conflict re-runs it: :func:`~tiktok_pipeline.warehouse.io.write_transaction`);
2. ``ducklake_expire_snapshots`` forgets snapshots older than ``TIKTOK_LAKE_SNAPSHOT_DAYS`` (time travel reaches
   that far back), which schedules the files only they referenced for deletion;
3. ``ducklake_cleanup_old_files`` deletes files scheduled for deletion more than a day ago (a reader still on an
   older snapshot keeps its files for that day);
4. ``ducklake_delete_orphaned_files`` deletes files older than a day that no snapshot knows: those a writer killed
   before its COMMIT had written (never visible to readers). A day leaves every running writer's files alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from tiktok_pipeline.warehouse.backends import LAKE_ALIAS
from tiktok_pipeline.warehouse.io import write_transaction
from tiktok_pipeline.windows import utc_naive

GRACE = timedelta(days=1)
"""How old a file scheduled for deletion, or unknown to the catalog, must be before it is deleted."""


@dataclass(frozen=True)
class Upkeep:
    """What one pass did: the lake's live data files before and after, snapshots expired, files deleted."""

    files_before: int
    files_after: int
    snapshots_expired: int
    files_deleted: int
    orphans_deleted: int


def live_files(connection: duckdb.DuckDBPyConnection) -> int:
    """Data files the lake's current snapshot reads (every table)."""
    sql = f"SELECT count(*) FROM __ducklake_metadata_{LAKE_ALIAS}.ducklake_data_file WHERE end_snapshot IS NULL"
    return int(connection.execute(sql).fetchall()[0][0])


def tidy_lake(connection: duckdb.DuckDBPyConnection, *, now: datetime, keep_snapshots: timedelta) -> Upkeep:
    """Merge small files, expire snapshots older than ``keep_snapshots``, delete files no longer needed."""
    before = live_files(connection)
    write_transaction(connection, lambda c: c.execute(f"CALL ducklake_merge_adjacent_files('{LAKE_ALIAS}')").fetchall())
    expired = write_transaction(
        connection,
        lambda c: c.execute(
            f"CALL ducklake_expire_snapshots('{LAKE_ALIAS}', older_than => {_instant(now - keep_snapshots)})"
        ).fetchall(),
    )
    deleted = connection.execute(
        f"CALL ducklake_cleanup_old_files('{LAKE_ALIAS}', older_than => {_instant(now - GRACE)})"
    ).fetchall()
    orphans = connection.execute(
        f"CALL ducklake_delete_orphaned_files('{LAKE_ALIAS}', older_than => {_instant(now - GRACE)})"
    ).fetchall()
    return Upkeep(before, live_files(connection), len(expired), len(deleted), len(orphans))


def _instant(moment: datetime) -> str:
    """``moment`` as a SQL TIMESTAMPTZ literal in UTC (DuckLake's table functions take no bound parameters here)."""
    return f"TIMESTAMPTZ '{utc_naive(moment).isoformat(sep=' ')}+00'"
