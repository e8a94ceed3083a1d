"""Daily rollups (group ``retain``): a day of 5-minute window rows as one row per video, and per creator (each per source).

Five-minute windows make 105,120 partitions a year and a row per video and window; neither can grow for
ever, so retention (``defs/retention/``) deletes old window rows, and these daily partitions (UTC) are
what remains. Each daily partition depends on the 288 windows of its day (a time-window mapping).

Declarative: ``automation_condition_sensor`` materialises the latest complete day as soon as its windows
land (the 23:55 window's run, just after midnight) and again whenever a window of that day is
re-materialised, and at 00:30 UTC if the day is still missing (its last windows never came).
"""

import logging
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import polars as pl

from tiktok_pipeline.defs.metadata import KINDS, partition_range
from tiktok_pipeline.defs.partitions import DAYS
from tiktok_pipeline.governance.markdown import markdown_table
from tiktok_pipeline.governance.retention import partition_budget
from tiktok_pipeline.metrics.rollup import creator_days, roll_up_days, video_days
from tiktok_pipeline.settings import load_settings
from tiktok_pipeline.warehouse.io import WarehouseResource
from tiktok_pipeline.warehouse.tables import (
    DAILY_CREATOR_METRICS,
    DAILY_VIDEO_METRICS,
    ENRICHED_VIDEO_METRICS,
    RAW_CREATOR_SNAPSHOTS,
    VIDEO_VELOCITY,
)

log = logging.getLogger(__name__)

RETAIN_GROUP = "retain"
ROLLUP_CRON = "30 0 * * *"

DAILY_VIDEO_DOC = """One row per video, day (UTC) and source: where the video stood at the day's first and last
observation, the views it gained in between, its peak views per minute and momentum, its end-of-day likes,
comments, shares and engagement rate, and the campaigns and SKUs it was tracked under. Rolled up from
`enriched_video_metrics` and `video_velocity` (automatically, once the day's windows have landed); this is
what remains of a day once retention has deleted its 5-minute rows (after `TIKTOK_RETENTION_DAYS`). Never pruned.
A video the Display API observed in some windows and only the analytics provider in others has a row of each source
(`source`): views gained are never the difference of two sources' counts."""

DAILY_CREATOR_DOC = """One row per creator, day (UTC) and source: followers at the day's first and last observation,
followers gained, and end-of-day following, likes and video totals. Rolled up from `raw_creator_snapshots`
(automatically, once the day's windows have landed); what remains of a day once retention has deleted its
5-minute rows. Never pruned. A creator observed by both the Display API and the analytics provider has a row of each
source (`source`): followers gained are never the difference of two sources' counts."""

CREATOR_SNAPSHOT_ASSETS = (RAW_CREATOR_SNAPSHOTS.name, "provider_video_snapshots")
"""The writers of raw_creator_snapshots: the Display API's raw snapshots step and (when switched on) the analytics
provider's step, which writes its creator rows with its video rows."""

