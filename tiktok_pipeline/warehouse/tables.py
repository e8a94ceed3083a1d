"""The warehouse's tables, described once: DDL, Polars casts and the UI's column descriptions."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import polars as pl
from polars._typing import PolarsDataType

_POLARS: dict[str, PolarsDataType] = {
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
    def polars_schema(self) -> pl.Schema:
        return pl.Schema({c.name: _POLARS[c.type] for c in self.columns})

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def table_schema(self) -> dg.TableSchema:
        return dg.TableSchema(columns=[dg.TableColumn(c.name, c.type, description=c.description) for c in self.columns])

    @property
    def asset_metadata(self) -> dict[str, object]:
        """Definition metadata of the asset holding this table: its columns with descriptions, and its name."""
        return {"dagster/column_schema": self.table_schema, "dagster/table_name": self.name}

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
        Column("source", "VARCHAR", "Endpoint and landing file (or export file and line) the record came from."),
        Column("log_id", "VARCHAR", "TikTok's log_id (or request_id) of the response, if any."),
        Column("reason", "VARCHAR", "Why the record was rejected, naming the field."),
        Column("payload", "VARCHAR", "The raw record as JSON, exactly as received (conversions: redacted)."),
        Column(
            "asset",
            "VARCHAR",
            "The asset whose materialisation quarantined it: raw_video_snapshots (Display API), raw_ad_metrics"
            " (API for Business reports) or conversion_outbox (order exports).",
        ),
    ),
)
"""The columns every quarantine table shares, and the view ``quarantined_records``: the union of every source's
``<source>_quarantine`` table (:mod:`tiktok_pipeline.warehouse.quarantine`). Each source table has one writer, the
asset that parses the source; the view's owner is the governance asset ``quarantined_records``."""


def _quarantine_spec(name: str, source: str, asset: str) -> TableSpec:
    """A source's quarantine table: the shared columns, with what ``source`` and ``asset`` hold for that source."""
    described = {
        "source": source,
        "asset": f"Always {asset}: the table the record is missing from (the same value in quarantined_records).",
    }
    return TableSpec(
        name,
        tuple(
            Column(c.name, c.type, described[c.name]) if c.name in described else c for c in QUARANTINED_RECORDS.columns
        ),
    )


DISPLAY_API_QUARANTINE = _quarantine_spec(
    "display_api_quarantine",
    "Endpoint (user/info, video/list, video/query) and landing file the record came from.",
    "raw_video_snapshots",
)
"""Display API records that failed validation, written only by the raw snapshots step (asset display_api_quarantine)."""

AD_REPORT_QUARANTINE = _quarantine_spec(
    "ad_report_quarantine",
    "Endpoint (report/integrated/get, ad/get) and landing file the row came from.",
    "raw_ad_metrics",
)
"""Ad report rows that failed validation, written only by raw_ad_metrics (in the transaction that replaces its hours)."""

CONVERSION_QUARANTINE = _quarantine_spec(
    "conversion_quarantine",
    "Export file and line the order came from: conversions/<file>:<line>.",
    "conversion_outbox",
)
"""Orders of the shop's exports that failed validation (payloads redacted), written only by conversion_outbox (in
the transaction that queues its orders)."""

POLL_TELEMETRY = TableSpec(
    "poll_telemetry",
    (
        _WINDOW,
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
        Column("timeouts", "BIGINT", "Attempts that timed out."),
        Column("failed_calls", "BIGINT", "Calls that still failed after all retries."),
        Column("error_rate", "DOUBLE", "Failed attempts / attempts."),
        Column("latency_p50_ms", "DOUBLE", "Median call latency, retries and waits included."),
        Column("latency_p95_ms", "DOUBLE", "95th percentile call latency."),
        Column("latency_p99_ms", "DOUBLE", "99th percentile call latency."),
        Column("landed_seconds_after_close", "DOUBLE", "Freshness: window close → raw responses landed."),
        Column(
            "gap_windows_before", "BIGINT", "Windows skipped just before this one (daemon downtime): never observed."
        ),
    ),
)

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
        _VIDEO,
        _CREATOR,
        _CREATED,
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
    ),
)

