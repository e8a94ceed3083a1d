"""Query a consistent snapshot of the warehouse without blocking its writers.

DuckDB lets one process write a file *or* several read it, never both: a reader that keeps the file
open makes every writing step fail with "Could not set lock on file". So :func:`query_snapshot`
opens the file read-only only for as long as it takes to copy the tables the query reads (through the
views it reads, such as ``quarantined_records``, re-created over the copies) into an in-memory database
(one transaction, so the tables agree with each other), detaches at once, and
runs the query on the copy. While a writer holds the file it retries with backoff for up to
``wait_seconds``, then raises :class:`WarehouseBusy`.

On a DuckLake none of this is needed: :func:`query_lake` runs the query on the lake itself, attached read-only,
in one transaction (one snapshot); readers never block its writers.

Pure DuckDB and Arrow (no Dagster), so the ``tiktok-pipeline sql`` command stays light.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from tiktok_pipeline.settings.warehouse import WarehouseTarget
from tiktok_pipeline.warehouse.backends import LAKE_ALIAS, LakeError, lake_reader, redact

ALIAS = "warehouse"
"""Name under which the file is attached while it is copied (detached before the query runs)."""


class SnapshotError(Exception):
    """A snapshot query that could not run; the message says why and what to do."""


class WarehouseMissing(SnapshotError):
    """There is no warehouse file at the path."""


class WarehouseBusy(SnapshotError):
    """A writer kept the file locked for longer than we were willing to wait."""


class QueryFailed(SnapshotError):
    """DuckDB refused or failed the query (its message is the exception's)."""


@dataclass(frozen=True)
class SnapshotResult:
    """The query's rows and how the snapshot was taken."""

    table: pa.Table
    truncated: bool
    """More rows than ``limit`` matched; ``table`` holds the first ``limit``."""
    copied_tables: tuple[str, ...]
    lock_seconds: float
    """How long the warehouse file was open (what a writer may have waited for)."""


def _is_lock_conflict(error: duckdb.Error) -> bool:
    return "lock" in str(error).lower()


def _attach(
    connection: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    wait_seconds: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> None:
    """ATTACH the file read-only, retrying with backoff while a writer holds its lock."""
    deadline = clock() + wait_seconds
    delay = 0.05
    while True:
        try:
            connection.execute(f"ATTACH '{_quote(str(path))}' AS {ALIAS} (READ_ONLY)")
            return
        except duckdb.Error as error:
            if not (isinstance(error, duckdb.IOException) and _is_lock_conflict(error)):
                raise QueryFailed(f"could not open the warehouse {path}: {error}") from error
            remaining = deadline - clock()
            if remaining <= 0:
                raise WarehouseBusy(
                    f"the warehouse {path} stayed locked by a writer for {wait_seconds:g} s (DuckDB: {error}). "
                    "A run is writing it: try again in a moment, or wait longer with --wait SECONDS."
                ) from error
            sleep(min(delay, remaining))
            delay = min(delay * 2, 1.0)


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _catalog(connection: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(schema, table) of every table in the attached warehouse."""
    rows = connection.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY 1, 2", [ALIAS]
    ).fetchall()
    return [(schema, table) for schema, table in rows]


@dataclass(frozen=True)
class _Copy:
    """What a query needs from the warehouse: its tables, and the views over them (``CREATE VIEW`` statements)."""

    tables: list[tuple[str, str]]
    views: list[str]


def _tables_to_copy(connection: duckdb.DuckDBPyConnection, sql: str, catalog: list[tuple[str, str]]) -> _Copy | None:
    """The warehouse tables ``sql`` reads and the views it may use, or ``None`` for "copy the whole database".

    DuckDB names the tables behind a view the query reads (e.g. ``quarantined_records``, a view over the
    per-source quarantine tables), so those are copied and each view whose tables are all copied is
    re-created over them. The whole database is copied when the query's tables cannot be told (DuckDB could
    not bind it on its own, e.g. several statements), when it names none of the warehouse's tables (``SHOW
    TABLES``, a catalog query) or when a view lives outside the main schema.
    """
    views = connection.execute(
        "SELECT schema_name, view_name, sql FROM duckdb_views() WHERE database_name = ? AND NOT internal "
        "ORDER BY view_oid",
        [ALIAS],
    ).fetchall()
    if any(schema != "main" for schema, _, _ in views):
        return None
    connection.execute(f"USE {ALIAS}")
    try:
        names = connection.get_table_names(sql)
        needed = [create for _, view, create in views if connection.get_table_names(f"FROM {_ident(view)}") <= names]
    except duckdb.Error:
        return None
    finally:
        connection.execute("USE memory")
    wanted = [(schema, table) for schema, table in catalog if table in names]
    return _Copy(wanted, needed) if wanted else None


def _copy(connection: duckdb.DuckDBPyConnection, plan: _Copy | None) -> tuple[str, ...]:
    """Copy the plan's tables and views (or the whole database) into ``memory`` in one read transaction."""
    connection.execute("BEGIN TRANSACTION")
    try:
        if plan is None:
            connection.execute(f"COPY FROM DATABASE {ALIAS} TO memory")
            copied = connection.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'memory' ORDER BY 1"
            ).fetchall()
            names = tuple(name for (name,) in copied)
        else:
            for schema, table in plan.tables:
                if schema != "main":
                    connection.execute(f"CREATE SCHEMA IF NOT EXISTS memory.{_ident(schema)}")
                target = f"memory.{_ident(schema)}.{_ident(table)}"
                connection.execute(f"CREATE TABLE {target} AS FROM {ALIAS}.{_ident(schema)}.{_ident(table)}")
            for create in plan.views:
                connection.execute(create)
            names = tuple(table for _, table in plan.tables)
        connection.execute("COMMIT")
    except Exception:
        connection.execute("ROLLBACK")
        raise
    return names


