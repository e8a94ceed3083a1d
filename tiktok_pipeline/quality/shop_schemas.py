"""Pandera (Polars API) schemas of the TikTok Shop tables, checked per window as asset checks."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from tiktok_pipeline.quality.checks import CheckOutcome
from tiktok_pipeline.sources.shop_api.models import ORDER_STATUSES

MONEY = pl.Decimal(18, 2)


def _nonnegative(kind: pl.DataType | type[pl.DataType]) -> pa.Column:
    return pa.Column(kind, pa.Check.ge(0))


def raw_shop_orders_schema() -> pa.DataFrameSchema:
    """One row per (order, line); ids of digits; known statuses; quantities ≥ 1; prices and revenue ≥ 0; buyers
    only as digests; an update never before the order's creation."""
    return pa.DataFrameSchema(
        {
            "window_start": pa.Column(pl.Datetime("us")),
            "order_id": pa.Column(pl.String, pa.Check.str_matches(r"^[0-9]+$")),
            "line_item_id": pa.Column(pl.String, pa.Check.str_matches(r"^[0-9]+$")),
            "status": pa.Column(pl.String, pa.Check.isin(sorted(ORDER_STATUSES))),
            "quantity": pa.Column(pl.Int64, pa.Check.ge(1)),
            "sale_price": _nonnegative(MONEY),
            "line_revenue": _nonnegative(MONEY),
            "buyer_sha256": pa.Column(pl.String, pa.Check.str_matches(r"^sha256:[0-9a-f]{64}$"), nullable=True),
        },
        checks=[
            pa.Check(
                lambda data: data.lazyframe.select(pl.col("update_time") >= pl.col("create_time")),
                name="updated_after_creation",
            )
        ],  # fmt: skip
        unique=["order_id", "line_item_id"],
        name="raw_shop_orders",
    )


def shop_sku_sales_schema() -> pa.DataFrameSchema:
    """One row per window and SKU; non-negative units, orders and revenue; the hour holds at least the window."""
    return pa.DataFrameSchema(
        {
            "window_start": pa.Column(pl.Datetime("us")),
            "sku_id": pa.Column(pl.String, pa.Check.str_matches(r"^[0-9]+$")),
            **{c: _nonnegative(pl.Int64) for c in ("orders", "units", "cancelled_units", "units_60m")},
            "revenue": _nonnegative(MONEY),
            "revenue_60m": _nonnegative(MONEY),
            "in_registry": pa.Column(pl.Int64, pa.Check.isin([0, 1])),
        },
        checks=[
            pa.Check(
                lambda data: data.lazyframe.select(pl.col("units_60m") >= pl.col("units")), name="hour_holds_the_window"
            )
        ],  # fmt: skip
        unique=["window_start", "sku_id"],
        name="shop_sku_sales",
    )


def skus_in_registry(sales: pl.DataFrame) -> CheckOutcome:
    """Every SKU sold in the window is in the tracking registry (else its sales join no creator or video)."""
    outside = sales.filter((pl.col("in_registry") == 0) & (pl.col("units") > 0))
    return CheckOutcome(
        passed=outside.height == 0,
        failed_rows=outside.height,
        sample=outside.select("seller_sku", "sku_id", "units").head(10),
        figures={"units_not_in_registry": float(outside["units"].sum() or 0)},
    )
