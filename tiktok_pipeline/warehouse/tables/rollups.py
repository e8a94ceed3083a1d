"""Daily rollups of the window tables (kept when retention deletes the 5-minute rows)."""

from __future__ import annotations

from tiktok_pipeline.governance.owners import DATA_PLATFORM
from tiktok_pipeline.warehouse.tables.spec import (
    CREATED_COLUMN,
    CREATOR_COLUMN,
    SOURCE_COLUMN,
    VIDEO_COLUMN,
    Column,
    Identifies,
    Retention,
    TableSpec,
)
from tiktok_pipeline.warehouse.tables.versions import source_added

_DAY_START = Column(
    "window_start",
    "TIMESTAMP",
    "Start (midnight UTC) of the day the row summarises: the daily partition. Covers the 5-minute windows"
    " whose window_start falls on that day.",
)

DAILY_VIDEO_METRICS = TableSpec(
    "daily_video_metrics",
    (
        _DAY_START,
        VIDEO_COLUMN,
        CREATOR_COLUMN,
        CREATED_COLUMN,
        Column("campaign_ids", "VARCHAR[]", "Campaigns the creator was tracked under at the day's last observation."),
        Column("product_skus", "VARCHAR[]", "Product SKUs at the day's last observation."),
        Column("audience_tags", "VARCHAR[]", "Audience segments at the day's last observation."),
        Column(
            "observations", "BIGINT", "Window rows of the video that day (rows of enriched_video_metrics rolled up)."
        ),
        Column("first_observed_at", "TIMESTAMP", "The day's first observation of the video (UTC)."),
        Column("last_observed_at", "TIMESTAMP", "The day's last observation of the video (UTC)."),
        Column("first_view_count", "BIGINT", "Cumulative views at first_observed_at."),
        Column("last_view_count", "BIGINT", "Cumulative views at last_observed_at."),
        Column("max_view_count", "BIGINT", "Highest cumulative view count observed that day."),
        Column(
            "views_gained",
            "BIGINT",
            "last_view_count - first_view_count: views gained between the day's first and last observation"
            " (the gap between the previous day's last and this day's first observation counts on neither day).",
        ),
        Column("like_count", "BIGINT", "Cumulative likes at the day's last observation."),
        Column("comment_count", "BIGINT", "Cumulative comments at the day's last observation."),
        Column("share_count", "BIGINT", "Cumulative shares at the day's last observation."),
        Column("engagement_rate", "DOUBLE", "Engagement rate at the day's last observation; null while views are 0."),
        Column(
            "mean_engagement_rate", "DOUBLE", "Mean of the day's engagement rates (observations with 0 views ignored)."
        ),
        Column(
            "max_views_per_minute",
            "DOUBLE",
            "Highest views per minute of the day (video_velocity); null without a 30-minute baseline.",
        ),
        Column(
            "max_momentum",
            "DOUBLE",
            "Highest momentum of the day (video_velocity); above 1 the video surged at some point.",
        ),
        Column("max_momentum_at", "TIMESTAMP", "Observation (UTC) at which max_momentum was reached."),
        Column(
            "observations_with_baseline",
            "BIGINT",
            "Observations of the day that had a 30-minute baseline (so a speed).",
        ),
        SOURCE_COLUMN,
    ),
    description=(
        "One row per video, UTC day and source: the day's window rows of enriched_video_metrics and video_velocity of"
        " that source rolled up (a video the Display API observed in some windows and only the analytics provider in"
        " others has a row of each; views_gained never spans two sources' counts)."
    ),
    owner=DATA_PLATFORM,
    sources=("display_api", "analytics_provider", "tracking_registry"),
    retention=Retention.ROLLUP,
    version=2,
    migrations=(source_added(2),),
)

DAILY_CREATOR_METRICS = TableSpec(
    "daily_creator_metrics",
    (
        _DAY_START,
        CREATOR_COLUMN,
        Column("open_id", "VARCHAR", "The creator's open_id for this app (last of the day).", Identifies.OPEN_ID),
        Column("display_name", "VARCHAR", "Display name at the day's last observation."),
        Column(
            "observations", "BIGINT", "Window rows of the creator that day (rows of raw_creator_snapshots rolled up)."
        ),
        Column("first_observed_at", "TIMESTAMP", "The day's first observation of the creator (UTC)."),
        Column("last_observed_at", "TIMESTAMP", "The day's last observation of the creator (UTC)."),
        Column("first_follower_count", "BIGINT", "Followers at first_observed_at."),
        Column("last_follower_count", "BIGINT", "Followers at last_observed_at."),
        Column(
            "followers_gained", "BIGINT", "last_follower_count - first_follower_count (negative when followers left)."
        ),
        Column("following_count", "BIGINT", "Accounts followed at the day's last observation."),
        Column("likes_count", "BIGINT", "Total likes across the creator's videos at the day's last observation."),
        Column("video_count", "BIGINT", "Public videos at the day's last observation."),
        SOURCE_COLUMN,
    ),
    description=(
        "One row per creator, UTC day and source: the day's rows of raw_creator_snapshots of that source rolled up"
        " (a creator both sources observed has a row of each; followers_gained never spans two sources' counts)."
    ),
    owner=DATA_PLATFORM,
    sources=("display_api", "analytics_provider"),
    retention=Retention.ROLLUP,
    version=2,
    migrations=(source_added(2),),
)
