"""The warehouse's tables, described once: DDL, Polars casts and the UI's column descriptions."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import polars as pl

_POLARS = {
    "TIMESTAMP": pl.Datetime("us"),
    "VARCHAR": pl.String,
    "BIGINT": pl.Int64,
    "INTEGER": pl.Int32,
    "DOUBLE": pl.Float64,
    "VARCHAR[]": pl.List(pl.String),
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str


@dataclass(frozen=True)
class TableSpec:
    """A warehouse table; every table is keyed by ``window_start`` for delete-then-insert."""

    name: str
    columns: tuple[Column, ...]

    @property
    def ddl(self) -> str:
        cols = ", ".join(f'"{c.name}" {c.type}' for c in self.columns)
        return f'CREATE TABLE IF NOT EXISTS "{self.name}" ({cols})'

    @property
    def polars_schema(self) -> dict[str, pl.DataType]:
        return {c.name: _POLARS[c.type] for c in self.columns}

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def table_schema(self) -> dg.TableSchema:
        return dg.TableSchema(
            columns=[dg.TableColumn(c.name, c.type, description=c.description) for c in self.columns]
        )

    def conform(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with exactly this table's columns, in order and types (missing columns are null)."""
        return frame.select(
            [
                (pl.col(c.name) if c.name in frame.columns else pl.lit(None)).cast(_POLARS[c.type]).alias(c.name)
                for c in self.columns
            ]
        )

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.polars_schema)


_WINDOW = Column("window_start", "TIMESTAMP", "Start (UTC) of the 5-minute window the row belongs to.")
_OBSERVED = Column(
    "observed_at",
    "TIMESTAMP",
    "UTC instant the counts are true for: the window's end against the simulator, the response time against TikTok.",
)
_VIDEO = Column("video_id", "VARCHAR", "TikTok video id (a string of digits).")
_CREATOR = Column("creator_username", "VARCHAR", "Handle of the creator who owns the video.")
_CREATED = Column("create_time", "TIMESTAMP", "UTC time the video was published.")
_COUNTS = (
    Column("view_count", "BIGINT", "Cumulative views at observed_at."),
    Column("like_count", "BIGINT", "Cumulative likes at observed_at."),
    Column("comment_count", "BIGINT", "Cumulative comments at observed_at."),
    Column("share_count", "BIGINT", "Cumulative shares at observed_at."),
)

RAW_VIDEO_SNAPSHOTS = TableSpec(
    "raw_video_snapshots",
    (
        _WINDOW,
        _OBSERVED,
        _VIDEO,
        _CREATOR,
        _CREATED,
        *_COUNTS,
        Column("duration_seconds", "INTEGER", "Video length in seconds, when TikTok returned it."),
        Column("title", "VARCHAR", "Video title, when TikTok returned it."),
        Column("landing_file", "VARCHAR", "Landed raw response file this row was parsed from (relative path)."),
        Column("log_id", "VARCHAR", "TikTok's log_id of the response that carried the observation."),
    ),
)

RAW_CREATOR_SNAPSHOTS = TableSpec(
    "raw_creator_snapshots",
    (
        _WINDOW,
        _OBSERVED,
        _CREATOR,
        Column("open_id", "VARCHAR", "The creator's open_id for this app."),
        Column("display_name", "VARCHAR", "Display name shown on the profile."),
        Column("follower_count", "BIGINT", "Followers at observed_at."),
        Column("following_count", "BIGINT", "Accounts the creator follows at observed_at."),
        Column("likes_count", "BIGINT", "Total likes across the creator's videos at observed_at."),
        Column("video_count", "BIGINT", "Public videos at observed_at."),
        Column("landing_file", "VARCHAR", "Landed raw response file this row was parsed from (relative path)."),
    ),
)

ENRICHED_VIDEO_METRICS = TableSpec(
    "enriched_video_metrics",
    (
        _WINDOW,
        _OBSERVED,
        _VIDEO,
        _CREATOR,
        _CREATED,
        *_COUNTS,
        Column(
            "engagement_rate",
            "DOUBLE",
            "(likes + comments + shares) / views at observed_at; null while views are 0.",
        ),
        Column("video_age_minutes", "DOUBLE", "Minutes from create_time to observed_at."),
        Column("campaign_ids", "VARCHAR[]", "Campaigns the creator is tracked under (tracking registry)."),
        Column("product_skus", "VARCHAR[]", "Product SKUs the creator promotes (tracking registry)."),
        Column("audience_tags", "VARCHAR[]", "Audience segments of the creator (tracking registry)."),
    ),
)

