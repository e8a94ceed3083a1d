"""TikTok Shop (group ``shop``): the shop's orders polled every window, and its sales per window and SKU.

- ``raw_shop_orders``: each window asks ``orders/search`` for every order **updated** in it (all pages) and the
  catalogue (``products/search``), lands the raw answers under ``data/landing/tiktok_shop/`` (buyer fields already
  SHA-256 digests), then upserts one row per order line at its latest status: never over a newer update, so late
  changes are caught and re-runs never double-count (``tiktok_pipeline/warehouse/shop_orders.py``). Orders that fail
  validation go to ``shop_order_quarantine`` in the same transaction.
- ``shop_sku_sales``: per window and SKU, units, orders and revenue of the orders placed in it, the trailing hour's,
  joined to the registry's creators and campaigns and the promoting video with the highest momentum.

Launched by ``shop_orders_sensor`` (one ``shop_orders_job`` run per closed window) and sooner by
``shop_webhooks_sensor`` when a push says an order changed. Polling stays the source of truth.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from tiktok_pipeline.defs.metadata import (
    KINDS,
    check_specs,
    partition_range,
    report_windows,
    severities,
    window_check_events,
)
from tiktok_pipeline.defs.partitions import WINDOW_FRESHNESS, WINDOWS
from tiktok_pipeline.defs.resources import TrackingRegistryResource
from tiktok_pipeline.defs.shop.checks import RAW_CHECKS, SALES_CHECKS, shop_order_outcomes, shop_sales_outcomes
from tiktok_pipeline.defs.shop.resources import ShopApiResource
from tiktok_pipeline.ingest.collect.shop import land_shop_window
from tiktok_pipeline.ingest.land import LandedWindow, WindowNotObservableError
from tiktok_pipeline.ingest.parse.shop import PARSER_VERSION, parse_shop_window
from tiktok_pipeline.metrics.shop_sales import sales_figures, sku_sales
from tiktok_pipeline.sources.http.calllog import call_context, recording
from tiktok_pipeline.warehouse.call_log import write_calls
from tiktok_pipeline.warehouse.io import WarehouseResource, Write, read_frame, replace_windows, table_exists
from tiktok_pipeline.warehouse.shop_orders import upsert_order_lines
from tiktok_pipeline.warehouse.tables import RAW_SHOP_ORDERS, SHOP_ORDER_QUARANTINE, SHOP_SKU_SALES, VIDEO_VELOCITY
from tiktok_pipeline.windows import WINDOW, utc_naive, window_key, window_starts

SHOP_GROUP = "shop"
SHOP_ASSET: dict[str, Any] = dict(
    partitions_def=WINDOWS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=SHOP_GROUP,
    kinds=KINDS,
    freshness_policy=WINDOW_FRESHNESS,
)
REAL_HOST_MAX_AGE = timedelta(days=3650)
"""Shop answers any past window with each order's latest state (no present-day-only counts): no age limit."""


def _figure_name(stat: str) -> str:
    """A client counter as a metadata key: ``requests./order/202309/orders/search`` → ``requests_orders_search``."""
    kind, _, path = stat.partition(".")
    return "_".join(filter(None, [kind.replace(" ", "_"), *path.strip("/").split("/")[-2:]])).replace("202309_", "")


class RawShopOrdersConfig(dg.Config):
    """Run options for polling the shop."""

    recollect: bool = False
    """Ask Shop again even when a window's answers are landed (a push said an order changed since)."""


