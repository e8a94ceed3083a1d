"""Enriched metrics and velocity written together: one transaction for both tables' windows (issue 13).

Velocity reads the enriched rows from the warehouse, so inside one transaction it sees the rows just written
(not yet committed): one commit, and one WAL checkpoint, for both tables instead of one per table.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import duckdb
import polars as pl

from tiktok_pipeline.governance.telemetry import stamp_warehouse_waits
from tiktok_pipeline.metrics.velocity import HISTORY_LIMIT, velocity_in_warehouse
from tiktok_pipeline.warehouse.io import Write, prepare_window_writes, write_transaction
from tiktok_pipeline.warehouse.tables import ENRICHED_VIDEO_METRICS, VIDEO_VELOCITY
from tiktok_pipeline.warehouse.waits import WaitMeter
from tiktok_pipeline.windows import utc_naive


def write_enriched_and_velocity(
    connection: duckdb.DuckDBPyConnection,
    start: datetime,
    end: datetime,
    enriched: pl.DataFrame | None,
    *,
    velocity: bool,
    waited: WaitMeter | None = None,
    wait_totals: dict[str, float] | None = None,
    gate: Callable[[], bool] | None = None,
    rows: pl.DataFrame | None = None,
) -> pl.DataFrame | None:
    """Replace the windows ``[start, end)`` of ``enriched_video_metrics`` by ``enriched`` (None: left as it is) and,
    when ``velocity``, of ``video_velocity`` by the rows computed from the enriched table as it then stands, all in
    ONE transaction (re-run whole on a DuckLake commit conflict). Returns the velocity rows written (None when not
    asked). ``waited``: the step's wait for the warehouse so far, added in the same transaction to poll_telemetry's
    rows of these windows (their totals go into ``wait_totals``, by window key). ``gate``: asked once velocity is
    computed, whether it may be written (the enriched rows' blocking checks, running meanwhile in another thread); when
    it says no, velocity is not written and None is returned. ``rows``: velocity rows of these windows computed
    beforehand from ``enriched`` (a range's: :func:`velocity_by_turn`), written instead of computed here."""
    write_enriched = (
        prepare_window_writes(start, end, Write(ENRICHED_VIDEO_METRICS, enriched)) if enriched is not None else None
    )

    def body(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
        if write_enriched is not None:
            write_enriched(connection)
        if waited is not None:  # read now: a re-run after a conflict counts its backoff
            totals = stamp_warehouse_waits(connection, start, end, waited.seconds, raw=False)
            if wait_totals is not None:
                wait_totals.update(totals)
        if not velocity:
            return None
        computed = rows
        if computed is None:
            computed = velocity_in_warehouse(
                connection, ENRICHED_VIDEO_METRICS.name, start, end, history_limit=HISTORY_LIMIT
            )
        if gate is not None and not gate():
            return None
        prepare_window_writes(start, end, Write(VIDEO_VELOCITY, computed))(connection)
        return computed

    # a commit that conflicts with another writer (a DuckLake) re-runs it all: velocity computed here then reads their
    # rows too (velocity given as ``rows``, a range's, is written as computed before the range's turns)
    return write_transaction(connection, body)


def velocity_by_turn(
    connection: duckdb.DuckDBPyConnection, enriched: pl.DataFrame, spans: list[tuple[datetime, datetime]]
) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """A range's velocity, computed once from its enriched rows (``enriched``, every window of ``spans``) before its
    turns write them, and its rows of each span (for :func:`write_enriched_and_velocity`'s ``rows``). The same rows
    as computing each turn's from the table once its enriched rows are written
    (``unit/test_velocity_warehouse.py``), without reading up to a day of history again in every turn."""
    start, end = spans[0][0], spans[-1][1]
    velocity = velocity_in_warehouse(
        connection, ENRICHED_VIDEO_METRICS.name, start, end, history_limit=HISTORY_LIMIT, rows=enriched
    )  # sorted by window
    bounds = [velocity["window_start"].search_sorted(utc_naive(lo)) for lo, _ in spans] + [velocity.height]
    return velocity, [velocity.slice(lo, hi - lo) for lo, hi in zip(bounds, bounds[1:], strict=False)]
