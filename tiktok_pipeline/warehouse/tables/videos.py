"""The window tables of the video pipeline: raw snapshots, enriched metrics, velocity and polling telemetry."""

from __future__ import annotations

from tiktok_pipeline.governance.owners import DATA_PLATFORM
from tiktok_pipeline.warehouse.tables.spec import (
    COUNT_COLUMNS,
    CREATED_COLUMN,
    CREATOR_COLUMN,
    OBSERVED_COLUMN,
    SOURCE_COLUMN,
    VIDEO_COLUMN,
    WINDOW_COLUMN,
    Column,
    Identifies,
    Retention,
    TableSpec,
)
from tiktok_pipeline.warehouse.tables.versions import AddColumn, Migration, source_added

RAW_VIDEO_SNAPSHOTS = TableSpec(
    "raw_video_snapshots",
    (
        WINDOW_COLUMN,
        OBSERVED_COLUMN,
        VIDEO_COLUMN,
        CREATOR_COLUMN,
        CREATED_COLUMN,
        *COUNT_COLUMNS,
        Column("duration_seconds", "INTEGER", "Video length in seconds, when TikTok returned it."),
        Column("title", "VARCHAR", "Video title, when TikTok returned it."),
        Column("landing_file", "VARCHAR", "Landed raw response file this row was parsed from (relative path)."),
        Column("log_id", "VARCHAR", "TikTok's log_id of the response that carried the observation."),
        Column(
            "response_schema_version",
            "INTEGER",
            "Schema version of the landed answer the row was parsed from (its landing record's schema, e.g."
            " display_api.video_query/1; tiktok_pipeline/ingest/schemas.py): which model read it. Rows parsed before"
            " schema versions were recorded are version 1.",
        ),
        SOURCE_COLUMN,
    ),
    description=(
        "One row per video, 5-minute window and source: its counts as the Display API (or the approved analytics"
        " provider, source analytics_provider) returned them."
    ),
    owner=DATA_PLATFORM,
    sources=("display_api", "analytics_provider"),
    retention=Retention.WINDOW_ROWS,
    version=3,
    migrations=(
        Migration(
            2,
            (AddColumn("response_schema_version", default="1"),),
            why="record the landed answer's schema version (rows parsed before: version 1)",
        ),
        source_added(3),
    ),
)

RAW_CREATOR_SNAPSHOTS = TableSpec(
    "raw_creator_snapshots",
    (
        WINDOW_COLUMN,
        OBSERVED_COLUMN,
        CREATOR_COLUMN,
        Column(
            "open_id",
            "VARCHAR",
            "The creator's open_id for this app; null in the analytics provider's rows (the provider has none).",
            Identifies.OPEN_ID,
        ),
        Column("display_name", "VARCHAR", "Display name shown on the profile."),
        Column("follower_count", "BIGINT", "Followers at observed_at."),
        Column("following_count", "BIGINT", "Accounts the creator follows at observed_at."),
        Column("likes_count", "BIGINT", "Total likes across the creator's videos at observed_at."),
        Column("video_count", "BIGINT", "Public videos at observed_at."),
        Column("landing_file", "VARCHAR", "Landed raw response file this row was parsed from (relative path)."),
        SOURCE_COLUMN,
    ),
    description=(
        "One row per creator, window and source: follower, like and video totals from the Display API's user/info"
        " (or the approved analytics provider's influencer/list, source analytics_provider, whose rows have no"
        " open_id and whose observed_at is the provider's updated_at)."
    ),
    owner=DATA_PLATFORM,
    sources=("display_api", "analytics_provider"),
    retention=Retention.WINDOW_ROWS,
    version=2,
    migrations=(source_added(2),),
)

