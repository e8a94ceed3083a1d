"""The webhook ledger (``merchandising_deliveries``): a feed version is pushed at most once.

Protocol: before the POST the version's row is written ``sending`` (its own transaction); after it, ``delivered``
(2xx), ``failed`` (answered otherwise, after retries) or ``ambiguous`` (no attempt was answered: the receiver may
have it). A version whose row is ``delivered``, ``sending`` (a process died mid-push) or ``ambiguous`` is never
pushed again; ``failed`` is pushed again by the next run of its window. The warehouse is not held open during the
POST.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb
import polars as pl

from tiktok_pipeline.warehouse.io import create_or_extend, read_frame, table_exists, write_transaction
from tiktok_pipeline.warehouse.tables import MERCHANDISING_DELIVERIES

FINAL = ("delivered", "sending", "ambiguous")
"""Statuses that are never pushed again."""


def delivery(connection: duckdb.DuckDBPyConnection, version: str) -> dict[str, Any] | None:
    """The ledger row of ``version``, or None."""
    if not table_exists(connection, MERCHANDISING_DELIVERIES.name):
        return None
    rows = read_frame(
        connection, f'SELECT * FROM "{MERCHANDISING_DELIVERIES.name}" WHERE feed_version = ?', [version]
    ).to_dicts()
    return rows[0] if rows else None


def _write(tx: duckdb.DuckDBPyConnection, row: dict[str, Any]) -> None:
    """Replace ``row``'s version in the ledger, inside the caller's transaction."""
    frame = MERCHANDISING_DELIVERIES.conform(pl.DataFrame([row])).to_arrow()
    tx.execute(
        f'DELETE FROM "{MERCHANDISING_DELIVERIES.name}" WHERE feed_version = ?', [row["feed_version"]]
    ).fetchall()
    tx.register("_delivery", frame)
    tx.execute(f'INSERT INTO "{MERCHANDISING_DELIVERIES.name}" BY NAME SELECT * FROM _delivery').fetchall()
    tx.unregister("_delivery")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def begin(
    connection: duckdb.DuckDBPyConnection, version: str, window_start: datetime, run_id: str
) -> dict[str, Any] | None:
    """Write ``version`` as ``sending`` and return its row, or None when it must not be pushed (already final).

    The check and the write are one transaction: of two runs pushing the same version, one gets the row."""

    def body(tx: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
        create_or_extend(tx, MERCHANDISING_DELIVERIES)
        previous = delivery(tx, version) or {}
        if previous.get("status") in FINAL:
            return None
        row = {
            "feed_version": version,
            "window_start": window_start.replace(tzinfo=None),
            "status": "sending",
            "attempts": previous.get("attempts") or 0,
            "http_status": previous.get("http_status"),
            "last_error": previous.get("last_error"),
            "first_attempt_at": previous.get("first_attempt_at") or _now(),
            "delivered_at": None,
            "run_id": run_id,
        }
        _write(tx, row)
        return row

    return write_transaction(connection, body)


def finish(
    connection: duckdb.DuckDBPyConnection,
    row: dict[str, Any],
    *,
    delivered: bool,
    answered: bool,
    attempts: int,
    http_status: int | None,
    error: str | None,
) -> str:
    """Record a push's outcome on the row :func:`begin` returned; the new status."""
    status = "delivered" if delivered else ("failed" if answered else "ambiguous")
    outcome = {
        **row,
        "status": status,
        "attempts": row["attempts"] + attempts,
        "http_status": http_status,
        "last_error": error,
        "delivered_at": _now() if delivered else None,
    }
    write_transaction(connection, lambda tx: _write(tx, outcome))
    return status
