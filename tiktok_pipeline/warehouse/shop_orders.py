"""Writing TikTok Shop order lines: an upsert by (order_id, line_item_id) that never goes back to an older update.

A window's poll holds the orders updated in that window at their latest status. Its lines replace the stored lines of
the same (order, line) only where they are at least as recent (``update_time``, then ``fetched_at``); lines not
stored yet are added. Re-running a window writes the same lines again (one copy: nothing is counted twice), and
re-running an old window after newer polls changes nothing. The window's quarantined orders replace its earlier
quarantine rows, in the same transaction (:func:`~tiktok_pipeline.warehouse.io.write_transaction`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import polars as pl

from tiktok_pipeline.warehouse.io import create_or_extend, write_transaction
from tiktok_pipeline.warehouse.quarantine import adopt_legacy_rows
from tiktok_pipeline.warehouse.tables import RAW_SHOP_ORDERS, SHOP_ORDER_QUARANTINE
from tiktok_pipeline.windows import utc_naive

ASSET = "raw_shop_orders"


@dataclass(frozen=True)
class Upserted:
    """What one upsert did: lines written (new or newer), lines kept because the stored one was newer."""

    written: int
    kept_newer: int
    quarantined: int


def upsert_order_lines(
    connection: duckdb.DuckDBPyConnection, lines: pl.DataFrame, quarantine: pl.DataFrame, start: datetime, end: datetime
) -> Upserted:
    """Upsert ``lines`` into raw_shop_orders and replace the quarantine rows of ``[start, end)``, in ONE transaction."""
    lo, hi = utc_naive(start), utc_naive(end)
    incoming = RAW_SHOP_ORDERS.conform(lines).to_arrow()
    rejected = SHOP_ORDER_QUARANTINE.conform(quarantine)
    if rejected.filter((pl.col("window_start") < lo) | (pl.col("window_start") >= hi)).height:
        raise ValueError(f"quarantine rows for {SHOP_ORDER_QUARANTINE.name} fall outside [{lo}, {hi})")
    adopt_legacy_rows(connection, SHOP_ORDER_QUARANTINE, ASSET)
    table = RAW_SHOP_ORDERS.name
    newer = "(t.update_time < i.update_time OR (t.update_time = i.update_time AND t.fetched_at <= i.fetched_at))"
    same = "t.order_id = i.order_id AND t.line_item_id = i.line_item_id"

    def body(connection: duckdb.DuckDBPyConnection) -> Upserted:
        create_or_extend(connection, RAW_SHOP_ORDERS)
        create_or_extend(connection, SHOP_ORDER_QUARANTINE)
        connection.register("_shop_lines", incoming)
        try:
            kept = connection.execute(
                f'SELECT count(*) FROM _shop_lines i WHERE EXISTS (SELECT 1 FROM "{table}" t WHERE {same} AND NOT {newer})'
            ).fetchall()[0][0]
            connection.execute(
                f'DELETE FROM "{table}" t WHERE EXISTS (SELECT 1 FROM _shop_lines i WHERE {same} AND {newer})'
            ).fetchall()
            written = connection.execute(
                f'INSERT INTO "{table}" BY NAME SELECT i.* FROM _shop_lines i'
                f' WHERE NOT EXISTS (SELECT 1 FROM "{table}" t WHERE {same})'
            ).fetchall()[0][0]
        finally:
            connection.unregister("_shop_lines")
        connection.execute(
            f'DELETE FROM "{SHOP_ORDER_QUARANTINE.name}" WHERE window_start >= ? AND window_start < ?', [lo, hi]
        ).fetchall()
        if rejected.height:
            connection.register("_shop_rejected", rejected.to_arrow())
            connection.execute(
                f'INSERT INTO "{SHOP_ORDER_QUARANTINE.name}" BY NAME SELECT * FROM _shop_rejected'
            ).fetchall()
            connection.unregister("_shop_rejected")
        return Upserted(int(written), int(kept), rejected.height)

    return write_transaction(connection, body)
