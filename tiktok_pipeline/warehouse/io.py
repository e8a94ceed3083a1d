"""Warehouse I/O on either backend: short-lived connections, partition replacement in one transaction.

A connection is a DuckDB connection whose default catalog is the warehouse, whichever the backend
(``TIKTOK_WAREHOUSE_URL``, :mod:`tiktok_pipeline.warehouse.backends`), so the same SQL reads and writes both.
On the DuckDB file, which allows one read-write process, every connection holds the warehouse lock
(:mod:`tiktok_pipeline.warehouse.lock`, an OS lock the kernel drops with its process) while it is open, and
steps open one only to read and write: never while they call TikTok. On DuckLake there is no such lock: writers
of different windows commit at once, and a commit that loses to another writer is retried
(:func:`write_transaction`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import duckdb
import polars as pl

from tiktok_pipeline.governance.workers import record_worker
from tiktok_pipeline.runs import priority_of
from tiktok_pipeline.settings import DEFAULT_WAREHOUSE_LOCK_TIMEOUT
from tiktok_pipeline.settings.warehouse import WarehouseTarget, parse_target
from tiktok_pipeline.warehouse import backends, migrate, waits
from tiktok_pipeline.warehouse.lock import LOCK_TIMEOUT_SETTING, WarehouseBusyError, urgent_waiting, warehouse_lock
from tiktok_pipeline.warehouse.tables import TableSpec
from tiktok_pipeline.windows import utc_naive

_RETRY_OPEN_SECONDS = 0.25
"""How often a connection retries a file DuckDB reports locked by a process outside the pipeline."""
COMMIT_ATTEMPTS = 12
"""Attempts of one write transaction whose commit conflicts with other writers' (DuckLake), before it fails."""
T = TypeVar("T")


def as_target(warehouse: WarehouseTarget | Path | str) -> WarehouseTarget:
    """``warehouse`` as a target: a target as is, a path as its DuckDB file."""
    if isinstance(warehouse, WarehouseTarget):
        return warehouse
    return WarehouseTarget(backend="duckdb", path=Path(warehouse))


