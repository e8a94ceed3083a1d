"""Sales per window and SKU from the shop's order lines, joined to the registry and the videos promoting each SKU.

Pure over frames (the asset reads them from the warehouse): ``lines`` are raw_shop_orders rows placed in the trailing
hour before the window's end; a window's own figures count the lines placed in it (``created_window``), cancelled
orders apart; ``units_60m`` and ``revenue_60m`` the whole hour. A SKU joins the registry through ``seller_sku`` (the
registry's ``product_skus``); its ``top_video_id`` is the promoting creators' video with the highest momentum in the
window (video_velocity), when there is one.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from tiktok_pipeline.ingest.registry import TrackingRegistry
from tiktok_pipeline.warehouse.tables import SHOP_SKU_SALES
from tiktok_pipeline.windows import utc_naive

CANCELLED = "CANCELLED"
MONEY = pl.Decimal(18, 2)


def sku_promoters(registry: TrackingRegistry) -> pl.DataFrame:
    """seller_sku → the registry creators listing it and their campaigns (each sorted, once)."""
    creators: dict[str, set[str]] = {}
    campaigns: dict[str, set[str]] = {}
    for creator in registry.creators:
        for sku in creator.product_skus:
            creators.setdefault(sku, set()).add(creator.username)
            campaigns.setdefault(sku, set()).update(creator.campaign_ids)
    return pl.DataFrame(
        {
            "seller_sku": list(creators),
            "creators": [sorted(creators[s]) for s in creators],
            "campaign_ids": [sorted(campaigns[s]) for s in creators],
        },
        schema={"seller_sku": pl.String, "creators": pl.List(pl.String), "campaign_ids": pl.List(pl.String)},
    )


def sku_sales(
    lines: pl.DataFrame,
    window_start: datetime,
    registry: TrackingRegistry,
    velocity: pl.DataFrame | None,
    computed_at: datetime,
) -> pl.DataFrame:
    """One row per SKU sold in the window or the hour before its end (shop_sku_sales' columns)."""
    window = utc_naive(window_start)
    live = lines.filter(pl.col("status") != CANCELLED)
    own = lines.filter(pl.col("created_window") == window)
    per_window = own.group_by("seller_sku", "sku_id", "product_id", "currency").agg(
        pl.col("order_id").filter(pl.col("status") != CANCELLED).n_unique().alias("orders"),
        pl.col("quantity").filter(pl.col("status") != CANCELLED).sum().alias("units"),
        pl.col("line_revenue").filter(pl.col("status") != CANCELLED).sum().cast(MONEY).alias("revenue"),
        pl.col("quantity").filter(pl.col("status") == CANCELLED).sum().alias("cancelled_units"),
    )
    hour = live.group_by("seller_sku", "sku_id", "product_id", "currency").agg(
        pl.col("quantity").sum().alias("units_60m"), pl.col("line_revenue").sum().cast(MONEY).alias("revenue_60m")
    )
    keys = ["seller_sku", "sku_id", "product_id", "currency"]
    sales = per_window.join(hour, on=keys, how="full", coalesce=True, nulls_equal=True)
    promoters = sku_promoters(registry)
    sales = sales.join(promoters, on="seller_sku", how="left")
    top = _top_videos(promoters, velocity)
    sales = sales.join(top, on="seller_sku", how="left").with_columns(
        pl.lit(window).alias("window_start"),
        pl.col("creators").is_not_null().cast(pl.Int64).alias("in_registry"),
        pl.lit(utc_naive(computed_at)).alias("computed_at"),
        *(pl.col(c).fill_null(0) for c in ("orders", "units", "cancelled_units", "units_60m")),
        *(pl.col(c).fill_null(pl.lit(0).cast(MONEY)) for c in ("revenue", "revenue_60m")),
    )
    return SHOP_SKU_SALES.conform(sales).sort("units", "seller_sku", descending=[True, False])


def _top_videos(promoters: pl.DataFrame, velocity: pl.DataFrame | None) -> pl.DataFrame:
    """seller_sku → its promoting creators' video with the highest momentum in the window."""
    empty = pl.DataFrame(schema={"seller_sku": pl.String, "top_video_id": pl.String, "top_video_momentum": pl.Float64})
    if velocity is None or velocity.height == 0 or promoters.height == 0:
        return empty
    pairs = promoters.select("seller_sku", pl.col("creators").alias("creator_username")).explode("creator_username")
    videos = velocity.select("creator_username", "video_id", "momentum").drop_nulls("momentum")
    joined = pairs.join(videos, on="creator_username", how="inner")
    if joined.height == 0:
        return empty
    best = (
        joined.sort("momentum", "video_id", descending=[True, False])
        .group_by("seller_sku", maintain_order=True)
        .first()
    )
    return best.select(
        "seller_sku", pl.col("video_id").alias("top_video_id"), pl.col("momentum").alias("top_video_momentum")
    )


def sales_figures(sales: pl.DataFrame) -> dict[str, object]:
    """A window's figures for its materialisation."""
    return {
        "skus_sold": int(sales.filter(pl.col("units") > 0).height),
        "units": int(sales["units"].sum() or 0),
        "orders": int(sales["orders"].sum() or 0),
        "revenue": float(sales["revenue"].sum() or 0),
        "units_not_in_registry": int(sales.filter(pl.col("in_registry") == 0)["units"].sum() or 0),
    }
