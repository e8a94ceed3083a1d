"""The "now" view (group ``now``): ``video_current_state``, one row per tracked video, and its top movers.

Not partitioned: the table holds each video's latest observation and velocity whichever window they came from.
Declarative: ``automation_condition_sensor`` refreshes it after ``video_velocity`` lands (a window, or a backfill
of many, one request for all). Each refresh reads only the ``video_velocity`` windows materialised since the
previous refresh (their partition keys, from Dagster's event log after the cursor that refresh recorded in its
metadata, ``velocity_event_cursor``) and merges each video's latest row (``tiktok_pipeline/metrics/current_state.py``):
cheap at 100k videos, and right when an old window is re-materialised or backfilled. Without a previous refresh
(or when the table is missing) it rebuilds the table from every window.
"""

from datetime import UTC, datetime

import dagster as dg

from tiktok_pipeline.defs.metadata import KINDS
from tiktok_pipeline.governance.markdown import markdown_table
from tiktok_pipeline.metrics.current_state import (
    MOVER_HOUR,
    TOP_MOVERS,
    current_state_figures,
    refresh_current_state,
    top_movers,
)
from tiktok_pipeline.warehouse.io import WarehouseResource
from tiktok_pipeline.warehouse.tables import (
    ENRICHED_VIDEO_METRICS,
    TOP_MOVERS_VIEW,
    VIDEO_CURRENT_STATE,
    VIDEO_VELOCITY,
)
from tiktok_pipeline.windows import window_from_key

NOW_GROUP = "now"
CURSOR = "velocity_event_cursor"
"""Metadata entry of each refresh: the storage id of the last ``video_velocity`` materialisation it took in."""
_VELOCITY = dg.AssetKey(VIDEO_VELOCITY.name)
_PAGE = 1000

CURRENT_STATE_DOC = f"""What is moving right now: one row per tracked video with its latest observation (views, likes,
comments, shares), the velocity of that observation (views per minute, 30-minute view delta, momentum, engagement
rate and its 30-minute change), the window it came from (`window_start`), `observed_at`, and how stale it is
(`staleness_seconds`, **as of the refresh** `refreshed_at`, not of the query), with the creator, campaigns and SKUs.

Refreshed automatically after each window's `video_velocity` lands; each refresh reads only the windows
materialised since the previous one and merges them: the latest observation per video wins, so re-materialising or
backfilling an old window never brings back an older row. Its materialisation shows the **Top movers** (the
{TOP_MOVERS} videos with the highest momentum among those observed in the hour before the newest observation)
and plottable figures; the same list is the warehouse view `{TOP_MOVERS_VIEW}`. Videos no longer observed (e.g.
past the tracking horizon) keep their last row, ever staler."""

CURRENT_STATE_AUTOMATION = (
    dg.AutomationCondition.any_deps_updated()
    .allow(dg.AssetSelection.assets(VIDEO_VELOCITY.name))
    .since_last_handled()
    .with_label("a window's velocity landed")
    & ~dg.AutomationCondition.in_progress()
)
"""Requested once after any ``video_velocity`` materialisation (one request for many windows), not while its own
run is in flight. Unlike ``eager()`` it does not wait for every window of the partitioned table to exist."""


@dg.asset(
    name=VIDEO_CURRENT_STATE.name,
    deps=[ENRICHED_VIDEO_METRICS.name, VIDEO_VELOCITY.name],
    group_name=NOW_GROUP,
    kinds=KINDS,
    description=CURRENT_STATE_DOC,
    metadata={**VIDEO_CURRENT_STATE.asset_metadata, "top_movers_view": TOP_MOVERS_VIEW, "top_movers": TOP_MOVERS},
    automation_condition=CURRENT_STATE_AUTOMATION,
)
def video_current_state(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Merge the latest observation of each video from the windows changed since the last refresh; top movers."""
    previous = _previous_cursor(context.instance)
    windows, cursor = _changed_windows(context.instance, previous)
    with warehouse.connection() as connection:  # the refresh instant once no writer can add rows: staleness >= 0
        merged = refresh_current_state(connection, windows, datetime.now(UTC))
        movers = top_movers(connection)
        figures = current_state_figures(connection)
    shown = [
        c
        for c in ("mover_rank", "video_id", "creator_username", "window_start", "momentum", "views_per_minute")
        + ("view_delta_30m", "view_count", "engagement_rate", "staleness_seconds")
        if c in movers.columns
    ]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": merged.rows,
            **figures,
            "rebuilt": merged.rebuilt,
            "windows_read": -1 if merged.rebuilt or windows is None else len(windows),  # -1: every window
            "vanished_videos": merged.vanished,
            "rows_read": merged.read,
            "rows_applied": merged.applied,
            "top_mover_momentum": float(movers["momentum"][0]) if movers.height else 0.0,
            "top_movers": dg.MetadataValue.md(
                f"Top {TOP_MOVERS} by momentum, observed within {MOVER_HOUR} of the newest observation "
                f"(view `{TOP_MOVERS_VIEW}`)\n\n" + markdown_table(movers.select(shown))
            ),
            CURSOR: cursor,
        }
    )


def _previous_cursor(instance: dg.DagsterInstance) -> int | None:
    """The velocity cursor the previous refresh recorded; None without one (the next refresh rebuilds)."""
    records = instance.fetch_materializations(dg.AssetKey(VIDEO_CURRENT_STATE.name), limit=1).records
    if not records or records[0].asset_materialization is None:
        return None
    value = records[0].asset_materialization.metadata.get(CURSOR)
    return int(value.value) if isinstance(value, dg.IntMetadataValue) and value.value is not None else None


def _changed_windows(instance: dg.DagsterInstance, after: int | None) -> tuple[list[datetime] | None, int]:
    """The windows of ``video_velocity`` materialised after storage id ``after`` (None: every window), and the new
    cursor. Taken before the warehouse is read: a window landing meanwhile is read again next time (idempotent)."""
    newest = instance.fetch_materializations(_VELOCITY, limit=1).records
    cursor = newest[0].storage_id if newest else 0
    if after is None:
        return None, cursor
    keys: set[str] = set()
    page: str | None = None
    records_filter = dg.AssetRecordsFilter(asset_key=_VELOCITY, after_storage_id=after, before_storage_id=cursor + 1)
    while True:
        result = instance.fetch_materializations(records_filter, limit=_PAGE, cursor=page, ascending=True)
        keys.update(r.partition_key for r in result.records if r.partition_key)
        if not result.has_more:
            break
        page = result.cursor
    return sorted(window_from_key(k) for k in keys), cursor