ENRICHED_VIDEO_METRICS = TableSpec(
    "enriched_video_metrics",
    (
        WINDOW_COLUMN,
        OBSERVED_COLUMN,
        VIDEO_COLUMN,
        CREATOR_COLUMN,
        CREATED_COLUMN,
        *COUNT_COLUMNS,
        Column(
            "engagement_rate",
            "DOUBLE",
            "(likes + comments + shares) / views at observed_at; null while views are 0. Kept as TikTok reported it:"
            " it can exceed 1 for a moment (TikTok updates each counter separately, views with a delay).",
        ),
        Column("video_age_minutes", "DOUBLE", "Minutes from create_time to observed_at."),
        Column("campaign_ids", "VARCHAR[]", "Campaigns the creator is tracked under (tracking registry)."),
        Column("product_skus", "VARCHAR[]", "Product SKUs the creator promotes (tracking registry)."),
        Column("audience_tags", "VARCHAR[]", "Audience segments of the creator (tracking registry)."),
        SOURCE_COLUMN,
    ),
    description=(
        "raw_video_snapshots with engagement rate, age and the tracking registry's campaigns, products and audiences;"
        " one row per video and window: the Display API's row when it observed the video in the window, else the"
        " analytics provider's (column source)."
    ),
    owner=DATA_PLATFORM,
    sources=("display_api", "analytics_provider", "tracking_registry"),
    retention=Retention.WINDOW_ROWS,
    version=2,
    migrations=(source_added(2),),
)

VIDEO_VELOCITY = TableSpec(
    "video_velocity",
    (
        WINDOW_COLUMN,
        OBSERVED_COLUMN,
        VIDEO_COLUMN,
        CREATOR_COLUMN,
        Column("view_count", "BIGINT", "Cumulative views at observed_at."),
        Column(
            "baseline_observed_at",
            "TIMESTAMP",
            "The latest earlier observation at or before observed_at - 30 min (as-of join); null if none.",
        ),
        Column("elapsed_minutes", "DOUBLE", "Real minutes between baseline_observed_at and observed_at."),
        Column("view_delta_30m", "BIGINT", "view_count minus the baseline's view_count; null without a baseline."),
        Column("views_per_minute", "DOUBLE", "view_delta_30m / elapsed_minutes."),
        Column("engagement_rate", "DOUBLE", "Engagement rate at observed_at (see enriched_video_metrics)."),
        Column(
            "engagement_rate_change_30m",
            "DOUBLE",
            "engagement_rate minus the baseline's engagement_rate; null if either is null.",
        ),
        Column(
            "momentum",
            "DOUBLE",
            "views_per_minute / max(lifetime views per minute, 1): above 1 the video is gaining faster now"
            " than over its life so far (a surge); below 1 it is cooling.",
        ),
        SOURCE_COLUMN,
    ),
    description=(
        "Per video and window: views per minute, engagement change and momentum against the observation 30 minutes"
        " earlier of the same source (never a delta between two sources' counts)."
    ),
    owner=DATA_PLATFORM,
    sources=("display_api", "analytics_provider"),
    retention=Retention.WINDOW_ROWS,
    version=2,
    migrations=(source_added(2),),
)


PAGINATION_STOP_COLUMNS = {
    "end_of_list": "Discoveries whose video/list ended with has_more false.",
    "horizon": "Discoveries that reached videos older than the tracking horizon.",
    "no_cursor": "Discoveries stopped: has_more true without an integer cursor (recent videos may be unlisted).",
    "cursor_not_older": "Discoveries stopped: the next cursor was not older than the last (it could loop for ever).",
    "empty_pages": "Discoveries stopped after consecutive empty pages while has_more stayed true.",
    "page_cap": "Discoveries stopped at the page cap with has_more still true (recent videos may be unlisted).",
}
"""Why a discovery's pagination stopped (``pagination_stop`` of its last video/list record) → the description of
its ``pagination_stop_<reason>`` column in poll_telemetry."""

