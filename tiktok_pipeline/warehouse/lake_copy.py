"""Copy a DuckDB warehouse file into a DuckLake: every table, one transaction per table, verified; views re-created.

The file is ATTACHed read-only to the lake's own DuckDB (:func:`tiktok_pipeline.warehouse.io.connect`), so rows go
from one to the other inside DuckDB (``INSERT ... SELECT``), never through Python. The file's warehouse lock is held
for the whole copy: the pipeline's writers on that machine wait instead of changing the file half-way.

**One transaction per table**, not one overall: each table's rows (and, with ``replace``, the deletion of the lake's
old rows) commit together, so no reader ever sees a table half-copied or emptied, and a commit that conflicts with
another writer is re-run (:func:`~tiktok_pipeline.warehouse.io.write_transaction`). A failure leaves the tables
before it copied and the failed one as it was: the re-run with ``replace`` finishes the job (it is idempotent). A
lake table that already holds rows is refused unless ``replace``, checked for every table before anything is copied.

After each commit the lake's table is compared with the file's: row count and an order-independent checksum (the
sum of every row's ``hash()`` over the file's columns). Views are re-created last (``CREATE OR REPLACE VIEW``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from tiktok_pipeline.settings.warehouse import WarehouseTarget
from tiktok_pipeline.warehouse.backends import LAKE_ALIAS, redact
from tiktok_pipeline.warehouse.io import connect, write_transaction
from tiktok_pipeline.warehouse.lock import warehouse_lock

SOURCE_ALIAS = "copy_source"
"""The catalog name the DuckDB file is attached under while it is copied."""


class CopyError(RuntimeError):
    """The copy could not start or a table could not be copied (the message never quotes the catalog's conninfo)."""


class CopyRefused(CopyError):
    """The lake already holds rows in tables the copy would write (and ``replace`` was not given)."""


@dataclass(frozen=True)
class TableCopy:
    """One table: the file's rows and checksum, the lake's after the copy, and the copy's seconds."""

    name: str
    rows: int
    lake_rows: int | None
    """``None``: the lake has no such table, or lacks some of its columns (``--check`` only)."""
    checksum: int
    lake_checksum: int | None
    seconds: float

    @property
    def ok(self) -> bool:
        """The lake's table holds the file's rows (count and checksum equal)."""
        return self.rows == self.lake_rows and self.checksum == self.lake_checksum

    def problem(self) -> str:
        """What differs ("" when nothing does)."""
        if self.lake_rows is None:
            return "the lake has no such table, or lacks some of its columns"
        if self.rows != self.lake_rows:
            return f"the lake has {self.lake_rows:,} rows, the file {self.rows:,}"
        return "" if self.ok else "same row count, different checksum"


@dataclass(frozen=True)
class CopyReport:
    """Every table copied (or compared), the views re-created, and the total seconds."""

    tables: tuple[TableCopy, ...]
    views: tuple[str, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        """Every table verified equal."""
        return all(table.ok for table in self.tables)


@dataclass(frozen=True)
class _Table:
    schema: str
    name: str
    columns: tuple[tuple[str, str], ...]
    """(name, DuckDB type) in the file's order."""

    @property
    def label(self) -> str:
        return self.name if self.schema == "main" else f"{self.schema}.{self.name}"

    def source(self) -> str:
        return f"{SOURCE_ALIAS}.{_ident(self.schema)}.{_ident(self.name)}"

    def lake(self) -> str:
        return f"{LAKE_ALIAS}.{_ident(self.schema)}.{_ident(self.name)}"


def copy_warehouse(
    source: Path,
    target: WarehouseTarget,
    *,
    replace: bool = False,
    check_only: bool = False,
    lock_timeout: float,
    on_table: Callable[[TableCopy], None] | None = None,
) -> CopyReport:
    """Copy every table and view of the DuckDB file ``source`` into the lake ``target``, verifying each table.

    ``check_only`` copies nothing and compares the lake's tables with the file's. Raises :class:`CopyRefused` when
    a lake table the copy would write holds rows and ``replace`` is false (nothing is copied then), and
    :class:`CopyError` when the file cannot be read or a table cannot be copied.
    """
    if not target.is_lake:
        raise CopyError("the copy's target must be a DuckLake (ducklake:postgres:...)")
    if not source.is_file():
        raise CopyError(f"no DuckDB warehouse file at {source}")
    started = time.perf_counter()
    purpose = "tiktok-pipeline warehouse copy"
    with warehouse_lock(source, timeout=lock_timeout, purpose=purpose), connect(target) as lake:
        try:
            lake.execute(f"ATTACH '{_quote(str(source.absolute()))}' AS {SOURCE_ALIAS} (READ_ONLY)")
        except duckdb.Error as error:
            raise CopyError(f"could not open {source}: {error}") from None
        try:
            tables, views = _source_tables(lake), _source_views(lake)
            if not check_only:
                _refuse_occupied(lake, tables, replace=replace)
            copies = []
            for table in tables:
                copies.append(_check(lake, table) if check_only else _copy(lake, table, target))
                if on_table is not None:
                    on_table(copies[-1])
            if not check_only and views:
                write_transaction(lake, lambda connection: _create_views(connection, views))
        except duckdb.Error as error:  # reading the catalogs, comparing, the views: never quoting the conninfo
            raise CopyError(redact(str(error), target)) from None
        finally:
            lake.execute(f"DETACH {SOURCE_ALIAS}")
    names = tuple(name for name, _ in views) if not check_only else ()
    return CopyReport(tuple(copies), names, time.perf_counter() - started)


def _source_tables(connection: duckdb.DuckDBPyConnection) -> list[_Table]:
    """The file's tables with their columns, in (schema, name) order."""
    rows = connection.execute(
        "SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = ? ORDER BY schema_name, table_name, column_index",
        [SOURCE_ALIAS],
    ).fetchall()
    tables: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, name, column, kind in rows:
        tables.setdefault((schema, name), []).append((column, kind))
    views = {(schema, name) for schema, name, _ in _views(connection)}
    return [_Table(s, n, tuple(columns)) for (s, n), columns in tables.items() if (s, n) not in views]


def _views(connection: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    return connection.execute(
        "SELECT schema_name, view_name, sql FROM duckdb_views() WHERE database_name = ? AND NOT internal "
        "ORDER BY view_oid",
        [SOURCE_ALIAS],
    ).fetchall()


def _source_views(connection: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(name, ``CREATE OR REPLACE VIEW`` statement) of the file's views, in creation order (dependencies first)."""
    views = []
    for schema, name, sql in _views(connection):
        head = "CREATE VIEW "
        if not sql.upper().startswith(head):
            raise CopyError(f"cannot re-create the view {name}: unexpected definition {sql[:60]!r}")
        views.append((name if schema == "main" else f"{schema}.{name}", "CREATE OR REPLACE VIEW " + sql[len(head) :]))
    return views


def _lake_columns(connection: duckdb.DuckDBPyConnection, table: _Table) -> dict[str, str] | None:
    """The lake table's columns (name → type), or ``None`` when the lake has no such table."""
    rows = connection.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? "
        "AND table_name = ?",
        [LAKE_ALIAS, table.schema, table.name],
    ).fetchall()
    return dict(rows) if rows else None


def _refuse_occupied(connection: duckdb.DuckDBPyConnection, tables: list[_Table], *, replace: bool) -> None:
    """Raise :class:`CopyRefused` naming every lake table that already holds rows, unless ``replace``."""
    if replace:
        return
    occupied = []
    for table in tables:
        if _lake_columns(connection, table) is not None:
            (rows,) = connection.execute(f"SELECT count(*) FROM {table.lake()}").fetchone() or (0,)
            if rows:
                occupied.append(f"{table.label} ({rows:,} rows)")
    if occupied:
        raise CopyRefused(
            f"the lake's tables {', '.join(occupied)} are not empty; nothing was copied. Run again with --replace "
            "to replace their rows by the file's (each table in one transaction)"
        )


def _fingerprint(connection: duckdb.DuckDBPyConnection, table: _Table, relation: str) -> tuple[int, int]:
    """(rows, checksum) of ``relation`` over ``table``'s columns: the checksum is the sum of every row's hash, so
    it ignores row order but not a changed, missing or duplicated row."""
    columns = ", ".join(_ident(name) for name, _ in table.columns)
    row = connection.execute(f"SELECT count(*), coalesce(sum(hash({columns})::HUGEINT), 0) FROM {relation}").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _copy(connection: duckdb.DuckDBPyConnection, table: _Table, target: WarehouseTarget) -> TableCopy:
    """Replace the lake's rows of ``table`` by the file's in one transaction, then compare them."""

    def body(connection: duckdb.DuckDBPyConnection) -> tuple[int, int]:
        if table.schema != "main":
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {LAKE_ALIAS}.{_ident(table.schema)}")
        present = _lake_columns(connection, table)
        if present is None:
            ddl = ", ".join(f"{_ident(name)} {kind}" for name, kind in table.columns)
            connection.execute(f"CREATE TABLE {table.lake()} ({ddl})")
        else:
            for name, kind in table.columns:
                if name not in present:
                    connection.execute(f"ALTER TABLE {table.lake()} ADD COLUMN {_ident(name)} {kind}")
                elif present[name] != kind:
                    raise CopyError(
                        f"{table.label}.{name} is {kind} in the file but {present[name]} in the lake: "
                        "drop the lake's table or change its column first"
                    )
            connection.execute(f"DELETE FROM {table.lake()}")
        columns = ", ".join(_ident(name) for name, _ in table.columns)
        connection.execute(f"INSERT INTO {table.lake()} ({columns}) SELECT {columns} FROM {table.source()}")
        return _fingerprint(connection, table, table.source())

    started = time.perf_counter()
    try:
        rows, checksum = write_transaction(connection, body)
    except duckdb.Error as error:
        raise CopyError(f"could not copy {table.label}: {redact(str(error), target)}") from None
    seconds = time.perf_counter() - started
    lake_rows, lake_checksum = _fingerprint(connection, table, table.lake())
    return TableCopy(table.label, rows, lake_rows, checksum, lake_checksum, seconds)


def _check(connection: duckdb.DuckDBPyConnection, table: _Table) -> TableCopy:
    """Compare the lake's ``table`` with the file's, copying nothing (a missing lake table counts as no rows)."""
    started = time.perf_counter()
    rows, checksum = _fingerprint(connection, table, table.source())
    present = _lake_columns(connection, table)
    lake_rows: int | None = None
    lake_checksum: int | None = None
    if present is not None and {name for name, _ in table.columns} <= set(present):
        lake_rows, lake_checksum = _fingerprint(connection, table, table.lake())
    return TableCopy(table.label, rows, lake_rows, checksum, lake_checksum, time.perf_counter() - started)


def _create_views(connection: duckdb.DuckDBPyConnection, views: list[tuple[str, str]]) -> None:
    for _, create in views:
        connection.execute(create)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote(text: str) -> str:
    return text.replace("'", "''")
