"""Writing ``api_call_log``: the rows a step's :func:`~tiktok_pipeline.sources.http.calllog.recording` buffered."""

from __future__ import annotations

import duckdb
import polars as pl

from tiktok_pipeline.sources.http.calllog import CallBuffer
from tiktok_pipeline.warehouse.io import create_or_extend, write_transaction
from tiktok_pipeline.warehouse.tables.governance import API_CALL_LOG


def call_frame(buffer: CallBuffer) -> pl.DataFrame:
    """The buffered calls as ``api_call_log`` rows (conformed to its schema)."""
    return API_CALL_LOG.conform(pl.DataFrame(buffer.rows, schema=API_CALL_LOG.polars_schema))


def append_calls(connection: duckdb.DuckDBPyConnection, buffer: CallBuffer) -> None:
    """Append the buffered calls inside the caller's transaction (a re-run adds its own calls, replaces none)."""
    create_or_extend(connection, API_CALL_LOG)
    if not buffer.rows:
        return
    connection.register("_calls", call_frame(buffer).to_arrow())
    connection.execute(f'INSERT INTO "{API_CALL_LOG.name}" BY NAME SELECT * FROM _calls').fetchall()
    connection.unregister("_calls")


def write_calls(connection: duckdb.DuckDBPyConnection, buffer: CallBuffer) -> None:
    """Append the buffered calls in a transaction of their own (steps whose other writes are not window-scoped)."""
    write_transaction(connection, lambda con: append_calls(con, buffer))
