"""DuckDB warehouse I/O: short-lived connections, partition replacement in one transaction.

DuckDB allows one read-write process per file, so every writing asset runs in the
``duckdb_writer`` pool (limit 1, see dagster.yaml) and readers open the file read-only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl

from tiktok_pipeline.warehouse.tables import TableSpec
from tiktok_pipeline.windows import utc_naive

WRITER_POOL = "duckdb_writer"


@contextmanager
def connect(path: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse file, closed on exit; the parent folder is created on demand."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(path), read_only=read_only)
    try:
        connection.execute("SET TimeZone = 'UTC'")
        yield connection
    finally:
        connection.close()


@contextmanager
def transaction(connection: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Everything in the block commits together, or (on any error, the commit's included) rolls back and re-raises."""
    connection.execute("BEGIN TRANSACTION")
    try:
        yield connection
        connection.execute("COMMIT")
    except Exception:
        connection.execute("ROLLBACK")
        raise


@dataclass(frozen=True)
class Write:
    """Rows for one table; ``scope`` narrows what is replaced (e.g. ``{"asset": "raw_video_snapshots"}``)."""

    spec: TableSpec
    frame: pl.DataFrame
    scope: dict[str, str] = field(default_factory=dict)


def replace_windows(connection: duckdb.DuckDBPyConnection, start: datetime, end: datetime, *writes: Write) -> None:
    """Replace every row with ``start <= window_start < end`` of each table by the given rows, in ONE transaction.

    Rows outside the range are refused: a writer may only touch its own partitions. Re-running a
    partition therefore leaves exactly one copy of its rows: it can never double-count.
    """
    replace = prepare_window_writes(start, end, *writes)
    with transaction(connection):
        replace(connection)


def prepare_window_writes(
    start: datetime, end: datetime, *writes: Write
) -> Callable[[duckdb.DuckDBPyConnection], None]:
    """:func:`replace_windows`'s statements, checked now, for a caller to run inside its own transaction."""
    lo, hi = utc_naive(start), utc_naive(end)
    conformed = []
    for write in writes:
        frame = write.spec.conform(write.frame)
        outside = frame.filter((pl.col("window_start") < lo) | (pl.col("window_start") >= hi)).height
        if outside:
            raise ValueError(f"{outside} rows for {write.spec.name} fall outside [{lo}, {hi})")
        conformed.append((write, frame.to_arrow()))

    def replace(connection: duckdb.DuckDBPyConnection) -> None:
        for write, arrow in conformed:
            name = write.spec.name
            create_or_extend(connection, write.spec)
            scope_sql = "".join(f' AND "{column}" = ?' for column in write.scope)
            connection.execute(
                f'DELETE FROM "{name}" WHERE window_start >= ? AND window_start < ?{scope_sql}',
                [lo, hi, *write.scope.values()],
            ).fetchall()
            connection.register("_incoming", arrow)
            connection.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM _incoming').fetchall()
            connection.unregister("_incoming")

    return replace


def create_or_extend(connection: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
    """Create ``spec``'s table, or add the columns it has gained since the table was created (null for old rows)."""
    connection.execute(spec.ddl)
    present = {
        row[0]
        for row in connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [spec.name]
        ).fetchall()
    }
    for column in spec.columns:
        if column.name not in present:
            connection.execute(f'ALTER TABLE "{spec.name}" ADD COLUMN "{column.name}" {column.type}')


def read_frame(
    connection: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | dict[str, Any] | None = None
) -> pl.DataFrame:
    """Run ``sql`` (``?`` parameters from a list, ``$name`` ones from a dict) and return the result as a Polars frame (via Arrow)."""
    return pl.from_arrow(connection.sql(sql, params=params or None).to_arrow_table())  # type: ignore[return-value]


def table_exists(connection: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the warehouse has a table called ``name``."""
    rows = connection.execute("SELECT 1 FROM information_schema.tables WHERE table_name = ?", [name]).fetchall()
    return bool(rows)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file every asset reads and writes."""

    path: str

    @contextmanager
    def connection(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(Path(self.path), read_only=read_only) as connection:
            yield connection
