"""``window_retention_job``: delete the 5-minute rows of old days that the daily rollups hold.

The rules are plain functions in ``tiktok_pipeline/governance/retention.py``; one run's decisions and deletes in
``tiktok_pipeline/governance/pruning.py``.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from tiktok_pipeline.defs.retention.resources import RetentionResource
from tiktok_pipeline.governance.markdown import markdown_table
from tiktok_pipeline.governance.pruning import decisions_table, prune_windows
from tiktok_pipeline.warehouse.io import WarehouseResource
from tiktok_pipeline.warehouse.maintenance import tidy_lake

RETENTION_JOB_NAME = "window_retention_job"


class RetentionConfig(dg.Config):
    """Run options of the retention op."""

    dry_run: bool = False
    """Decide and report, but delete nothing."""


def latest_by_day(instance: dg.DagsterInstance, asset: str) -> dict[str, int]:
    """Storage id of the latest materialisation per day (``YYYY-MM-DD``) over the asset's partitions.

    Daily partition keys are days already; a window key ``YYYY-MM-DD-HH:MM`` counts for its day.
    """
    by_partition = instance.event_log_storage.get_latest_storage_id_by_partition(
        dg.AssetKey(asset), dg.DagsterEventType.ASSET_MATERIALIZATION
    )
    by_day: dict[str, int] = {}
    for partition, storage_id in by_partition.items():
        day = partition[:10]
        by_day[day] = max(storage_id, by_day.get(day, 0))
    return by_day


@dg.op(out=dg.Out(dg.Nothing))
def prune_window_rows(
    context: dg.OpExecutionContext, config: RetentionConfig, warehouse: WarehouseResource, retention: RetentionResource
):
    """Delete the window rows of every day older than TIKTOK_RETENTION_DAYS that the daily rollups hold.

    For each day before the cutoff (midnight UTC, today minus the retention days) that still has rows in
    raw_video_snapshots, raw_creator_snapshots, enriched_video_metrics or video_velocity: the day is
    deleted from all four in ONE transaction only if daily_video_metrics and daily_creator_metrics have
    rows for it whose observations equal the window tables' row counts, and their partition for the day
    was materialised after every window of the day. Otherwise the day is kept, and the reason logged and
    reported. The quarantine tables (and their view quarantined_records), poll_telemetry, alerts, the
    rollups and the landing files are never deleted. Reports per day what was deleted or kept as output metadata (and, with dry_run, deletes
    nothing). On a DuckLake it then merges small Parquet files, expires snapshots older than
    TIKTOK_LAKE_SNAPSHOT_DAYS and deletes the files nothing reads any more (``warehouse/maintenance.py``),
    reported as ``lake_*`` metadata.
    """
    # the warehouse connection is held throughout: no other process can write between decision and delete
    with warehouse.connection() as connection:
        run = prune_windows(
            connection,
            now=datetime.now(UTC),
            retention_days=retention.retention_days,
            partitions_start=retention.windows_start,
            latest_by_day=lambda asset: latest_by_day(context.instance, asset),
            dry_run=config.dry_run,
            log=lambda level, message: getattr(context.log, level)(message),
        )
        upkeep = None
        if warehouse.target.is_lake and not config.dry_run:
            upkeep = tidy_lake(
                connection, now=datetime.now(UTC), keep_snapshots=timedelta(days=retention.lake_snapshot_days)
            )
            context.log.info(f"lake upkeep: {upkeep}")
    if run.budget.near_limit:
        context.log.warning(run.budget.message())
    for table, count in run.per_table.items():
        if count:
            yield dg.AssetObservation(
                asset_key=table,
                description=f"retention deleted the window rows of days before {run.cutoff:%Y-%m-%d}",
                metadata={
                    "rows_deleted": count,
                    "days_pruned": dg.MetadataValue.json(sorted(run.deleted)),
                    "cutoff": f"{run.cutoff:%Y-%m-%d}",
                },
            )
    yield dg.Output(
        None,
        metadata={
            "cutoff": f"{run.cutoff:%Y-%m-%d}",
            "retention_days": retention.retention_days,
            "dry_run": config.dry_run,
            "days_considered": len(run.decisions),
            "days_pruned": len(run.deleted),
            "days_rolled_up_past_cutoff": sum(d.prune for d in run.decisions),
            "days_kept": sum(not d.prune for d in run.decisions),
            "rows_deleted": sum(run.per_table.values()),
            **{f"rows_deleted_{table}": count for table, count in run.per_table.items()},
            "days": dg.MetadataValue.md(markdown_table(decisions_table(run, Path(retention.landing_dir)))),
            "window_partitions_now": run.budget.partitions_now,
            "window_partition_limit_reached_on": f"{run.budget.limit_reached_on:%Y-%m-%d}",
            **({f"lake_{name}": value for name, value in vars(upkeep).items()} if upkeep is not None else {}),
        },
    )


@dg.job(
    name=RETENTION_JOB_NAME,
    description=(
        "Deletes the 5-minute window rows of days older than TIKTOK_RETENTION_DAYS, one transaction per day, "
        "only for days the daily rollups hold (days without an up-to-date rollup are kept and reported). "
        "Run config `dry_run: true` reports without deleting. Landing files are never deleted. On a DuckLake it "
        "also merges small Parquet files and expires snapshots older than TIKTOK_LAKE_SNAPSHOT_DAYS."
    ),
)
def window_retention_job() -> None:
    """Prune rolled-up window rows past the retention horizon."""
    prune_window_rows()
