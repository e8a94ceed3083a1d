"""A window's landed TikTok Shop answers → order lines, and the orders that fail validation → quarantine.

Each order is validated on its own (:class:`~tiktok_pipeline.sources.shop_api.models.ShopOrder`: prices decimal
strings, quantities integers and never booleans, statuses Shop's): a bad one is quarantined with its payload (buyer
fields already digests) and a reason naming the field and the source; the others go on. Lines of one order seen on
two pages (the list shifted while paging) are kept once, at their latest update.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import ValidationError

from tiktok_pipeline.ingest.schemas import UnknownSchemaError, pick
from tiktok_pipeline.sources.shop_api.models import ShopOrder
from tiktok_pipeline.warehouse.tables import RAW_SHOP_ORDERS, SHOP_ORDER_QUARANTINE
from tiktok_pipeline.windows import utc_naive, window_containing

ASSET = "raw_shop_orders"
PARSER_VERSION = "1"
ORDER_MODELS = {1: ShopOrder}


@dataclass
class ParsedShop:
    """One window's order lines and quarantined orders, and what the landed answers said."""

    rows: pl.DataFrame
    quarantine: pl.DataFrame
    failed_calls: dict[str, str]
    pages: int
    products: int


def _reason(error: ValidationError | UnknownSchemaError, source: str) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "order"
        return f"tiktok_shop orders/search ({source}): {where}: {first['msg']}"
    return f"tiktok_shop orders/search ({source}): {error}"


def parse_shop_window(window_start: datetime, records: list[dict[str, Any]], landing_file: Path) -> ParsedShop:
    """The order lines and quarantined orders of one window's landed records."""
    rows: list[dict[str, Any]] = []
    quarantine: list[dict[str, Any]] = []
    failed: dict[str, str] = {}
    pages = products = 0
    source = f"orders/search, {landing_file}"
    for record in records:
        if record.get("error"):
            failed[str(record.get("kind"))] = str(record["error"])
            continue
        data = record.get("payload", {}).get("data") if isinstance(record.get("payload"), dict) else None
        if record.get("kind") == "products":
            products += len(data.get("products") or []) if isinstance(data, dict) else 0
            continue
        if record.get("kind") != "orders":
            continue
        pages += 1
        orders = data.get("orders") if isinstance(data, dict) else None
        if not isinstance(orders, list):
            failed["orders"] = f"tiktok_shop orders/search ({source}): data.orders is missing or not a list"
            continue
        observed = datetime.fromisoformat(record["observed_at"])
        for raw in orders:
            try:
                order = pick(ORDER_MODELS, record, "tiktok_shop orders").model_validate(raw)
            except (ValidationError, UnknownSchemaError) as exc:
                quarantine.append(
                    {
                        "window_start": utc_naive(window_start),
                        "source": source,
                        "log_id": record.get("request_id"),
                        "reason": _reason(exc, source),
                        "payload": json.dumps(raw, sort_keys=True, default=str),
                        "asset": ASSET,
                    }
                )
                continue
            rows.extend(_lines(order, window_start, observed, landing_file))
    frame = pl.DataFrame(rows, schema=RAW_SHOP_ORDERS.polars_schema) if rows else RAW_SHOP_ORDERS.empty()
    if frame.height:
        frame = frame.sort("update_time", "fetched_at").unique(
            ["order_id", "line_item_id"], keep="last", maintain_order=True
        )
    bad = (
        pl.DataFrame(quarantine, schema=SHOP_ORDER_QUARANTINE.polars_schema)
        if quarantine
        else SHOP_ORDER_QUARANTINE.empty()
    )
    return ParsedShop(frame, bad, failed, pages, products)


def _lines(order: ShopOrder, window_start: datetime, observed: datetime, landing_file: Path) -> list[dict[str, Any]]:
    created = datetime.fromtimestamp(order.create_time, UTC)
    return [
        {
            "window_start": utc_naive(window_start),
            "order_id": order.id,
            "line_item_id": line.id,
            "status": order.status,
            "create_time": utc_naive(created),
            "update_time": utc_naive(datetime.fromtimestamp(order.update_time, UTC)),
            "created_window": utc_naive(window_containing(created)),
            "seller_sku": line.seller_sku or None,
            "sku_id": line.sku_id,
            "product_id": line.product_id,
            "quantity": line.quantity,
            "sale_price": line.sale_price,
            "line_revenue": (line.sale_price * line.quantity).quantize(Decimal("0.01")),
            "currency": line.currency,
            "buyer_sha256": order.user_id,
            "fetched_at": utc_naive(observed),
            "landing_file": str(landing_file),
        }
        for line in order.line_items
    ]