DAILY_CREATOR_METRICS = TableSpec(
    "daily_creator_metrics",
    (
        _DAY_START,
        _CREATOR,
        Column("open_id", "VARCHAR", "The creator's open_id for this app (last of the day)."),
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
    ),
)

ALERTS = TableSpec(
    "alerts",
    (
        Column("alert_id", "VARCHAR", "Deduplication key: kind, asset, check, window and severity. Never sent twice."),
        Column(
            "kind",
            "VARCHAR",
            "'check' (an asset check failed), 'business' (momentum digest) or 'run' (a pipeline run failed).",
        ),
        Column("severity", "VARCHAR", "ERROR, WARN or INFO."),
        Column("window_key", "VARCHAR", "The 5-minute window (partition key) the alert is about."),
        Column("title", "VARCHAR", "Headline as sent."),
        Column("summary", "VARCHAR", "Text as sent."),
        Column("link_url", "VARCHAR", "Dagster UI page the alert links to."),
        Column("created_at", "TIMESTAMP", "When the alert was composed (UTC)."),
        Column(
            "destinations", "VARCHAR", "Configured destinations, e.g. 'slack,teams'; empty when none is configured."
        ),
        Column("delivered", "VARCHAR", "Destinations that accepted it."),
        Column(
            "undelivered", "VARCHAR", "Destinations that did not, after retries (they are retried on later alert runs)."
        ),
        Column("attempts", "BIGINT", "HTTP attempts over all destinations and runs."),
        Column("last_error", "VARCHAR", "Last delivery error (never the webhook URL)."),
        Column("payload", "VARCHAR", "The alert as JSON."),
    ),
)

CONVERSION_OUTBOX = TableSpec(
    "conversion_outbox",
    (
        Column(
            "window_start",
            "TIMESTAMP",
            "Start (UTC) of the 5-minute window the order's event_time falls in: the partition that queued the event.",
        ),
        Column("pixel_code", "VARCHAR", "TikTok Pixel code (event_source_id) the event goes to."),
        Column(
            "test_event_code",
            "VARCHAR",
            "Test event code it was sent with; empty for production. Part of the key: a test send never stands in for the production send.",
        ),
        Column("event", "VARCHAR", "TikTok event name, e.g. CompletePayment."),
        Column(
            "event_id",
            "VARCHAR",
            "event_id sent to TikTok: the browser Pixel's id for the order (pixel_event_id) or else the order id."
            " With pixel_code and event, TikTok's 48-hour deduplication key, and the outbox's key.",
        ),
        Column("order_id", "VARCHAR", "The shop's order id."),
        Column("event_time", "TIMESTAMP", "When the order was placed (UTC), sent as event_time."),
        Column("value", "DOUBLE", "Order value sent as properties.value."),
        Column("currency", "VARCHAR", "ISO 4217 currency of value."),
        Column("content_ids", "VARCHAR[]", "SKUs sent as properties.contents."),
        Column(
            "email_sha256",
            "VARCHAR",
            "SHA-256 of the trimmed, lower-cased email, as sent. Raw emails are never stored.",
        ),
        Column(
            "phone_sha256",
            "VARCHAR",
            "SHA-256 of the phone number in E.164 (+12025550123), as sent. Raw numbers are never stored.",
        ),
        Column("external_id_sha256", "VARCHAR", "SHA-256 of the trimmed customer id, as sent."),
        Column(
            "identifiers",
            "VARCHAR[]",
            "Names of the user fields the event carried (ttclid, ttp, email, phone, external_id, ip, user_agent)."
            " ttclid, ttp, ip and user agent are sent but their values are never stored.",
        ),
        Column("source", "VARCHAR", "Export file and line the order came from: conversions/<file>:<line>."),
        Column(
            "payload_sha256",
            "VARCHAR",
            "SHA-256 of the event JSON as queued: shows whether a later export changed the order.",
        ),
        Column(
            "status",
            "VARCHAR",
            "pending: queued, not yet processed by TikTok (sent by the next run). sending: a request is in flight"
            " (left over from a crash: handled as ambiguous). sent: TikTok accepted it. rejected: TikTok refused it"
            " (reason in response_message); never resent unless a run asks for it. ambiguous: no answer came back,"
            " TikTok may have it; resent within TIKTOK_CONVERSIONS_RESEND_AMBIGUOUS_HOURS of the first attempt.",
        ),
        Column("attempts", "BIGINT", "Requests that carried the event, over all runs."),
        Column("batch_id", "VARCHAR", "Id of the last request (batch of up to 1,000 events) that carried it."),
        Column("request_id", "VARCHAR", "TikTok's request_id of the last answer, for support tickets."),
        Column(
            "response_code",
            "BIGINT",
            "Code of the last answer: 0 accepted, TikTok's error code for a refusal, -1 when no answer came back.",
        ),
        Column("response_message", "VARCHAR", "TikTok's message for the last attempt: the reason of a rejection."),
        Column("queued_at", "TIMESTAMP", "When a run first wrote the event to the outbox (UTC)."),
        Column(
            "first_attempt_at",
            "TIMESTAMP",
            "First request that carried it (UTC): TikTok deduplicates for 48 hours from its first receipt.",
        ),
        Column("last_attempt_at", "TIMESTAMP", "Latest request that carried it (UTC)."),
        Column("sent_at", "TIMESTAMP", "When TikTok acknowledged it (UTC)."),
        Column("run_id", "VARCHAR", "Dagster run that last changed the row."),
    ),
)