@contextmanager
def connect(
    warehouse: WarehouseTarget | Path | str,
    *,
    read_only: bool = False,
    lock_timeout: float = DEFAULT_WAREHOUSE_LOCK_TIMEOUT,
    purpose: str = "",
    on_wait: Callable[[str], None] | None = None,
    urgent: bool = False,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse (a target, or a DuckDB file's path), closed on exit (``urgent``: a live
    window's, which on a DuckDB file waits for the lock before any other waiter).

    On a DuckLake: a connection of its own (no lock; ``read_only`` is not enforced). On a DuckDB file: holds the
    warehouse lock until closed, waiting at most ``lock_timeout`` seconds in all, for the lock (held by another
    pipeline process) and then for DuckDB's own file lock (held by a process outside the pipeline, e.g. an
    analyst's DuckDB session); the parent folder is created on demand.
    """
    target = as_target(warehouse)
    if target.is_lake:
        connection = backends.lake_connection(target)
        try:
            connection.execute("SET TimeZone = 'UTC'")
            yield connection
        finally:
            connection.close()
        return
    assert target.path is not None
    path = target.path
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    with warehouse_lock(path, timeout=lock_timeout, purpose=purpose, on_wait=on_wait, urgent=urgent) as waited:
        waits.record(waited)
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
            waits.record(_RETRY_OPEN_SECONDS)


@contextmanager
def transaction(connection: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Everything in the block commits together, or (on any error, the commit's included) rolls back and re-raises."""
    connection.execute("BEGIN TRANSACTION")
    try:
        yield connection
        connection.execute("COMMIT")
    except Exception:
        _rollback(connection)
        raise


def _rollback(connection: duckdb.DuckDBPyConnection) -> None:
    """ROLLBACK, unless the failed statement (a conflicting COMMIT) already ended the transaction."""
    migrate.forget(connection)  # a table created in the transaction is gone
    try:
        connection.execute("ROLLBACK")
    except duckdb.TransactionException as error:
        if "no transaction is active" not in str(error).lower():
            raise


def write_transaction(
    connection: duckdb.DuckDBPyConnection,
    body: Callable[[duckdb.DuckDBPyConnection], T],
    *,
    attempts: int = COMMIT_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``body`` in one transaction; when the commit conflicts with another writer's, run it all again.

    Only DuckLake reports conflicts (writers of different windows deleting from the same table): the whole body
    is re-run in a new transaction (it reads the other writer's rows then), after a jittered backoff, logged, up
    to ``attempts`` times; the last conflict is raised. Any other error rolls back and is raised at once.
    """
    for attempt in range(1, attempts + 1):
        try:
            with transaction(connection):
                return body(connection)
        except duckdb.Error as error:
            if not backends.is_conflict(error) or attempt == attempts:
                raise
            wait = backends.backoff(attempt)
            dg.get_dagster_logger().warning(
                "write transaction conflicted with another writer (attempt %d of %d); retrying in %.2f s: %s",
                attempt,
                attempts,
                wait,
                str(error).splitlines()[-1],
            )
            sleep(wait)
            waits.record(wait)  # on a lake, the only wait for the warehouse (warehouse/waits.py)
    raise AssertionError("unreachable")  # pragma: no cover


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
    write_transaction(connection, replace)


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
    """Create ``spec``'s table at its declared schema version, or migrate it forward to that version (adding the
    columns it has gained), in the caller's transaction (:func:`tiktok_pipeline.warehouse.migrate.ensure_table`).

    One catalog lookup (``duckdb_columns()``) when the table is already as specified, which is every write but the
    first."""
    for change in migrate.ensure_table(connection, spec):
        dg.get_dagster_logger().info("warehouse schema: %s", change.describe())


def read_frame(
    connection: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | dict[str, Any] | None = None
) -> pl.DataFrame:
    """Run ``sql`` (``?`` parameters from a list, ``$name`` ones from a dict) and return the result as a Polars frame (via Arrow).

    Through ``execute()``, not ``sql(..., params=...)``: DuckDB 1.5.5 turns a parametrised ``sql()`` relation into
    Arrow 40-65 times slower (2.1 s against 53 ms for a day of history at 100,000 videos; README "Backends").
    """
    return pl.from_arrow(connection.execute(sql, params or None).to_arrow_table())  # type: ignore[return-value]


def table_exists(connection: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the warehouse has a table called ``name``."""
    return name in tables_present(connection, [name])


def tables_present(connection: duckdb.DuckDBPyConnection, names: list[str]) -> set[str]:
    """Which of ``names`` the warehouse has tables (or views) of: from the connection's remembered catalog when it
    lists them all (:func:`tiktok_pipeline.warehouse.migrate.catalog`), else one catalog query for all."""
    known = migrate.catalog(connection)
    if all(name in known for name in names):
        return set(names)
    sql = "SELECT DISTINCT table_name FROM information_schema.tables WHERE list_contains(?, table_name)"
    return {row[0] for row in connection.execute(sql, [names]).fetchall()}


BULK_CHECKPOINT_THRESHOLD = "512MB"
"""WAL size at which a range step's connection checkpoints into the DuckDB file (DuckDB's default: 16 MB). A one-day
backfill of 10,000 videos writes 281 MB of WAL over its 24 turns; at 16 MB a checkpoint ran every turn or two inside
its commit, and each rewrites the tables' touched row groups again: the 24 turns' writes took 10.9-14.8 s against
7.5-11.6 s at 256 MB, alternating, load about 3 (issue 13). Above a day's WAL at 10,000 videos, the range's one
checkpoint is its last connection's closing, which runs in a thread while the step stores its events
(``defs/videos/process.py``) instead of inside a turn's commit. The bound keeps what a live window may wait for
small: when one waits, the range's connection closes, checkpointing what it has written (about 1.2 s for a day's
281 MB on 2 cores, about twice that at the bound; 0.8 s at the former 256 MB)."""


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse every asset reads and writes: a DuckDB file (one process at a time, see ``warehouse.lock``)
    or a DuckLake (many at once)."""

    url: str
    """TIKTOK_WAREHOUSE_URL as resolved by the settings (from the environment as ``dagster.EnvVar`` when set
    there: a lake's conninfo may hold a password, so it never reaches run config or logs)."""
    lake_data_path: str | None = None
    """TIKTOK_LAKE_DATA_PATH (DuckLake only)."""
    lock_timeout_seconds: float
    """How long a connection waits for the warehouse (TIKTOK_WAREHOUSE_LOCK_TIMEOUT_SECONDS)."""

    @property
    def target(self) -> WarehouseTarget:
        """Where the warehouse is (parsed from ``url``)."""
        path = Path(self.url.removeprefix("duckdb:")) if self.url.startswith("duckdb:") else Path()
        return parse_target(self.url, path=path, path_given=False, data_path=self.lake_data_path)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Record which process runs this run (``tiktok/worker``), so that ``dead_run_sensor`` can tell when it died."""
        if context.run is not None and context.instance is not None:
            record_worker(context.instance, context.run)

    @contextmanager
    def connection(self, *, read_only: bool = False, bulk: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the warehouse; on the file, waiting for its lock is logged to the run, naming the holder.
        A run the queue ranks above others (``dagster/priority`` > 0: a live window, a retry) waits urgently.
        ``bulk``: many transactions to come (a range step's turns): on the file, its WAL is checkpointed into the
        file at :data:`BULK_CHECKPOINT_THRESHOLD` instead of DuckDB's 16 MB."""
        log = dg.get_dagster_logger()
        with connect(
            self.target,
            read_only=read_only,
            lock_timeout=self.lock_timeout_seconds,
            purpose=_purpose(),
            on_wait=log.info,
            urgent=_urgent(),
        ) as connection:
            if not read_only:  # before this process's first write: every table to its declared version
                from tiktok_pipeline.warehouse.migrate_command import migrate_once  # it writes through this module

                migrate_once(connection, self.target, self.url, lock_timeout=self.lock_timeout_seconds)
            if bulk and not read_only and not self.target.is_lake:
                connection.execute(f"SET checkpoint_threshold = '{BULK_CHECKPOINT_THRESHOLD}'")
            yield connection

    def urgent_waiting(self) -> bool:
        """Whether a live window's step waits for the warehouse now (never on a DuckLake, which has no lock)."""
        target = self.target
        return target.path is not None and not target.is_lake and urgent_waiting(target.path)

    @contextmanager
    def serialised(self, name: str) -> Iterator[None]:
        """One process at a time in the block, by a lock of its own (not the warehouse's): beside the DuckDB file,
        or a PostgreSQL advisory lock on a lake's catalog (held by the session, so shared by every host)."""
        log = dg.get_dagster_logger()
        target = self.target
        if target.is_lake:
            with backends.advisory_lock(target, name, timeout=self.lock_timeout_seconds, on_wait=log.info):
                yield
            return
        assert target.path is not None
        beside = target.path.with_name(f"{target.path.name}.{name}")
        with warehouse_lock(beside, timeout=self.lock_timeout_seconds, purpose=_purpose(), on_wait=log.info):
            yield


def _urgent() -> bool:
    """Whether the step asking for the warehouse belongs to a run ranked above the rest (see ``runs.py``)."""
    try:
        context = dg.OpExecutionContext.get()
    except dg.DagsterInvariantViolationError:
        return False
    return priority_of(context.run.tags) > 0


def _purpose() -> str:
    """The run and step asking for the warehouse, when known (recorded in the lock file for waiters to read)."""
    try:
        context = dg.OpExecutionContext.get()
    except dg.DagsterInvariantViolationError:  # outside a step (a sensor, a test, the CLI)
        return ""
    return f"run {context.run.run_id}, step {context.op_handle}"