POLL_TELEMETRY = TableSpec(
    "poll_telemetry",
    (
        WINDOW_COLUMN,
        Column("mode", "VARCHAR", "'planned' (the polling sensor's plan) or 'full' (every creator discovered)."),
        Column("requests", "BIGINT", "HTTP attempts made, retries included."),
        Column("videos_polled", "BIGINT", "Video observations parsed for the window."),
        Column("due_videos", "BIGINT", "Videos whose cadence made them due (planned mode)."),
        Column(
            "deferred_videos", "BIGINT", "Due videos left for a later window because the budget ran out (queue depth)."
        ),
        Column("deferred_creators", "BIGINT", "Creators whose discovery was due but did not fit the budget."),
        Column("budget", "BIGINT", "Request budget of the window after backoff (planned mode)."),
        Column("backoff", "DOUBLE", "Backoff factor: cadences widened and budget divided by it."),
        Column("retries", "BIGINT", "Attempts beyond the first, over all calls."),
        Column("throttled", "BIGINT", "Attempts answered 429."),
        Column("server_errors", "BIGINT", "Attempts answered 5xx."),
        Column(
            "timeouts",
            "BIGINT",
            "Attempts that got no answer in time: timed out, or the connection was dropped after the request was sent.",
        ),
        Column("failed_calls", "BIGINT", "Calls that still failed after all retries."),
        Column(
            "retry_budget_stops",
            "BIGINT",
            "Failed calls that stopped retrying at once because the next wait (e.g. a long Retry-After) would pass"
            " TIKTOK_HTTP_MAX_RETRY_SECONDS (throttled: given up at once, counted in failed_calls too).",
        ),
        *(Column(f"pagination_stop_{reason}", "BIGINT", why) for reason, why in PAGINATION_STOP_COLUMNS.items()),
        Column(
            "pagination_stops_abnormal",
            "BIGINT",
            "Discoveries stopped abnormally (no_cursor + cursor_not_older + empty_pages + page_cap).",
        ),
        Column("error_rate", "DOUBLE", "Failed attempts / attempts."),
        Column("latency_p50_ms", "DOUBLE", "Median call latency, retries and waits included."),
        Column("latency_p95_ms", "DOUBLE", "95th percentile call latency."),
        Column("latency_p99_ms", "DOUBLE", "99th percentile call latency."),
        Column("landed_seconds_after_close", "DOUBLE", "Freshness: window close → raw responses landed."),
        Column(
            "requested_seconds_after_close",
            "DOUBLE",
            "Freshness breakdown: window close → the run collecting it was requested (its run record created: the"
            " polling sensor's tick). Null for a window re-parsed from an earlier run's landing file.",
        ),
        Column(
            "queue_seconds",
            "DOUBLE",
            "Freshness breakdown: run requested → run started (the run queue, and the run's process starting). Null"
            " when re-parsed.",
        ),
        Column(
            "collect_seconds",
            "DOUBLE",
            "Freshness breakdown: run started → raw responses landed (the step's start and the API calls);"
            " requested + queue + collect = landed_seconds_after_close. Null when re-parsed.",
        ),
        Column(
            "warehouse_wait_seconds",
            "DOUBLE",
            "Freshness breakdown: seconds the window's steps waited for the warehouse, summed: the raw snapshots"
            " step's (raw_warehouse_wait_seconds) plus, once it has run, the enriched/velocity step's (its connections"
            " up to the one writing this window). On a DuckDB file, the wait for the warehouse lock (another run"
            " holding it); on a DuckLake, which has no lock, the backoff before re-running a commit that conflicted."
            " Part of landed → velocity ready (ready_seconds_after_close on video_velocity's materialisation).",
        ),
        Column(
            "raw_warehouse_wait_seconds",
            "DOUBLE",
            "The raw snapshots step's part of warehouse_wait_seconds (its one connection, before this row was written).",
        ),
        Column(
            "gap_windows_before", "BIGINT", "Windows skipped just before this one (daemon downtime): never observed."
        ),
    ),
    description="One row per window: requests, retries, throttling, errors, latency, pagination stops and freshness of the Display API collection.",
    owner=DATA_PLATFORM,
    sources=("display_api",),
    retention=Retention.KEPT,
    version=2,
    migrations=(
        Migration(
            2,
            (AddColumn("warehouse_wait_seconds"), AddColumn("raw_warehouse_wait_seconds")),
            why="the freshness breakdown's wait for the warehouse (rows written before: null, it was not measured)",
        ),
    ),
)
