"""Daily rollups, retention of window rows, and the schedules that run them.

Five-minute windows make 105,120 partitions a year and a row per video and window; neither can grow
for ever. So:

- ``daily_video_metrics`` and ``daily_creator_metrics`` (group ``retain``, daily partitions, UTC) roll
  each day of window rows into one row per video (creator) and day. Each daily partition depends on the
  288 windows of its day (Dagster's time-window mapping between the two partitionings).
- ``daily_rollup_schedule`` materialises yesterday's partition of both at 00:30 UTC, half an hour after
  the day's last window closed (that window's run has landed by then).
- ``window_retention_job`` (``window_retention_schedule``, 01:00 UTC) deletes window rows of days older
  than ``TIKTOK_RETENTION_DAYS``, one transaction per day, and only for days whose rollups hold exactly
  their rows and were materialised after every window of the day; other days are kept and reported.
  Retention never touches days younger than the horizon, so the order of the two schedules does not
  matter for correctness: a day is pruned by the first retention run after it is both old and rolled up.

The rules themselves are plain functions in ``tiktok_pipeline/retention.py``.
"""

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl

from tiktok_pipeline.defs.videos.assets import KINDS
from tiktok_pipeline.governance.markdown import markdown_table
from tiktok_pipeline.governance.retention import (
    COVERED_BY,
    DAY,
    PRUNED_TABLES,
    ChangedUnderfootError,
    DayDecision,
    DayEvidence,
    PartitionBudget,
    day_start,
    days_before,
    decide,
    landing_footprint,
    partition_budget,
    prune_day,
    retention_cutoff,
    rolled_up_observations,
)
from tiktok_pipeline.metrics.rollup import creator_days, video_days
from tiktok_pipeline.warehouse.io import (
    WRITER_POOL,
    WarehouseResource,
    Write,
    read_frame,
    replace_windows,
    table_exists,
)
from tiktok_pipeline.warehouse.tables import (
    DAILY_CREATOR_METRICS,
    DAILY_VIDEO_METRICS,
    ENRICHED_VIDEO_METRICS,
    RAW_CREATOR_SNAPSHOTS,
    VIDEO_VELOCITY,
    TableSpec,
)
from tiktok_pipeline.windows import utc_naive

log = logging.getLogger(__name__)

RETAIN_GROUP = "retain"
DAILY_ROLLUP_JOB_NAME = "daily_rollup_job"
RETENTION_JOB_NAME = "window_retention_job"
NO_DAILY_PARTITION = (
    "no daily partition covers the day (they start at the first whole day from TIKTOK_PARTITIONS_START), "
    "so it cannot be rolled up"
)

DAILY_VIDEO_DOC = """One row per video and day (UTC): where the video stood at the day's first and last
observation, the views it gained in between, its peak views per minute and momentum, its end-of-day likes,
comments, shares and engagement rate, and the campaigns and SKUs it was tracked under. Rolled up from
`enriched_video_metrics` and `video_velocity`; this is what remains of a day once retention has deleted its
5-minute rows (after `TIKTOK_RETENTION_DAYS`). Never pruned."""

DAILY_CREATOR_DOC = """One row per creator and day (UTC): followers at the day's first and last observation,
followers gained, and end-of-day following, likes and video totals. Rolled up from `raw_creator_snapshots`;
what remains of a day once retention has deleted its 5-minute rows. Never pruned."""


def first_whole_day(windows_start: datetime) -> datetime:
    """``TIKTOK_PARTITIONS_START``'s day when it starts at midnight (UTC), else the next day."""
    first = day_start(windows_start)
    return first if first == windows_start.astimezone(UTC) else first + DAY


def daily_partitions(windows_start: datetime) -> dg.DailyPartitionsDefinition:
    """Daily UTC partitions from the first whole day of 5-minute windows, so that a daily partition always
    maps onto 288 existing windows."""
    return dg.DailyPartitionsDefinition(start_date=first_whole_day(windows_start).strftime("%Y-%m-%d"), timezone="UTC")


class RetentionResource(dg.ConfigurableResource):
    """How long window rows are kept, where the (never pruned) landing files are, and where the windows start."""

    retention_days: int = 35
    landing_dir: str
    partitions_start: str
    """ISO instant of TIKTOK_PARTITIONS_START, for the partition budget."""

    def budget(self, now: datetime) -> PartitionBudget:
        return partition_budget(datetime.fromisoformat(self.partitions_start), now)


