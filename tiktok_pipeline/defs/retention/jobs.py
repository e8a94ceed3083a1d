"""``window_retention_job``: delete the 5-minute rows of old days that the daily rollups hold, then the call log
rows, quarantined records and landing files past their declared days.

The rules are plain functions in ``tiktok_pipeline/governance/retention.py`` (window rows; one run's decisions and
deletes in ``governance/pruning.py``) and ``governance/holdings.py`` (the rest).
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from tiktok_pipeline.defs.retention.holdings import landing_evidence, landing_table
from tiktok_pipeline.defs.retention.resources import RetentionResource
from tiktok_pipeline.governance.holdings import prune_held_rows, prune_landing
from tiktok_pipeline.governance.markdown import markdown_table
from tiktok_pipeline.governance.pruning import decisions_table, prune_windows
from tiktok_pipeline.governance.retention import retention_cutoff
from tiktok_pipeline.warehouse.call_spool import write_spooled
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
    rows for it whose observations equal the window tables' row counts source by source (of raw_video_snapshots,
    the rows of the source enrichment keeps; ``governance/coverage.py``), and their partition for the day
    was materialised after every window of the day. Otherwise the day is kept, and the reason logged and
    reported. Then the calls CLI commands spooled while the warehouse was busy are written to api_call_log
    (``warehouse/call_spool.py``), and api_call_log rows older than TIKTOK_CALL_LOG_RETENTION_DAYS and quarantine rows older than
    TIKTOK_QUARANTINE_RETENTION_DAYS are deleted (one transaction per table), and the landing files of days older
    than TIKTOK_LANDING_RETENTION_DAYS that nothing needs any more (their window parsed, no run of it queued or
    running, its day's window rows pruned; ``governance/holdings.py``). poll_telemetry, alerts and the rollups are
    never deleted. Reports per day, table and landing folder what was deleted or kept as output metadata and log
    lines (and, with dry_run, deletes nothing). On a DuckLake it then merges small Parquet files, expires snapshots older than
    TIKTOK_LAKE_SNAPSHOT_DAYS and deletes the files nothing reads any more (``warehouse/maintenance.py``),
    reported as ``lake_*`` metadata.
    """
    now = datetime.now(UTC)
    # the warehouse connection is held throughout: no other process can write between decision and delete
    with warehouse.connection() as connection:
        run = prune_windows(
            connection,
            now=now,
            retention_days=retention.retention_days,
            partitions_start=retention.windows_start,
            latest_by_day=lambda asset: latest_by_day(context.instance, asset),
            dry_run=config.dry_run,
            log=lambda level, message: getattr(context.log, level)(message),
        )
        spooled_calls = 0 if config.dry_run else write_spooled(connection, Path(retention.landing_dir))
        held = prune_held_rows(connection, now=now, days=retention.held_days, dry_run=config.dry_run)
        evidence = landing_evidence(
            context.instance, connection, retention_cutoff(now, retention.landing_retention_days)
        )
        landing = prune_landing(
            Path(retention.landing_dir),
            now=now,
            landing_days_kept=retention.landing_retention_days,
            window_days_kept=retention.retention_days,
            needed=evidence.needed,
            dry_run=config.dry_run,
            log=lambda level, message: getattr(context.log, level)(message),
        )
        upkeep = None
        if warehouse.target.is_lake and not config.dry_run:
            upkeep = tidy_lake(connection, now=now, keep_snapshots=timedelta(days=retention.lake_snapshot_days))
            context.log.info(f"lake upkeep: {upkeep}")
    verb = "would delete" if config.dry_run else "deleted"
    context.log.info(
        f"retention {verb}: window rows {sum(run.per_table.values())}, "
        + ", ".join(f"{table} {count} rows" for table, count in held.items())
        + f", landing {landing.files_deleted} files ({landing.bytes_deleted / 1e6:.1f} MB) in"
        f" {sum(1 for f in landing.folders if f.deleted)} folders ({landing.files_kept} old files kept)"
    )
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
            "spooled_calls_written": spooled_calls,
            "dry_run": config.dry_run,
            "days_considered": len(run.decisions),
            "days_pruned": len(run.deleted),
            "days_rolled_up_past_cutoff": sum(d.prune for d in run.decisions),
            "days_kept": sum(not d.prune for d in run.decisions),
            "rows_deleted": sum(run.per_table.values()),
            **{f"rows_deleted_{table}": count for table, count in run.per_table.items()},
            "days": dg.MetadataValue.md(markdown_table(decisions_table(run, Path(retention.landing_dir)))),
            **{f"rows_deleted_{table}": count for table, count in held.items()},
            "landing_cutoff": f"{landing.cutoff:%Y-%m-%d}",
            "landing_files_deleted": landing.files_deleted,
            "landing_mb_deleted": round(landing.bytes_deleted / 1e6, 3),
            "landing_files_kept": landing.files_kept,
            "landing": dg.MetadataValue.md(markdown_table(landing_table(landing))),
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
        "Then deletes api_call_log and quarantine rows, and landing files nothing needs any more, older than their "
        "declared days (TIKTOK_CALL_LOG_/QUARANTINE_/LANDING_RETENTION_DAYS). "
        "Run config `dry_run: true` reports without deleting. On a DuckLake it "
        "also merges small Parquet files and expires snapshots older than TIKTOK_LAKE_SNAPSHOT_DAYS."
    ),
)
def window_retention_job() -> None:
    """Prune rolled-up window rows, then call log rows, quarantined records and landing files, past their horizons."""
    prune_window_rows()
