"""The merchandising feed (pure): SKUs ranked by the momentum of the videos that promote them.

A video promotes the SKUs its creator lists in the tracking registry (``product_skus``: via ``creator``) and those
of every creator tracked under one of its campaigns (via ``campaign``). Per window, SKUs rank by the highest momentum
among their own creators' videos (``creator_momentum``; a SKU promoted only through a campaign comes after every SKU
with such a video), then the highest among all their promoting videos, then views per minute summed, then the SKU.

**Real sales.** When TikTok Shop was polled for the window (``shop_sku_sales``), each SKU carries the units and
revenue it sold in the trailing hour (``units_60m``, ``revenue_60m``), and within each kind of promotion (own
creator's video, or campaign only) SKUs that sell more rank first: what sells now beats what only looks promising;
momentum orders the rest. Without Shop data (``sales`` None or no row for the SKU: null) the ranking is momentum's
alone, as before.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import polars as pl

from tiktok_pipeline.warehouse.tables.merchandising import MERCHANDISING_FEED
from tiktok_pipeline.windows import window_key

FEED_FIELDS = (
    "rank",
    "sku",
    "creator_momentum",
    "momentum",
    "mean_momentum",
    "views_per_minute",
    "promoting_videos",
    "creator_videos",
    "top_video_id",
    "creator_username",
    "units_60m",
    "revenue_60m",
)
"""What a published feed item holds, in order (the CSV's columns after feed_version and window_start)."""


def campaign_skus(registry: pl.DataFrame) -> pl.DataFrame:
    """``campaign_id`` → ``sku``: the SKUs of every creator tracked under the campaign (registry frame)."""
    return (
        registry.select(pl.col("campaign_ids").alias("campaign_id"), pl.col("product_skus").alias("sku"))
        .explode("campaign_id")
        .explode("sku")
        .drop_nulls()
        .unique()
    )


def video_skus(videos: pl.DataFrame, registry: pl.DataFrame) -> pl.DataFrame:
    """(window_start, video_id, sku, via) for every video with a momentum: its creator's SKUs, its campaigns'."""
    scored = videos.filter(pl.col("momentum").is_not_null() & pl.col("momentum").is_finite())
    base = ["window_start", "video_id", "creator_username", "momentum", "views_per_minute"]
    own = (
        scored.select(*base, pl.col("product_skus").alias("sku"))
        .explode("sku")
        .drop_nulls("sku")
        .with_columns(via=pl.lit("creator"))
    )
    through_campaign = (
        scored.select(*base, pl.col("campaign_ids").alias("campaign_id"))
        .explode("campaign_id")
        .join(campaign_skus(registry), on="campaign_id", how="inner")
        .drop("campaign_id")
        .with_columns(via=pl.lit("campaign"))
    )
    both = pl.concat([own, through_campaign.select(own.columns)])
    return both.sort("via", descending=True).unique(["window_start", "video_id", "sku"], keep="first")


def rank_skus(videos: pl.DataFrame, registry: pl.DataFrame, sales: pl.DataFrame | None = None) -> pl.DataFrame:
    """The ``merchandising_feed`` rows of every window in ``videos`` (``feed_version`` left null: see
    :func:`with_versions`). Order: SKUs with a video of their own creators first (SKUs promoted only through a
    campaign after them); within each, the units sold in the trailing hour (``sales``: window_start, sku, units_60m,
    revenue_60m; nulls last), then the highest momentum among the SKU's own creators' videos, then among all its
    promoting videos, then views per minute summed over them, then the SKU."""
    links = video_skus(videos, registry).with_columns(direct=pl.col("via") == "creator")
    ordered = links.sort(
        ["direct", "momentum", "views_per_minute", "video_id"], descending=[True, True, True, False], nulls_last=True
    )
    ranked = (
        ordered.group_by(["window_start", "sku"])
        .agg(
            pl.col("momentum").filter(pl.col("direct")).max().alias("creator_momentum"),
            pl.col("momentum").max().alias("momentum"),
            pl.col("momentum").mean().alias("mean_momentum"),
            pl.col("views_per_minute").sum().alias("views_per_minute"),
            pl.col("video_id").n_unique().alias("promoting_videos"),
            pl.col("video_id").filter(pl.col("direct")).n_unique().alias("creator_videos"),
            pl.col("video_id").first().alias("top_video_id"),
            pl.col("creator_username").first().alias("creator_username"),
        )
        .pipe(_with_sales, sales)
        .with_columns(pl.col("creator_momentum").is_not_null().alias("_direct"))
        .sort(
            ["window_start", "_direct", "units_60m", "creator_momentum", "momentum", "views_per_minute", "sku"],
            descending=[False, True, True, True, True, True, False],
            nulls_last=True,
        )
        .drop("_direct")
        .with_columns(pl.int_range(1, pl.len() + 1).over("window_start").alias("rank"))
    )
    return MERCHANDISING_FEED.conform(ranked)


def _with_sales(ranked: pl.DataFrame, sales: pl.DataFrame | None) -> pl.DataFrame:
    """``ranked`` with each SKU's ``units_60m`` and ``revenue_60m`` of its window (null without Shop data)."""
    if sales is None or sales.height == 0:
        return ranked.with_columns(
            pl.lit(None, pl.Int64).alias("units_60m"), pl.lit(None, pl.Float64).alias("revenue_60m")
        )
    per_sku = sales.group_by("window_start", "sku").agg(
        pl.col("units_60m").sum().cast(pl.Int64), pl.col("revenue_60m").cast(pl.Float64).sum().round(2)
    )
    return ranked.join(per_sku, on=["window_start", "sku"], how="left")


def feed_items(rows: pl.DataFrame, size: int) -> list[dict[str, Any]]:
    """The published items of one window's rows: the ``size`` best ranks, :data:`FEED_FIELDS` each."""
    return rows.sort("rank").head(size).select(FEED_FIELDS).to_dicts()


def feed_version(window_start: datetime, items: list[dict[str, Any]]) -> str:
    """``<window key>-<first 16 hex of the SHA-256 of the items as canonical JSON>``: same window and content,
    same version (a naive ``window_start`` is UTC, as stored)."""
    digest = hashlib.sha256(canonical_json(items)).hexdigest()[:16]
    return f"{window_key(as_utc(window_start))}-{digest}"


def as_utc(moment: datetime) -> datetime:
    """A stored (naive, UTC) timestamp as an aware UTC one."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes hashed and signed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def with_versions(rows: pl.DataFrame, size: int) -> pl.DataFrame:
    """``rows`` with each window's ``feed_version`` (over its published items)."""
    versions = [
        {"window_start": start, "feed_version": feed_version(start, feed_items(group, size))}
        for (start,), group in rows.group_by("window_start")
    ]
    if not versions:
        return rows
    frame = pl.DataFrame(versions, schema={"window_start": pl.Datetime("us"), "feed_version": pl.String})
    return MERCHANDISING_FEED.conform(rows.drop("feed_version").join(frame, on="window_start", how="left"))