class RetentionConfig(dg.Config):
    """Run options of the retention op."""

    dry_run: bool = False
    """Decide and report, but delete nothing."""


def _days(context: dg.AssetExecutionContext) -> Iterator[datetime]:
    window = context.partition_time_window
    day, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
    while day < end:
        yield day
        day += DAY


def _read_day(connection, spec: TableSpec, day: datetime) -> pl.DataFrame:
    if not table_exists(connection, spec.name):
        return spec.empty()
    return read_frame(
        connection,
        f'SELECT * FROM "{spec.name}" WHERE window_start >= ? AND window_start < ?',
        [utc_naive(day), utc_naive(day + DAY)],
    )


def _has_rows(connection, spec: TableSpec, day: datetime) -> bool:
    if not table_exists(connection, spec.name):
        return False
    return bool(
        connection.execute(f'SELECT 1 FROM "{spec.name}" WHERE window_start = ? LIMIT 1', [utc_naive(day)]).fetchall()
    )


def _roll_days(context, warehouse: WarehouseResource, target: TableSpec, sources: tuple[TableSpec, ...], rollup):
    """Roll up each day of the run's range into ``target``, one transaction per day.

    A day whose window rows are gone (pruned) while ``target`` still holds its rollup is left alone:
    rolling up nothing would replace the only remaining record of that day with nothing.
    """
    written: list[pl.DataFrame] = []
    kept: list[str] = []
    windows = 0
    with warehouse.connection() as connection:
        for day in _days(context):
            frames = [_read_day(connection, spec, day) for spec in sources]
            if frames[0].is_empty() and _has_rows(connection, target, day):
                kept.append(f"{day:%Y-%m-%d}")
                context.log.warning(
                    f"{target.name} {day:%Y-%m-%d}: the window rows are gone (pruned by retention); "
                    "the existing rollup is kept unchanged"
                )
                continue
            windows += frames[0]["window_start"].n_unique()
            rolled = rollup(*frames)
            replace_windows(connection, day, day + DAY, Write(target, rolled))
            written.append(target.conform(rolled))
    frame = pl.concat(written) if written else target.empty()
    return frame, kept, windows


def _definition_metadata(spec: TableSpec, budget: PartitionBudget | None = None) -> dict[str, object]:
    metadata = dict(spec.asset_metadata)
    if budget is not None:
        # static figures only: definitions must be identical in every process that loads them
        metadata["window_partitions_start"] = f"{budget.start:%Y-%m-%dT%H:%MZ}"
        metadata["window_partition_limit_reached_on"] = f"{budget.limit_reached_on:%Y-%m-%d}"
    return metadata


def _window_dep(name: str) -> dg.AssetDep:
    return dg.AssetDep(name, partition_mapping=dg.TimeWindowPartitionMapping())


def build_rollup_assets(
    partitions_def: dg.DailyPartitionsDefinition, budget: PartitionBudget
) -> list[dg.AssetsDefinition]:
    """The daily rollup assets on ``partitions_def``."""
    common = dict(
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WRITER_POOL,
        group_name=RETAIN_GROUP,
        kinds=KINDS,
    )
    description = DAILY_VIDEO_DOC
    if budget.near_limit:
        description += f"\n\n**Partition budget:** {budget.message()}."

    @dg.asset(
        name=DAILY_VIDEO_METRICS.name,
        deps=[_window_dep(ENRICHED_VIDEO_METRICS.name), _window_dep(VIDEO_VELOCITY.name)],
        description=description,
        metadata=_definition_metadata(DAILY_VIDEO_METRICS, budget),
        **common,
    )
    def daily_video_metrics(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Roll each day's enriched and velocity window rows into one row per video."""
        rolled, kept, windows = _roll_days(
            context, warehouse, DAILY_VIDEO_METRICS, (ENRICHED_VIDEO_METRICS, VIDEO_VELOCITY), video_days
        )
        gainers = (
            rolled.sort("views_gained", descending=True, nulls_last=True)
            .head(10)
            .select("window_start", "video_id", "creator_username", "last_view_count", "views_gained", "max_momentum")
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rolled.height,
                "videos": rolled["video_id"].n_unique(),
                "windows_rolled_up": windows,
                "observations": int(rolled["observations"].sum() or 0),
                "views_gained": int(rolled["views_gained"].sum() or 0),
                "max_momentum": float(rolled["max_momentum"].max() or 0.0),
                "days_kept_unchanged": dg.MetadataValue.json(kept),
                "top_gainers": dg.MetadataValue.md(markdown_table(gainers)),
            }
        )

    @dg.asset(
        name=DAILY_CREATOR_METRICS.name,
        deps=[_window_dep(RAW_CREATOR_SNAPSHOTS.name)],
        description=DAILY_CREATOR_DOC,
        metadata=_definition_metadata(DAILY_CREATOR_METRICS),
        **common,
    )
    def daily_creator_metrics(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Roll each day's creator snapshots into one row per creator."""
        rolled, kept, windows = _roll_days(
            context, warehouse, DAILY_CREATOR_METRICS, (RAW_CREATOR_SNAPSHOTS,), creator_days
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rolled.height,
                "creators": rolled["creator_username"].n_unique(),
                "windows_rolled_up": windows,
                "observations": int(rolled["observations"].sum() or 0),
                "followers_gained": int(rolled["followers_gained"].sum() or 0),
                "days_kept_unchanged": dg.MetadataValue.json(kept),
            }
        )

    return [daily_video_metrics, daily_creator_metrics]


