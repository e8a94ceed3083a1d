"""Creative swaps: per window, boost a surging organic video in place of an ad whose CTR fades."""

from __future__ import annotations

from tiktok_pipeline.governance.owners import GROWTH
from tiktok_pipeline.warehouse.tables.spec import WINDOW_COLUMN, Column, Identifies, Retention, TableSpec

EXPECTED_GAIN_FORMULA = "(video_ctr_proxy - ad_ctr) × ad_impressions_60m"
"""Extra clicks per hour expected from the swap: the surging video's organic CTR proxy standing in for its CTR once
boosted, against the fading ad's CTR, over the impressions the ad's budget buys in an hour."""

CREATIVE_SWAP_RECOMMENDATIONS = TableSpec(
    "creative_swap_recommendations",
    (
        WINDOW_COLUMN,
        Column("observed_at", "TIMESTAMP", "The window's end: the instant both curves' figures are for."),
        Column(
            "campaign_id",
            "VARCHAR",
            "The campaign (a tracking registry campaign id, the ads' campaign_name) the swap is recommended in.",
        ),
        Column("fading_video_id", "VARCHAR", "The video the fading Spark Ads boost now (the creative to replace)."),
        Column("fading_ad_ids", "VARCHAR[]", "The ads boosting it in the trailing hour (ad_velocity.ad_ids)."),
        Column(
            "fading_creator_username",
            "VARCHAR",
            "Creator of the fading video; null when it was not observed.",
            Identifies.HANDLE,
        ),
        Column(
            "ad_ctr", "DOUBLE", "Evidence: the ads' CTR over the trailing 60 minutes (ad_velocity.ctr, a fraction)."
        ),
        Column("ad_ctr_30m_ago", "DOUBLE", "Evidence: the same CTR 30 minutes earlier (ad_velocity.ctr_30m_ago)."),
        Column(
            "ad_ctr_change_30m",
            "DOUBLE",
            "Evidence: ad_ctr - ad_ctr_30m_ago, at or below TIKTOK_SWAP_CTR_CHANGE_THRESHOLD (the decay).",
        ),
        Column(
            "ad_impressions_60m",
            "DOUBLE",
            "Evidence: the ads' impressions over the trailing 60 minutes, at least TIKTOK_SWAP_MIN_IMPRESSIONS.",
        ),
        Column(
            "boost_video_id",
            "VARCHAR",
            "The organic video to boost instead (its video_id is the Spark Ad's tiktok_item_id): no ad ran on it in"
            " the trailing hour, and its momentum is at least TIKTOK_SWAP_MOMENTUM_THRESHOLD.",
        ),
        Column("creator_username", "VARCHAR", "Creator of the video to boost (the Spark Ad's identity)."),
        Column(
            "match",
            "VARCHAR",
            "Why that video is eligible: 'creator' (same creator as the fading video) or 'campaign' (its creator is"
            " tracked under the campaign).",
        ),
        Column("video_views_per_minute", "DOUBLE", "Evidence: the video's views per minute (video_velocity)."),
        Column("video_momentum", "DOUBLE", "Evidence: the video's momentum (video_velocity: >1 is a surge)."),
        Column("video_engagement_rate", "DOUBLE", "Evidence: the video's engagement rate at observed_at."),
        Column(
            "video_ctr_proxy",
            "DOUBLE",
            "The video's organic CTR proxy: shares gained per view gained over 30 minutes (ad_velocity.share_rate_30m),"
            " else shares / views; null when neither is known.",
        ),
        Column(
            "expected_gain_clicks_per_hour",
            "DOUBLE",
            f"Expected gain, extra clicks per hour = {EXPECTED_GAIN_FORMULA}; negative when the proxy is below the"
            " ad's CTR, null without a proxy. An estimate: an organic proxy stands in for the boosted video's CTR.",
        ),
        Column(
            "candidates",
            "BIGINT",
            "Surging videos eligible for this fading creative and campaign; the one with the highest momentum is"
            " recommended (then views per minute, then video id).",
        ),
    ),
    description="Per window and campaign: a surging organic video to boost (Spark Ad) in place of an ad whose CTR is"
    " decaying, with both curves' figures and the expected gain.",
    owner=GROWTH,
    sources=("business_reporting", "display_api", "tracking_registry"),
    retention=Retention.KEPT,
)
