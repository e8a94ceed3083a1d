"""Planted window rows for the creative swaps and merchandising feed tests (shipped tracking registry)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from tiktok_pipeline.ingest.registry import load_registry
from tiktok_pipeline.warehouse.io import Write, replace_windows
from tiktok_pipeline.warehouse.tables import AD_VELOCITY, ENRICHED_VIDEO_METRICS, VIDEO_VELOCITY
from tiktok_pipeline.windows import WINDOW, utc_naive
from tiktok_pipeline_tests.conftest import SHIPPED_REGISTRY

# video_id → (creator, momentum, views per minute, share_rate_30m); ads: video_id → (campaign, ctr, ctr 30 min ago,
# impressions in the trailing hour)
VIDEOS: dict[str, tuple[str, float, float, float]] = {
    "100": ("sunny_traveler_1", 1.0, 10.0, 0.004),
    "200": ("bold_stylist_2", 4.0, 50.0, 0.03),
    "300": ("cozy_traveler_3", 6.0, 80.0, 0.05),
    "400": ("witty_traveler_4", 0.5, 5.0, 0.001),
    "500": ("sunny_traveler_1", 1.5, 20.0, 0.02),
}
ADS: dict[str, tuple[str, float, float, float]] = {
    "100": ("cmp-holiday-2026", 0.010, 0.020, 5000.0),  # fading, enough impressions
    "400": ("cmp-creator-fund", 0.010, 0.020, 100.0),  # fading, too few impressions
}


_BASE = {
    "window_start": pl.Datetime("us"),
    "observed_at": pl.Datetime("us"),
    "video_id": pl.String,
    "creator_username": pl.String,
    "view_count": pl.Int64,
    "engagement_rate": pl.Float64,
    "momentum": pl.Float64,
    "views_per_minute": pl.Float64,
    "campaign_ids": pl.List(pl.String),
    "product_skus": pl.List(pl.String),
    "share_rate_30m": pl.Float64,
    "share_rate": pl.Float64,
}


def frames(
    window_start: datetime, videos: dict[str, Any] | None = None, ads: dict[str, Any] | None = None
) -> dict[str, pl.DataFrame]:
    """enriched_video_metrics, video_velocity and ad_velocity rows of one window."""
    videos = VIDEOS if videos is None else videos
    ads = ADS if ads is None else ads
    registry = {c.username: c for c in load_registry(SHIPPED_REGISTRY).creators}
    start = utc_naive(window_start)
    observed = utc_naive(window_start + WINDOW)
    base = [
        {
            "window_start": start,
            "observed_at": observed,
            "video_id": video_id,
            "creator_username": creator,
            "view_count": 10_000,
            "engagement_rate": 0.08,
            "momentum": momentum,
            "views_per_minute": vpm,
            "campaign_ids": registry[creator].campaign_ids,
            "product_skus": registry[creator].product_skus,
            "share_rate_30m": share,
            "share_rate": share,
        }
        for video_id, (creator, momentum, vpm, share) in videos.items()
    ]
    frame = pl.DataFrame(base, schema=_BASE)
    paid = pl.DataFrame(
        [
            {
                "video_id": video_id,
                "ad_campaign_names": [campaign],
                "ad_ids": [f"9{video_id}"],
                "active_ads": 1,
                "ctr": ctr,
                "ctr_30m_ago": before,
                "ctr_change_30m": ctr - before,
                "impressions_60m": impressions,
            }
            for video_id, (campaign, ctr, before, impressions) in ads.items()
        ],
        schema={
            "video_id": pl.String,
            "ad_campaign_names": pl.List(pl.String),
            "ad_ids": pl.List(pl.String),
            "active_ads": pl.Int64,
            "ctr": pl.Float64,
            "ctr_30m_ago": pl.Float64,
            "ctr_change_30m": pl.Float64,
            "impressions_60m": pl.Float64,
        },
    )
    ad_rows = frame.join(paid, on="video_id", how="left").with_columns(pl.col("active_ads").fill_null(0))
    return {
        ENRICHED_VIDEO_METRICS.name: ENRICHED_VIDEO_METRICS.conform(frame),
        VIDEO_VELOCITY.name: VIDEO_VELOCITY.conform(frame),
        AD_VELOCITY.name: AD_VELOCITY.conform(ad_rows),
    }


def plant(connection, window_start: datetime, **kwargs: Any) -> None:
    """Write one window's rows of the three input tables."""
    specs = {s.name: s for s in (ENRICHED_VIDEO_METRICS, VIDEO_VELOCITY, AD_VELOCITY)}
    writes = [Write(specs[name], frame) for name, frame in frames(window_start, **kwargs).items()]
    replace_windows(connection, window_start, window_start + WINDOW, *writes)
