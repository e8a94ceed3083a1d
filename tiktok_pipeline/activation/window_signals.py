"""What creative swaps and the merchandising feed read from the warehouse for a range of windows."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import polars as pl

from tiktok_pipeline.warehouse.io import read_frame, table_exists
from tiktok_pipeline.warehouse.tables import AD_VELOCITY, ENRICHED_VIDEO_METRICS, SHOP_SKU_SALES, VIDEO_VELOCITY
from tiktok_pipeline.windows import WINDOW, utc_naive

_ADS = (
    "window_start, observed_at, video_id, creator_username, ad_campaign_names, ad_ids, active_ads, impressions_60m,"
    " ctr, ctr_30m_ago, ctr_change_30m"
)


def boosted_videos(connection: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> pl.DataFrame:
    """``ad_velocity`` rows of videos with ads in ``[start, end)`` (empty without the table)."""
    if not table_exists(connection, AD_VELOCITY.name):
        return AD_VELOCITY.empty().select(_ADS.split(", "))
    return read_frame(
        connection,
        f'SELECT {_ADS} FROM "{AD_VELOCITY.name}" WHERE window_start >= ? AND window_start < ? AND active_ads > 0',
        [utc_naive(start), utc_naive(end)],
    )


def window_videos(connection: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> pl.DataFrame:
    """``video_velocity`` rows in ``[start, end)`` with the registry's campaigns and SKUs (enriched), the organic
    proxies and the number of ads boosting each video (``ad_velocity``, 0 without it)."""
    if not (table_exists(connection, VIDEO_VELOCITY.name) and table_exists(connection, ENRICHED_VIDEO_METRICS.name)):
        return pl.DataFrame(
            schema={
                "window_start": pl.Datetime("us"),
                "observed_at": pl.Datetime("us"),
                "video_id": pl.String,
                "creator_username": pl.String,
                "campaign_ids": pl.List(pl.String),
                "product_skus": pl.List(pl.String),
                "views_per_minute": pl.Float64,
                "momentum": pl.Float64,
                "engagement_rate": pl.Float64,
                "share_rate": pl.Float64,
                "share_rate_30m": pl.Float64,
                "active_ads": pl.Int64,
            }
        )
    ads = table_exists(connection, AD_VELOCITY.name)
    organic = (
        "a.share_rate, a.share_rate_30m, coalesce(a.active_ads, 0) AS active_ads"
        if ads
        else "NULL::DOUBLE AS share_rate, NULL::DOUBLE AS share_rate_30m, 0::BIGINT AS active_ads"
    )
    join = f'LEFT JOIN "{AD_VELOCITY.name}" a USING (window_start, video_id)' if ads else ""
    return read_frame(
        connection,
        f"""SELECT v.window_start, v.observed_at, v.video_id, v.creator_username, e.campaign_ids, e.product_skus,
                   v.views_per_minute, v.momentum, v.engagement_rate, {organic}
            FROM "{VIDEO_VELOCITY.name}" v
            JOIN "{ENRICHED_VIDEO_METRICS.name}" e USING (window_start, video_id)
            {join}
            WHERE v.window_start >= ? AND v.window_start < ?""",
        [utc_naive(start), utc_naive(end)],
    )


def momentum_history(
    connection: duckdb.DuckDBPyConnection, start: datetime, end: datetime, minutes: float
) -> pl.DataFrame:
    """``video_velocity``'s (``video_id``, ``observed_at``, ``momentum``) of the ``minutes`` before ``start`` up to
    ``end``: what a persistence rule (:mod:`tiktok_pipeline.metrics.surge`) judges a window's momentum against."""
    empty = pl.DataFrame(schema={"video_id": pl.String, "observed_at": pl.Datetime("us"), "momentum": pl.Float64})
    if minutes <= 0 or not table_exists(connection, VIDEO_VELOCITY.name):
        return empty
    return read_frame(
        connection,
        f'SELECT video_id, observed_at, momentum FROM "{VIDEO_VELOCITY.name}" WHERE window_start >= ? AND window_start < ?',
        [utc_naive(start - timedelta(minutes=minutes) - WINDOW), utc_naive(end)],
    )


def window_sales(connection: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> pl.DataFrame | None:
    """TikTok Shop sales per window and SKU in ``[start, end)`` (``shop_sku_sales``), or None without the table."""
    if not table_exists(connection, SHOP_SKU_SALES.name):
        return None
    return read_frame(
        connection,
        f"""SELECT window_start, seller_sku AS sku, units_60m, revenue_60m FROM "{SHOP_SKU_SALES.name}"
            WHERE window_start >= ? AND window_start < ? AND seller_sku IS NOT NULL""",
        [utc_naive(start), utc_naive(end)],
    )
