"""TikTok Shop tables: order lines at their latest status, and sales per window and SKU joined to the registry.

Buyer identity is never stored raw: the client replaces buyer fields by SHA-256 digests before anything is landed
(source ``tiktok_shop``, README → "TikTok Shop").
"""

from __future__ import annotations

from tiktok_pipeline.governance.owners import GROWTH
from tiktok_pipeline.warehouse.tables.spec import Column, Identifies, Retention, TableSpec

_SKU = (
    Column("seller_sku", "VARCHAR", "The seller's own SKU code: the tracking registry's product_skus use it."),
    Column("sku_id", "VARCHAR", "TikTok Shop's SKU id."),
    Column("product_id", "VARCHAR", "TikTok Shop's product id."),
)

RAW_SHOP_ORDERS = TableSpec(
    "raw_shop_orders",
    (
        Column(
            "window_start",
            "TIMESTAMP",
            "Start (UTC) of the 5-minute window whose poll wrote the row last (the poll asks for orders updated in"
            " that window).",
        ),
        Column("order_id", "VARCHAR", "TikTok Shop order id."),
        Column("line_item_id", "VARCHAR", "The order line's id: with order_id, the row's key (one row per line)."),
        Column("status", "VARCHAR", "The order's latest status known (UNPAID, AWAITING_SHIPMENT, ..., CANCELLED)."),
        Column("create_time", "TIMESTAMP", "UTC time the order was placed."),
        Column(
            "update_time",
            "TIMESTAMP",
            "UTC time of the order's latest change known: a row is only replaced by one at least as recent.",
        ),  # fmt: skip
        Column("created_window", "TIMESTAMP", "Start (UTC) of the 5-minute window the order was placed in."),
        *_SKU,
        Column("quantity", "BIGINT", "Units of the SKU on the line."),
        Column("sale_price", "DECIMAL(18,2)", "Price of one unit as Shop sent it (a decimal string), in currency."),
        Column("line_revenue", "DECIMAL(18,2)", "quantity × sale_price."),
        Column("currency", "VARCHAR", "ISO 4217 currency of the prices."),
        Column("buyer_sha256", "VARCHAR", "SHA-256 of the buyer's user id (sha256:<hex>); the id itself is not kept."),
        Column(
            "fetched_at", "TIMESTAMP", "UTC instant the answer stands for (the window's end against the simulator)."
        ),
        Column("landing_file", "VARCHAR", "The landing file the row was parsed from."),
    ),
    description=(
        "One row per TikTok Shop order line at its latest known status. Each window polls orders updated in it"
        " (orders/search by update_time) and upserts by (order_id, line_item_id), never over a newer update:"
        " re-runs and late updates never double-count."
    ),
    owner=GROWTH,
    sources=("tiktok_shop",),
    retention=Retention.KEPT,
)

SHOP_SKU_SALES = TableSpec(
    "shop_sku_sales",
    (
        Column("window_start", "TIMESTAMP", "Start (UTC) of the 5-minute window the orders were placed in."),
        *_SKU,
        Column("orders", "BIGINT", "Orders placed in the window with a line of this SKU, not cancelled."),
        Column("units", "BIGINT", "Units of the SKU sold in the window (cancelled orders left out)."),
        Column("revenue", "DECIMAL(18,2)", "Sum of line_revenue of those units, in currency."),
        Column("cancelled_units", "BIGINT", "Units of orders placed in the window and cancelled since."),
        Column("units_60m", "BIGINT", "Units sold in the hour ending at the window's end (not cancelled)."),
        Column("revenue_60m", "DECIMAL(18,2)", "Their revenue."),
        Column("currency", "VARCHAR", "ISO 4217 currency."),
        Column("in_registry", "BIGINT", "1 when the tracking registry lists the SKU for a creator, else 0."),
        Column(
            "creators",
            "VARCHAR[]",
            "Registry creators whose product_skus list the SKU (handles; a purged creator is removed from the list).",
            identifies=Identifies.HANDLE,
        ),
        Column("campaign_ids", "VARCHAR[]", "Campaigns of those creators."),
        Column(
            "top_video_id",
            "VARCHAR",
            "The promoting creators' video with the highest momentum in the window (video_velocity), if any.",
        ),
        Column("top_video_momentum", "DOUBLE", "That video's momentum (views per minute now / over its life)."),
        Column(
            "computed_at",
            "TIMESTAMP",
            "UTC instant the row was computed: later order changes restate it when the window is materialised again.",
        ),  # fmt: skip
    ),
    description=(
        "Per window (order placement) and SKU: orders, units and revenue from raw_shop_orders as known when the row"
        " was computed, the trailing hour's units and revenue, and the registry's creators, campaigns and top video"
        " promoting the SKU."
    ),
    owner=GROWTH,
    sources=("tiktok_shop", "tracking_registry", "display_api"),
    retention=Retention.KEPT,
)