@dg.asset(
    name=RAW_SHOP_ORDERS.name,
    description=__doc__.split("- ``raw_shop_orders``: ", 1)[1].split("- ``shop_sku_sales``", 1)[0].replace("``", "`"),
    metadata={**RAW_SHOP_ORDERS.asset_metadata, "quarantine_table": SHOP_ORDER_QUARANTINE.name},
    code_version=PARSER_VERSION,
    check_specs=check_specs(RAW_SHOP_ORDERS.name, RAW_CHECKS, blocking={"raw_shop_orders_schema"}),
    **SHOP_ASSET,
)
def raw_shop_orders(
    context: dg.AssetExecutionContext,
    config: RawShopOrdersConfig,
    shop_api: ShopApiResource,
    warehouse: WarehouseResource,
):
    """Poll each window's updated orders and the catalogue, land them, upsert the order lines; calls go to
    api_call_log (their own transaction, written even when the poll fails)."""
    start, end = partition_range(context)
    now = datetime.now(UTC)
    landed: list[LandedWindow] = []
    gaps: dict[str, str] = {}
    with recording() as calls, call_context(source="tiktok_shop", subject="shop"), shop_api.client() as client:
        for window in window_starts(start, end):
            try:
                landed.append(
                    land_shop_window(
                        client,
                        window,
                        now=now,
                        landing_dir=Path(shop_api.landing_dir),
                        observe_at_window_end=shop_api.simulator,
                        max_age=REAL_HOST_MAX_AGE,
                        page_size=shop_api.page_size,
                        recollect=config.recollect,
                    )
                )
            except WindowNotObservableError as exc:
                gaps[window_key(window)] = str(exc)
        stats = dict(client.stats)
    with warehouse.connection() as connection:
        write_calls(connection, calls)
    figures: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    outcomes = {}
    for poll in landed:
        parsed = parse_shop_window(poll.window_start, poll.records, poll.path)
        key = window_key(poll.window_start)
        if parsed.failed_calls:
            failed[key] = next(iter(parsed.failed_calls.values()))
            continue  # an incomplete poll is not written: the next run (or a push) polls the window again
        with warehouse.connection() as connection:
            done = upsert_order_lines(
                connection, parsed.rows, parsed.quarantine, poll.window_start, poll.window_start + WINDOW
            )
        figures[key] = {
            "order_lines": parsed.rows.height,
            "orders": parsed.rows["order_id"].n_unique() if parsed.rows.height else 0,
            "lines_written": done.written,
            "lines_kept_newer": done.kept_newer,
            "quarantined_records": done.quarantined,
            "pages": parsed.pages,
            "products": parsed.products,
            "polled_now": poll.collected,
        }
        outcomes[key] = shop_order_outcomes(parsed.rows)
    if len(figures) == 1:
        next(iter(figures.values())).update({_figure_name(k): v for k, v in stats.items()})
    report_windows(context, RAW_SHOP_ORDERS.name, figures)
    if failed or gaps:
        problems = {**failed, **gaps}
        raise dg.Failure(
            description=f"{len(problems)} window(s) of the shop could not be polled; the others were written. First:"
            f" {next(iter(problems.values()))}",
            metadata={"failures": dg.MetadataValue.json(problems)},
        )
    yield dg.MaterializeResult(metadata={"windows": len(figures)})
    yield from window_check_events(context, RAW_SHOP_ORDERS.name, outcomes, severities(RAW_CHECKS))


@dg.asset(
    name=SHOP_SKU_SALES.name,
    deps=[RAW_SHOP_ORDERS.name],
    description=SHOP_SKU_SALES.description,
    metadata=SHOP_SKU_SALES.asset_metadata,
    check_specs=check_specs(SHOP_SKU_SALES.name, SALES_CHECKS),
    **SHOP_ASSET,
)
def shop_sku_sales(
    context: dg.AssetExecutionContext, tracking_registry: TrackingRegistryResource, warehouse: WarehouseResource
):
    """Per window and SKU: sales of the orders placed in it (and the trailing hour), joined to the registry."""
    start, end = partition_range(context)
    registry = tracking_registry.load()
    now = datetime.now(UTC)
    frames, figures = [], {}
    with warehouse.connection() as connection:
        for window in window_starts(start, end):
            hour = (utc_naive(window + WINDOW - timedelta(hours=1)), utc_naive(window + WINDOW))
            lines = (
                read_frame(
                    connection,
                    f'SELECT * FROM "{RAW_SHOP_ORDERS.name}" WHERE create_time >= ? AND create_time < ?',
                    list(hour),
                )
                if table_exists(connection, RAW_SHOP_ORDERS.name)
                else RAW_SHOP_ORDERS.empty()
            )
            velocity = (
                read_frame(
                    connection, f'SELECT * FROM "{VIDEO_VELOCITY.name}" WHERE window_start = ?', [utc_naive(window)]
                )
                if table_exists(connection, VIDEO_VELOCITY.name)
                else None
            )
            sales = sku_sales(lines, window, registry, velocity, now)
            frames.append(sales)
            figures[window_key(window)] = sales_figures(sales)
        everything = pl.concat(frames) if frames else SHOP_SKU_SALES.empty()
        replace_windows(connection, start, end, Write(SHOP_SKU_SALES, everything))
    report_windows(context, SHOP_SKU_SALES.name, figures)
    yield dg.MaterializeResult(metadata={"windows": len(figures)})
    outcomes = shop_sales_outcomes(everything, list(window_starts(start, end)))
    yield from window_check_events(context, SHOP_SKU_SALES.name, outcomes, severities(SALES_CHECKS))
