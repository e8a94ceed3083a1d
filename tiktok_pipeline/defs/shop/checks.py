"""The TikTok Shop tables' checks: one evaluation per window, from :mod:`tiktok_pipeline.quality.shop_schemas`."""

from __future__ import annotations

from datetime import datetime

import dagster as dg
import polars as pl

from tiktok_pipeline.quality.checks import CheckOutcome, validate_schema
from tiktok_pipeline.quality.shop_schemas import raw_shop_orders_schema, shop_sku_sales_schema, skus_in_registry
from tiktok_pipeline.windows import utc_naive, window_key

RAW_CHECKS = {
    "raw_shop_orders_schema": (
        dg.AssetCheckSeverity.ERROR,
        "Structure (Pandera) of the order lines the window's poll wrote: one row per (order, line), ids of digits,"
        " Shop's statuses, quantities ≥ 1, prices ≥ 0, buyers only as SHA-256 digests, updated after creation. Blocking.",
    )
}
SALES_CHECKS = {
    "shop_sku_sales_schema": (
        dg.AssetCheckSeverity.ERROR,
        "Structure (Pandera) of the window's SKU sales: one row per SKU, non-negative figures, the trailing hour"
        " holding at least the window.",
    ),
    "skus_in_registry": (
        dg.AssetCheckSeverity.WARN,
        "Every SKU sold in the window is in the tracking registry (else its sales join no creator, campaign or video).",
    ),
}


def shop_order_outcomes(lines: pl.DataFrame) -> dict[str, CheckOutcome]:
    """The raw order checks of one window's polled lines."""
    return {"raw_shop_orders_schema": validate_schema(raw_shop_orders_schema(), lines)}


def shop_sales_outcomes(sales: pl.DataFrame, starts: list[datetime]) -> dict[str, dict[str, CheckOutcome]]:
    """Window key → the sales checks of its rows."""
    outcomes = {}
    for start in starts:
        rows = sales.filter(pl.col("window_start") == utc_naive(start))
        outcomes[window_key(start)] = {
            "shop_sku_sales_schema": validate_schema(shop_sku_sales_schema(), rows),
            "skus_in_registry": skus_in_registry(rows),
        }
    return outcomes
