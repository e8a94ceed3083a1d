"""What the retention job reads from Dagster and the warehouse before deleting landing files, call log rows and
quarantined records (the rules are plain functions in ``tiktok_pipeline/governance/holdings.py``)."""

from __future__ import annotations

from datetime import datetime

import dagster as dg
import duckdb
import polars as pl

from tiktok_pipeline.governance.holdings import LANDED_BY, LandingEvidence, LandingPrune
from tiktok_pipeline.governance.retention import days_before
from tiktok_pipeline.windows import RANGE_END_TAG, RANGE_START_TAG, WINDOW, window_from_key, window_key, window_starts

PARTITION_TAG = "dagster/partition"
UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def busy_windows(instance: dg.DagsterInstance) -> frozenset[str]:
    """Window keys covered by a run that is queued or in progress (one partition, or a range)."""
    keys: set[str] = set()
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED)):
        tags = run.tags
        try:
            if PARTITION_TAG in tags:
                keys.add(window_key(window_from_key(tags[PARTITION_TAG])))
            elif RANGE_START_TAG in tags and RANGE_END_TAG in tags:
                start, end = window_from_key(tags[RANGE_START_TAG]), window_from_key(tags[RANGE_END_TAG])
                keys.update(window_key(w) for w in window_starts(start, end + WINDOW))
        except ValueError:  # a daily partition (a rollup run): it lands nothing
            continue
    return frozenset(keys)


def landing_evidence(
    instance: dg.DagsterInstance, connection: duckdb.DuckDBPyConnection, cutoff: datetime
) -> LandingEvidence:
    """Days before ``cutoff`` still holding window rows, the windows each parsing asset materialised, busy windows."""
    parsed = {
        asset: frozenset(
            instance.event_log_storage.get_latest_storage_id_by_partition(
                dg.AssetKey(asset), dg.DagsterEventType.ASSET_MATERIALIZATION
            )
        )
        for asset in set(LANDED_BY.values())
    }
    held = frozenset(f"{day:%Y-%m-%d}" for day in days_before(connection, cutoff))
    return LandingEvidence(window_row_days=held, parsed=parsed, busy=busy_windows(instance))


def landing_table(run: LandingPrune) -> pl.DataFrame:
    """One row per landing day folder past the cutoff: files deleted, MB, files kept and why."""
    return pl.DataFrame(
        [
            {
                "folder": f.folder,
                "files_deleted": f.deleted,
                "mb_deleted": round(f.bytes_deleted / 1e6, 3),
                "files_kept": f.kept,
                "reason_kept": "; ".join(f.reasons),
            }
            for f in run.folders
        ],
        schema={
            "folder": pl.String,
            "files_deleted": pl.Int64,
            "mb_deleted": pl.Float64,
            "files_kept": pl.Int64,
            "reason_kept": pl.String,
        },
    )