ROLLUP_AUTOMATION = (
    dg.AutomationCondition.in_latest_time_window()
    & (  # type: ignore[misc, operator]  # 1.13's generic AutomationCondition types do not compose in mypy
        dg.AutomationCondition.any_deps_updated()
        | (dg.AutomationCondition.cron_tick_passed(ROLLUP_CRON, "UTC") & dg.AutomationCondition.missing())
    ).since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("daily rollup: when the day's windows update, or at 00:30 UTC if still missing")
"""For the latest complete day: when any of its windows updates (no run while one of them is in progress),
or at 00:30 UTC when it is still missing. Unlike eager() it does not wait for all 288 windows (a gap
while the daemon was down would block the day for ever), and unlike on_cron() it does not need the
day's windows to update after the cron tick (they never do)."""

_budget = partition_budget(load_settings().partitions_start, datetime.now(UTC))
if _budget.near_limit:
    log.warning(_budget.message())


DAILY_TABLE: dict[str, Any] = dict(
    automation_condition=ROLLUP_AUTOMATION,
    partitions_def=DAYS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=RETAIN_GROUP,
    kinds=KINDS,
)
"""What both rollups share: daily partitions, declarative, one run per backfill."""


def _window_dep(name: str) -> dg.AssetDep:
    return dg.AssetDep(name, partition_mapping=dg.TimeWindowPartitionMapping())


def _static_budget_metadata() -> dict[str, object]:
    # static figures only: definitions must be identical in every process that loads them
    return {
        "window_partitions_start": f"{_budget.start:%Y-%m-%dT%H:%MZ}",
        "window_partition_limit_reached_on": f"{_budget.limit_reached_on:%Y-%m-%d}",
    }


@dg.asset(
    name=DAILY_VIDEO_METRICS.name,
    deps=[_window_dep(ENRICHED_VIDEO_METRICS.name), _window_dep(VIDEO_VELOCITY.name)],
    description=DAILY_VIDEO_DOC + (f"\n\n**Partition budget:** {_budget.message()}." if _budget.near_limit else ""),
    metadata={**DAILY_VIDEO_METRICS.asset_metadata, **_static_budget_metadata()},
    **DAILY_TABLE,
)
def daily_video_metrics(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Roll each day's enriched and velocity window rows into one row per video and source."""
    start, end = partition_range(context)
    with warehouse.connection() as connection:
        rolled = roll_up_days(
            connection, start, end, DAILY_VIDEO_METRICS, (ENRICHED_VIDEO_METRICS, VIDEO_VELOCITY), video_days
        )
    _warn_kept(context, DAILY_VIDEO_METRICS.name, rolled.kept)
    frame = rolled.frame
    gainers = (
        frame.sort("views_gained", descending=True, nulls_last=True)
        .head(10)
        .select("window_start", "video_id", "creator_username", "last_view_count", "views_gained", "max_momentum")
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": frame.height,
            "videos": frame["video_id"].n_unique(),
            "rows_per_source": _rows_per_source(frame),
            "windows_rolled_up": rolled.windows,
            "observations": int(frame["observations"].sum() or 0),
            "views_gained": int(frame["views_gained"].sum() or 0),
            "max_momentum": float(frame["max_momentum"].max() or 0.0),  # type: ignore[arg-type]  # a Float64 column
            "days_kept_unchanged": dg.MetadataValue.json(rolled.kept),
            "top_gainers": dg.MetadataValue.md(markdown_table(gainers)),
        }
    )


@dg.asset(
    name=DAILY_CREATOR_METRICS.name,
    deps=[_window_dep(name) for name in CREATOR_SNAPSHOT_ASSETS],
    description=DAILY_CREATOR_DOC,
    metadata=DAILY_CREATOR_METRICS.asset_metadata,
    **DAILY_TABLE,
)
def daily_creator_metrics(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Roll each day's creator snapshots into one row per creator and source."""
    start, end = partition_range(context)
    with warehouse.connection() as connection:
        rolled = roll_up_days(connection, start, end, DAILY_CREATOR_METRICS, (RAW_CREATOR_SNAPSHOTS,), creator_days)
    _warn_kept(context, DAILY_CREATOR_METRICS.name, rolled.kept)
    frame = rolled.frame
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": frame.height,
            "creators": frame["creator_username"].n_unique(),
            "rows_per_source": _rows_per_source(frame),
            "windows_rolled_up": rolled.windows,
            "observations": int(frame["observations"].sum() or 0),
            "followers_gained": int(frame["followers_gained"].sum() or 0),
            "days_kept_unchanged": dg.MetadataValue.json(rolled.kept),
        }
    )


def _rows_per_source(frame: pl.DataFrame) -> dg.MetadataValue:
    return dg.MetadataValue.json(
        dict(frame.group_by("source").len().sort("source").iter_rows()) if frame.height else {}
    )


def _warn_kept(context: dg.AssetExecutionContext, table: str, kept: list[str]) -> None:
    for day in kept:
        context.log.warning(
            f"{table} {day}: the window rows are gone (pruned by retention); the existing rollup is kept unchanged"
        )