def _arrow_friendly(relation: duckdb.DuckDBPyRelation | None) -> duckdb.DuckDBPyRelation | None:
    """INTERVAL columns as text ("00:05:00"): Arrow's month-day-nano intervals print badly and Polars refuses them."""
    if relation is None or not any(str(kind) == "INTERVAL" for kind in relation.types):
        return relation
    return relation.project(
        ", ".join(
            f"CAST({_ident(name)} AS VARCHAR) AS {_ident(name)}" if str(kind) == "INTERVAL" else _ident(name)
            for name, kind in zip(relation.columns, relation.types, strict=True)
        )
    )


def query_snapshot(
    path: Path | str,
    sql: str,
    *,
    limit: int | None = None,
    wait_seconds: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> SnapshotResult:
    """Run ``sql`` on an in-memory copy of the warehouse at ``path`` (the file is closed before it runs).

    Raises :class:`WarehouseMissing` (no file), :class:`WarehouseBusy` (a writer held the lock for
    ``wait_seconds``) or :class:`QueryFailed` (DuckDB's error message).
    """
    path = Path(path)
    if not path.is_file():
        raise WarehouseMissing(f"no warehouse file at {path}")
    if limit is not None and limit < 0:
        raise ValueError("limit must be >= 0")
    connection = duckdb.connect(":memory:")
    try:
        connection.execute("SET TimeZone = 'UTC'")
        opened = clock()
        _attach(connection, path, wait_seconds=wait_seconds, sleep=sleep, clock=clock)
        try:
            catalog = _catalog(connection)
            copied = _copy(connection, _tables_to_copy(connection, sql, catalog))
        except duckdb.Error as error:
            raise QueryFailed(f"could not copy the warehouse {path}: {error}") from error
        finally:
            connection.execute(f"DETACH {ALIAS}")  # the file is closed here: writers may go on
        lock_seconds = clock() - opened
        table, truncated = _run(connection, sql, limit, [table for _, table in catalog])
        return SnapshotResult(table=table, truncated=truncated, copied_tables=copied, lock_seconds=lock_seconds)
    finally:
        connection.close()


def _run(
    connection: duckdb.DuckDBPyConnection, sql: str, limit: int | None, tables: list[str]
) -> tuple[pa.Table, bool]:
    """``sql``'s rows (the first ``limit``) and whether more matched; DuckDB's errors as :class:`QueryFailed`."""
    try:
        relation = _arrow_friendly(connection.sql(sql))
        if relation is None:  # a statement without rows (CREATE, INSERT ...): on a copy, or refused by a read-only lake
            return pa.table({}), False
        if limit is None:
            return relation.to_arrow_table(), False
        table = relation.limit(limit + 1).to_arrow_table()
        return table.slice(0, limit), table.num_rows > limit
    except duckdb.CatalogException as error:
        raise QueryFailed(f"{error}\n(the warehouse's tables: {', '.join(tables) or 'none'})") from error
    except duckdb.Error as error:
        raise QueryFailed(str(error)) from error


def query_lake(target: WarehouseTarget, sql: str, *, limit: int | None = None) -> SnapshotResult:
    """Run ``sql`` on a DuckLake, attached read-only: one transaction, so one snapshot of the lake; writers are not
    blocked (nothing to copy) and nothing can be written. Errors as :class:`QueryFailed` (never quoting the
    catalog's conninfo)."""
    if limit is not None and limit < 0:
        raise ValueError("limit must be >= 0")
    try:
        with lake_reader(target) as connection:
            connection.execute("SET TimeZone = 'UTC'")
            connection.execute("BEGIN TRANSACTION")
            tables = [name for (name,) in connection.execute(_LAKE_TABLES).fetchall()]
            table, truncated = _run(connection, sql, limit, tables)
            connection.execute("ROLLBACK")
    except LakeError as error:
        raise QueryFailed(str(error)) from None
    except QueryFailed as error:
        raise QueryFailed(redact(str(error), target)) from None
    return SnapshotResult(table=table, truncated=truncated, copied_tables=(), lock_seconds=0.0)


_LAKE_TABLES = f"SELECT table_name FROM duckdb_tables() WHERE database_name = '{LAKE_ALIAS}' ORDER BY 1"