VIDEO_VELOCITY = TableSpec(
    "video_velocity",
    (
        _WINDOW,
        _OBSERVED,
        _VIDEO,
        _CREATOR,
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
    ),
)

QUARANTINED_RECORDS = TableSpec(
    "quarantined_records",
    (
        _WINDOW,
        Column("source", "VARCHAR", "Endpoint and landing file the record came from."),
        Column("log_id", "VARCHAR", "TikTok's log_id of the response, if any."),
        Column("reason", "VARCHAR", "Why the record was rejected, naming the field."),
        Column("payload", "VARCHAR", "The raw record as JSON, exactly as received."),
        Column("asset", "VARCHAR", "The asset whose materialisation quarantined it."),
    ),
)

POLL_TELEMETRY = TableSpec(
    "poll_telemetry",
    (
        _WINDOW,
        Column("mode", "VARCHAR", "'planned' (the polling sensor's plan) or 'full' (every creator discovered)."),
        Column("requests", "BIGINT", "HTTP attempts made, retries included."),
        Column("videos_polled", "BIGINT", "Video observations parsed for the window."),
        Column("due_videos", "BIGINT", "Videos whose cadence made them due (planned mode)."),
        Column("deferred_videos", "BIGINT", "Due videos left for a later window because the budget ran out (queue depth)."),
        Column("deferred_creators", "BIGINT", "Creators whose discovery was due but did not fit the budget."),
        Column("budget", "BIGINT", "Request budget of the window after backoff (planned mode)."),
        Column("backoff", "DOUBLE", "Backoff factor: cadences widened and budget divided by it."),
        Column("retries", "BIGINT", "Attempts beyond the first, over all calls."),
        Column("throttled", "BIGINT", "Attempts answered 429."),
        Column("server_errors", "BIGINT", "Attempts answered 5xx."),
        Column("timeouts", "BIGINT", "Attempts that timed out."),
        Column("failed_calls", "BIGINT", "Calls that still failed after all retries."),
        Column("error_rate", "DOUBLE", "Failed attempts / attempts."),
        Column("latency_p50_ms", "DOUBLE", "Median call latency, retries and waits included."),
        Column("latency_p95_ms", "DOUBLE", "95th percentile call latency."),
        Column("latency_p99_ms", "DOUBLE", "99th percentile call latency."),
        Column("landed_seconds_after_close", "DOUBLE", "Freshness: window close → raw responses landed."),
        Column("velocity_ready_seconds_after_close", "DOUBLE", "Freshness: window close → velocity written."),
        Column("gap_windows_before", "BIGINT", "Windows skipped just before this one (daemon downtime): never observed."),
    ),
)

ALERTS = TableSpec(
    "alerts",
    (
        Column("alert_id", "VARCHAR", "Deduplication key: kind, asset, check, window and severity. Never sent twice."),
        Column("kind", "VARCHAR", "'check' (an asset check failed) or 'business' (momentum digest)."),
        Column("severity", "VARCHAR", "ERROR, WARN or INFO."),
        Column("window_key", "VARCHAR", "The 5-minute window (partition key) the alert is about."),
        Column("title", "VARCHAR", "Headline as sent."),
        Column("summary", "VARCHAR", "Text as sent."),
        Column("link_url", "VARCHAR", "Dagster UI page the alert links to."),
        Column("created_at", "TIMESTAMP", "When the alert was composed (UTC)."),
        Column("destinations", "VARCHAR", "Configured destinations, e.g. 'slack,teams'; empty when none is configured."),
        Column("delivered", "VARCHAR", "Destinations that accepted it."),
        Column("undelivered", "VARCHAR", "Destinations that did not, after retries (they are retried on later alert runs)."),
        Column("attempts", "BIGINT", "HTTP attempts over all destinations and runs."),
        Column("last_error", "VARCHAR", "Last delivery error (never the webhook URL)."),
        Column("payload", "VARCHAR", "The alert as JSON."),
    ),
)