_AD_COUNT_NOTE = " Null where TikTok answered '-' (empty)."

RAW_AD_METRICS = TableSpec(
    "raw_ad_metrics",
    (
        Column(
            "stat_time_hour",
            "TIMESTAMP",
            "Start (UTC) of the hour the numbers are for (TikTok's stat_time_hour, converted from the advertiser's"
            " time zone). With ad_id the table's key: one row per ad and hour, replaced (never appended) while the"
            " hour is inside a fetch's lookback.",
        ),
        Column("ad_id", "VARCHAR", "TikTok ad id."),
        Column("ad_name", "VARCHAR", "Ad name."),
        Column("adgroup_id", "VARCHAR", "Ad group of the ad."),
        Column("campaign_id", "VARCHAR", "Campaign of the ad."),
        Column(
            "campaign_name",
            "VARCHAR",
            "Campaign name. It equals a campaign id of the tracking registry (data/tracking_registry.json) when the"
            " campaign is tracked: that is the link between ads and the registry's campaigns.",
        ),
        Column("advertiser_id", "VARCHAR", "Advertiser account (TIKTOK_ADVERTISER_ID)."),
        Column(
            "video_id",
            "VARCHAR",
            "The creator's video the Spark Ad boosts (ad/get tiktok_item_id): joins raw_video_snapshots.video_id."
            " Null for ads that are not Spark Ads.",
        ),
        Column(
            "identity_id",
            "VARCHAR",
            "The TikTok identity (the creator's account) the Spark Ad runs as (ad/get identity_id).",
        ),
        Column("impressions", "BIGINT", "Times the ad was shown in the hour." + _AD_COUNT_NOTE),
        Column(
            "clicks",
            "BIGINT",
            "Clicks on the ad in the hour (late clicks keep arriving for a few hours)." + _AD_COUNT_NOTE,
        ),
        Column("spend", "DOUBLE", "Cost in the hour, in the advertiser's currency." + _AD_COUNT_NOTE),
        Column(
            "conversion",
            "BIGINT",
            "Conversions attributed to the hour (attribution revises recent hours). Null ('-') for campaigns"
            " without a conversion goal.",
        ),
        Column("video_play_actions", "BIGINT", "Video plays of the ad in the hour." + _AD_COUNT_NOTE),
        Column("video_watched_2s", "BIGINT", "Plays of at least 2 seconds." + _AD_COUNT_NOTE),
        Column("video_watched_6s", "BIGINT", "Plays of at least 6 seconds." + _AD_COUNT_NOTE),
        Column("likes", "BIGINT", "Likes from the ad's viewers." + _AD_COUNT_NOTE),
        Column("comments", "BIGINT", "Comments from the ad's viewers." + _AD_COUNT_NOTE),
        Column("shares", "BIGINT", "Shares from the ad's viewers." + _AD_COUNT_NOTE),
        Column("follows", "BIGINT", "Follows of the creator from the ad." + _AD_COUNT_NOTE),
        Column("profile_visits", "BIGINT", "Visits of the creator's profile from the ad." + _AD_COUNT_NOTE),
        Column(
            "fetched_at",
            "TIMESTAMP",
            "Instant the numbers are true for: the fetching window's end against the simulator, the response time"
            " against TikTok. An hour is only ever replaced by a fetch at least this recent.",
        ),
        Column(
            "fetched_in_window",
            "TIMESTAMP",
            "Start of the 5-minute window (raw_ad_metrics partition) whose fetch wrote the row.",
        ),
        Column("landing_file", "VARCHAR", "Landed raw report file the row was parsed from (relative path)."),
        Column("request_id", "VARCHAR", "TikTok's request_id of the report page that carried the row."),
    ),
)

