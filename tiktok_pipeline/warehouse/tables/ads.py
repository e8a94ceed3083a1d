"""The ads tables: hourly rows of the API for Business report, and CTR beside organic proxies per window."""

from __future__ import annotations

from tiktok_pipeline.governance.owners import GROWTH
from tiktok_pipeline.warehouse.tables.spec import VIDEO_COLUMN, WINDOW_COLUMN, Column, Retention, TableSpec

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
    description="One row per ad and hour of the API for Business integrated report (with ad/get's Spark Ad links), replaced while the hour is inside a fetch's lookback.",
    owner=GROWTH,
    sources=("business_reporting",),
    retention=Retention.KEPT,
)

AD_VELOCITY = TableSpec(
    "ad_velocity",
    (
        WINDOW_COLUMN,
        Column("observed_at", "TIMESTAMP", "The window's end: the instant the rates are for."),
        VIDEO_COLUMN,
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
    description="Per video and window: the trailing hour's CTR, spend and view rates of the Spark Ads boosting it, beside organic proxies.",
    owner=GROWTH,
    sources=("business_reporting", "display_api", "tracking_registry"),
    retention=Retention.KEPT,
)