def _latest_by_day(instance: dg.DagsterInstance, asset: str) -> dict[str, int]:
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


def _decisions_table(
    decisions: list[DayDecision], deleted: dict[str, dict[str, int]], landing_dir: Path
) -> pl.DataFrame:
    rows = []
    for decision in decisions:
        key = f"{decision.day:%Y-%m-%d}"
        files, size = landing_footprint(landing_dir, decision.day)
        action = "deleted" if key in deleted else ("would delete (dry run)" if decision.prune else "kept")
        rows.append(
            {
                "day": key,
                "action": action,
                **{table: decision.window_rows.get(table, 0) for table in PRUNED_TABLES},
                "landing_files_kept": files,
                "landing_mb_kept": round(size / 1e6, 3),
                "reason_kept": "; ".join(decision.reasons),
            }
        )
    return pl.DataFrame(rows)


@dg.op(pool=WRITER_POOL, out=dg.Out(dg.Nothing))
def prune_window_rows(
    context: dg.OpExecutionContext, config: RetentionConfig, warehouse: WarehouseResource, retention: RetentionResource
):
    """Delete the window rows of every day older than TIKTOK_RETENTION_DAYS that the daily rollups hold.

    For each day before the cutoff (midnight UTC, today minus the retention days) that still has rows in
    raw_video_snapshots, raw_creator_snapshots, enriched_video_metrics or video_velocity: the day is
    deleted from all four in ONE transaction only if daily_video_metrics and daily_creator_metrics have
    rows for it whose observations equal the window tables' row counts, and their partition for the day
    was materialised after every window of the day. Otherwise the day is kept, and the reason logged and
    reported. quarantined_records, poll_telemetry, alerts, the rollups and the landing files are never
    deleted. Reports per day what was deleted or kept as output metadata (and, with dry_run, deletes
    nothing).
    """
    now = datetime.now(UTC)
    cutoff = retention_cutoff(now, retention.retention_days)
    budget = retention.budget(now)
    first_day = first_whole_day(budget.start)
    if budget.near_limit:
        context.log.warning(budget.message())
    decisions: list[DayDecision] = []
    deleted: dict[str, dict[str, int]] = {}
    # the warehouse connection is held throughout: no other process can write between decision and delete
    with warehouse.connection() as connection:
        candidates = days_before(connection, cutoff)
        if candidates:
            rollup_marks = {rollup: _latest_by_day(context.instance, rollup) for rollup in COVERED_BY}
            window_marks = {table: _latest_by_day(context.instance, table) for table in PRUNED_TABLES}
        for day, rows in candidates.items():
            key = f"{day:%Y-%m-%d}"
            decision = decide(
                DayEvidence(
                    day=day,
                    window_rows=rows,
                    rolled_up=rolled_up_observations(connection, day),
                    rollup_marks={rollup: marks.get(key) for rollup, marks in rollup_marks.items()},
                    window_marks={table: marks.get(key) for table, marks in window_marks.items()},
                )
            )
            if not decision.prune and day < first_day:
                decision = DayDecision(day, False, (*decision.reasons, NO_DAILY_PARTITION), decision.window_rows)
            if decision.prune and not config.dry_run:
                try:
                    deleted[key] = prune_day(connection, day, decision.window_rows)
                except ChangedUnderfootError as exc:
                    decision = DayDecision(day, False, (str(exc),), decision.window_rows)
            decisions.append(decision)
            if decision.prune:
                context.log.info(
                    f"{key}: {'would delete' if config.dry_run else 'deleted'} {dict(decision.window_rows)}"
                )
            else:
                context.log.warning(f"{key} kept: {'; '.join(decision.reasons)}")
    per_table = {table: sum(day.get(table, 0) for day in deleted.values()) for table in PRUNED_TABLES}
    for table, count in per_table.items():
        if count:
            yield dg.AssetObservation(
                asset_key=table,
                description=f"retention deleted the window rows of days before {cutoff:%Y-%m-%d}",
                metadata={
                    "rows_deleted": count,
                    "days_pruned": dg.MetadataValue.json(sorted(deleted)),
                    "cutoff": f"{cutoff:%Y-%m-%d}",
                },
            )
    yield dg.Output(
        None,
        metadata={
            "cutoff": f"{cutoff:%Y-%m-%d}",
            "retention_days": retention.retention_days,
            "dry_run": config.dry_run,
            "days_considered": len(decisions),
            "days_pruned": len(deleted),
            "days_rolled_up_past_cutoff": sum(d.prune for d in decisions),
            "days_kept": sum(not d.prune for d in decisions),
            "rows_deleted": sum(per_table.values()),
            **{f"rows_deleted_{table}": count for table, count in per_table.items()},
            "days": dg.MetadataValue.md(
                markdown_table(_decisions_table(decisions, deleted, Path(retention.landing_dir)))
            ),
            "window_partitions_now": budget.partitions_now,
            "window_partition_limit_reached_on": f"{budget.limit_reached_on:%Y-%m-%d}",
        },
    )