AD_VELOCITY = TableSpec(
    "ad_velocity",
    (
        _WINDOW,
        Column("observed_at", "TIMESTAMP", "The window's end: the instant the rates are for."),
        _VIDEO,
        Column(
            "creator_username",
            "VARCHAR",
            "Handle of the creator who owns the video; null when the video was not observed in the window.",
        ),
        Column(
            "campaign_ids",
            "VARCHAR[]",
            "Campaigns the creator is tracked under (tracking registry); null when not observed.",
        ),
        Column(
            "ad_campaign_names",
            "VARCHAR[]",
            "Campaigns whose ads boosted the video in the trailing hour (their names are registry campaign ids).",
        ),
        Column("ad_ids", "VARCHAR[]", "Ads (Spark Ads) boosting the video in the trailing hour."),
        Column(
            "active_ads", "BIGINT", "Number of those ads; 0 for a video without ads (then every paid column is null)."
        ),
        Column(
            "impressions_60m",
            "DOUBLE",
            "Impressions in the 60 minutes before observed_at, summed over the video's ads: each hourly row spread"
            " evenly over the part of its hour it covers (up to its fetched_at), pro-rated into the 60 minutes."
            " The last ~10 minutes are not reported yet (reporting latency), so volumes run a little low.",
        ),
        Column("clicks_60m", "DOUBLE", "Clicks in the same trailing 60 minutes, pro-rated the same way."),
        Column("spend_60m", "DOUBLE", "Spend in the same trailing 60 minutes, pro-rated the same way."),
        Column(
            "ctr",
            "DOUBLE",
            "Click-through rate = clicks / impressions over the trailing 60 minutes (a fraction, not TikTok's"
            " percent); only rows where both are present count; null when there were no impressions.",
        ),
        Column(
            "ctr_30m_ago",
            "DOUBLE",
            "The same CTR for the 60 minutes ending 30 minutes before observed_at (with today's revisions).",
        ),
        Column("ctr_change_30m", "DOUBLE", "ctr - ctr_30m_ago: the 30-minute change of CTR; null if either is null."),
        Column(
            "watched_2s_rate",
            "DOUBLE",
            "2-second-view ratio = video_watched_2s / video_play_actions of the ads over the trailing 60 minutes (a"
            " hook rate); null without plays or where TikTok answered '-'.",
        ),
        Column(
            "profile_visit_rate",
            "DOUBLE",
            "profile_visits / impressions of the ads over the trailing 60 minutes; null without impressions.",
        ),
        Column(
            "view_count", "BIGINT", "Cumulative public views at observed_at (organic and paid; null when not observed)."
        ),
        Column(
            "like_rate", "DOUBLE", "Organic proxy: likes / views at observed_at; null at 0 views or when not observed."
        ),
        Column(
            "comment_rate",
            "DOUBLE",
            "Organic proxy: comments / views at observed_at; null at 0 views or when not observed.",
        ),
        Column(
            "share_rate",
            "DOUBLE",
            "Organic CTR proxy where no ad runs: shares / views at observed_at (a share is the organic click-out);"
            " null at 0 views or when not observed.",
        ),
        Column(
            "share_rate_30m",
            "DOUBLE",
            "Recent organic proxy: shares gained / views gained since organic_baseline_observed_at; null without a"
            " baseline or when views did not grow.",
        ),
        Column(
            "organic_baseline_observed_at",
            "TIMESTAMP",
            "The latest observation at or before observed_at - 30 min that share_rate_30m compares with.",
        ),
    ),
)
