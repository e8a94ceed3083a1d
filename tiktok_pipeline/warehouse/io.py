"""DuckDB warehouse I/O: short-lived connections, partition replacement in one transaction.

DuckDB allows one read-write process per file, so every connection holds the warehouse lock
(:mod:`tiktok_pipeline.warehouse.lock`, an OS lock the kernel drops with its process) while it is open, and
steps open one only to read and write: never while they call TikTok.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl

from tiktok_pipeline.governance.workers import record_worker
from tiktok_pipeline.settings import DEFAULT_WAREHOUSE_LOCK_TIMEOUT
from tiktok_pipeline.warehouse.lock import LOCK_TIMEOUT_SETTING, WarehouseBusyError, warehouse_lock
from tiktok_pipeline.warehouse.tables import TableSpec
from tiktok_pipeline.windows import utc_naive

_RETRY_OPEN_SECONDS = 0.25
"""How often a connection retries a file DuckDB reports locked by a process outside the pipeline."""


@contextmanager
def connect(
    path: Path,
    *,
    read_only: bool = False,
    lock_timeout: float = DEFAULT_WAREHOUSE_LOCK_TIMEOUT,
    purpose: str = "",
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse file, holding the warehouse lock until it is closed on exit.

    Waits at most ``lock_timeout`` seconds in all: for the lock (held by another pipeline process) and then for
    DuckDB's own file lock (held by a process outside the pipeline, e.g. an analyst's DuckDB session). The
    parent folder is created on demand.
    """
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    with warehouse_lock(path, timeout=lock_timeout, purpose=purpose, on_wait=on_wait) as waited:
        connection = _open(path, read_only=read_only, timeout=max(lock_timeout - waited, 0.0), on_wait=on_wait)
        try:
            connection.execute("SET TimeZone = 'UTC'")
            yield connection
        finally:
            connection.close()


def _open(
    path: Path, *, read_only: bool, timeout: float, on_wait: Callable[[str], None] | None
) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, retried while another process outside the pipeline holds DuckDB's lock on the file."""
    deadline = time.monotonic() + timeout
    told = False
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower():
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusyError(
                    f"the warehouse {path} is held open by a process outside the pipeline: {error} "
                    f"(close that session, or raise {LOCK_TIMEOUT_SETTING})"
                ) from error
            if on_wait is not None and not told:
                on_wait(f"the warehouse {path} is open in a process outside the pipeline; retrying: {error}")
                told = True
            time.sleep(_RETRY_OPEN_SECONDS)


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
    """Create ``spec``'s table, or add the columns it has gained since the table was created (null for old rows).

    One catalog lookup (``duckdb_columns()``, not the heavier ``information_schema`` view) when the table is
    already as specified, which is every write but the first."""
    present = {
        row[0]
        for row in connection.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [spec.name]
        ).fetchall()
    }
    if not present:
        connection.execute(spec.ddl)
        return
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
    """The DuckDB warehouse file every asset reads and writes, one process at a time (see ``warehouse.lock``)."""

    path: str
    lock_timeout_seconds: float
    """How long a connection waits for the warehouse (TIKTOK_WAREHOUSE_LOCK_TIMEOUT_SECONDS)."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Record which process runs this run (``tiktok/worker``), so that ``dead_run_sensor`` can tell when it died."""
        if context.run is not None and context.instance is not None:
            record_worker(context.instance, context.run)

    @contextmanager
    def connection(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection holding the warehouse lock; waiting for it is logged to the run, naming the holder."""
        log = dg.get_dagster_logger()
        with connect(
            Path(self.path),
            read_only=read_only,
            lock_timeout=self.lock_timeout_seconds,
            purpose=_purpose(),
            on_wait=log.info,
        ) as connection:
            yield connection

    @contextmanager
    def serialised(self, name: str) -> Iterator[None]:
        """One process at a time in the block, by a lock of its own beside the warehouse (not the warehouse's)."""
        log = dg.get_dagster_logger()
        target = Path(self.path).with_name(f"{Path(self.path).name}.{name}")
        with warehouse_lock(target, timeout=self.lock_timeout_seconds, purpose=_purpose(), on_wait=log.info):
            yield


def _purpose() -> str:
    """The run and step asking for the warehouse, when known (recorded in the lock file for waiters to read)."""
    try:
        context = dg.OpExecutionContext.get()
    except dg.DagsterInvariantViolationError:  # outside a step (a sensor, a test, the CLI)
        return ""
    return f"run {context.run.run_id}, step {context.op_handle}"
