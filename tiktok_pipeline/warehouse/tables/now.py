"""The "now" table: one row per tracked video, its latest observation and velocity (not partitioned)."""

from __future__ import annotations

from tiktok_pipeline.governance.owners import DATA_PLATFORM
from tiktok_pipeline.warehouse.tables.spec import (
    COUNT_COLUMNS,
    CREATED_COLUMN,
    CREATOR_COLUMN,
    OBSERVED_COLUMN,
    VIDEO_COLUMN,
    Column,
    Retention,
    TableSpec,
)
from tiktok_pipeline.warehouse.tables.videos import ENRICHED_VIDEO_METRICS, VIDEO_VELOCITY

VELOCITY_FIGURES = (
    "views_per_minute",
    "view_delta_30m",
    "momentum",
    "engagement_rate",
    "engagement_rate_change_30m",
    "baseline_observed_at",
)
"""The columns ``video_current_state`` takes from ``video_velocity`` (besides the video, window and observed_at)."""
REFRESH_COLUMNS = ("refreshed_at", "staleness_seconds")
"""The columns set on every row at each refresh."""

_VELOCITY = {c.name: c for c in VIDEO_VELOCITY.columns}
_ENRICHED = {c.name: c for c in ENRICHED_VIDEO_METRICS.columns}

VIDEO_CURRENT_STATE = TableSpec(
    "video_current_state",
    (
        VIDEO_COLUMN,
        CREATOR_COLUMN,
        Column(
            "window_start",
            "TIMESTAMP",
            "Start (UTC) of the 5-minute window the latest observation (and its velocity) came from.",
        ),
        OBSERVED_COLUMN,
        CREATED_COLUMN,
        *COUNT_COLUMNS,
        *(_VELOCITY[name] for name in VELOCITY_FIGURES),
        *(_ENRICHED[name] for name in ("campaign_ids", "product_skus", "audience_tags")),
        Column(
            "refreshed_at",
            "TIMESTAMP",
            "UTC instant of the table's last refresh (the same on every row): staleness is as of this instant.",
        ),
        Column(
            "staleness_seconds",
            "DOUBLE",
            "Seconds from observed_at to refreshed_at: how old the row was when the table was last refreshed"
            " (as of the refresh, not of the query; add now() - refreshed_at for the age at query time).",
        ),
    ),
    description="One row per tracked video: its latest observation, that observation's velocity, and how stale it is.",
    owner=DATA_PLATFORM,
    sources=("display_api", "tracking_registry"),
    retention=Retention.LATEST,
)
"""One row per tracked video: its latest observation (counts), the velocity figures of that observation, the window
it came from, how stale it is as of the refresh, and its registry enrichment. Written only by the asset
``video_current_state``; the view ``top_movers_last_hour`` reads it."""

TOP_MOVERS_VIEW = "top_movers_last_hour"
"""The view over ``video_current_state``: the top movers by momentum among the videos observed in the last hour."""

TOP_MOVERS_LAST_HOUR = TableSpec(
    TOP_MOVERS_VIEW,
    (
        Column(
            "mover_rank",
            "BIGINT",
            "1 for the highest momentum (ties: views per minute, then video id) among the videos observed within the"
            " hour before the newest observation.",
        ),
        *VIDEO_CURRENT_STATE.columns,
    ),
    description="The view over video_current_state: the top movers by momentum among the videos observed in the"
    " last hour, ranked.",
    owner=DATA_PLATFORM,
    sources=VIDEO_CURRENT_STATE.sources,
    retention=Retention.VIEW,
    view=True,
)
"""``top_movers_last_hour`` declared for the data dictionary (created by
:func:`tiktok_pipeline.metrics.current_state.top_movers_view_sql`): ``mover_rank`` then every column of
``video_current_state``."""