@dg.job(
    name=RETENTION_JOB_NAME,
    description=(
        "Deletes the 5-minute window rows of days older than TIKTOK_RETENTION_DAYS, one transaction per day, "
        "only for days the daily rollups hold (days without an up-to-date rollup are kept and reported). "
        "Run config `dry_run: true` reports without deleting. Landing files are never deleted."
    ),
)
def window_retention_job() -> None:
    """Prune rolled-up window rows past the retention horizon."""
    prune_window_rows()


def build_retention_definitions(settings, now: datetime | None = None) -> dg.Definitions:
    """The daily rollups, their job and schedule, the retention job and schedule, and the retention resource.

    Also the partition-budget guard: when the 5-minute partitions are within a month of the 100,000 the
    UI is tuned for, a warning is logged at load and shown in daily_video_metrics' description.
    """
    budget = partition_budget(settings.partitions_start, now or datetime.now(UTC))
    if budget.near_limit:
        log.warning(budget.message())
    partitions_def = daily_partitions(settings.partitions_start)
    rollup_job = dg.define_asset_job(
        DAILY_ROLLUP_JOB_NAME,
        selection=dg.AssetSelection.groups(RETAIN_GROUP),
        description=(
            "Rolls one day (or, as a backfill, a range of days in one run) of 5-minute window rows into "
            "daily_video_metrics and daily_creator_metrics."
        ),
    )
    rollup_schedule = dg.build_schedule_from_partitioned_job(
        rollup_job,
        name="daily_rollup_schedule",
        hour_of_day=0,
        minute_of_hour=30,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            "At 00:30 UTC, rolls up yesterday (the last closed daily partition): its last window closed at "
            "midnight and its run has finished by then. A window re-materialised later makes that day's rollup "
            "stale; retention then keeps the day until its partition is re-materialised."
        ),
    )
    retention_schedule = dg.ScheduleDefinition(
        name="window_retention_schedule",
        job=window_retention_job,
        cron_schedule="0 1 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"At 01:00 UTC, deletes the window rows of rolled-up days older than TIKTOK_RETENTION_DAYS "
            f"({settings.retention.retention_days}); days that are not rolled up are kept and listed in the run's output."
        ),
    )
    return dg.Definitions(
        assets=build_rollup_assets(partitions_def, budget),
        jobs=[rollup_job, window_retention_job],
        schedules=[rollup_schedule, retention_schedule],
        resources={
            "retention": RetentionResource(
                retention_days=settings.retention.retention_days,
                landing_dir=str(settings.landing_dir),
                partitions_start=settings.partitions_start.isoformat(),
            )
        },
    )
