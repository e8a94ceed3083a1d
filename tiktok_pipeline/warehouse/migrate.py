"""Migrating a warehouse's tables forward to the schema versions their declarations carry.

Each :class:`~tiktok_pipeline.warehouse.tables.TableSpec` has a ``version`` and the migrations leading to it
(:mod:`tiktok_pipeline.warehouse.tables.versions`); the warehouse's ``schema_versions`` table records the version
each table reached, when and by which release. A table without a row there predates schema versions: version 1.

:func:`apply` runs inside the caller's transaction (so a crash, or a failing step, leaves every table at its old
version) and is called (1) before the first write of each step's process, on every table of the warehouse
(:meth:`tiktok_pipeline.warehouse.io.WarehouseResource.connection`, serialised across processes by the warehouse
lock or, on DuckLake, an advisory lock), (2) by ``tiktok-pipeline warehouse migrate``, and (3) for one table by
``create_or_extend`` before every write of it, which also creates a missing table at its declared version.
A table the warehouse holds at a version newer than its declaration is refused (:class:`SchemaAheadError`).
"""

from __future__ import annotations

import importlib.metadata
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import polars as pl

from tiktok_pipeline.warehouse.tables import ALL_TABLES, TableSpec
from tiktok_pipeline.warehouse.tables.versions import SCHEMA_VERSIONS, AddColumn, Alter, RenameColumn


def _release() -> str:
    try:
        return importlib.metadata.version("tiktok_pipeline")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a checkout never installed
        return "unknown"


RELEASE = _release()
"""This release (the package's version), recorded with every migration."""


class SchemaAheadError(RuntimeError):
    """The warehouse holds a table at a schema version newer than this release declares: nothing is written."""


@dataclass(frozen=True)
class Change:
    """What a migration does (or did) to one table: ``from_version`` None when it creates the table."""

    table: str
    from_version: int | None
    to_version: int
    steps: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.from_version is None:
            return f"{self.table}: created at version {self.to_version}"
        if not self.steps and self.from_version == self.to_version:
            return f"{self.table}: version {self.to_version} recorded (the table predates schema versions)"
        return f"{self.table}: version {self.from_version} -> {self.to_version}: {'; '.join(self.steps)}"


def _columns(connection: duckdb.DuckDBPyConnection, names: list[str] | None) -> dict[str, dict[str, str]]:
    """Table → {column: type} of the warehouse's tables (only ``names`` when given)."""
    where = "" if names is None else f" AND table_name IN ({', '.join('?' for _ in names)})"
    rows = connection.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = current_database()"
        f" AND schema_name = current_schema(){where} ORDER BY table_name, column_index",
        names or [],
    ).fetchall()
    tables: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        tables.setdefault(table, {})[column] = kind
    return tables


def _recorded(connection: duckdb.DuckDBPyConnection, columns: dict[str, dict[str, str]]) -> dict[str, int]:
    """Table → the highest version ``schema_versions`` records for it (empty without that table)."""
    if SCHEMA_VERSIONS.name not in columns:
        return {}
    rows = connection.execute(f'SELECT table_name, max(version) FROM "{SCHEMA_VERSIONS.name}" GROUP BY 1').fetchall()
    return {table: int(version) for table, version in rows}


def _current(spec: TableSpec, present: dict[str, str]) -> bool:
    """Whether a table's columns are exactly its declaration's (names and types)."""
    return present == {c.name: c.type for c in spec.columns}


def _plan_table(
    spec: TableSpec, present: dict[str, str] | None, recorded: int | None, *, create: bool
) -> Change | None:
    if present is None:
        return Change(spec.name, None, spec.version, ("create",)) if create else None
    version = 1 if recorded is None else recorded
    if version > spec.version:
        raise SchemaAheadError(
            f"the warehouse's table {spec.name} is at schema version {version}, newer than version {spec.version}"
            f" that this release ({RELEASE}) declares: it was written by a later release. Run that release (or a"
            " later one) against this warehouse; this one refuses to write to it"
        )
    pending = [s for m in spec.migrations if m.version > version for s in m.steps]
    steps = [step.describe() for step in pending]
    added = {s.column for s in pending if isinstance(s, AddColumn)} | {
        s.new for s in pending if isinstance(s, RenameColumn)
    }
    steps += [
        f"add column {c.name} (declared without a migration: null in earlier rows)"
        for c in spec.columns
        if c.name not in present and c.name not in added
    ]
    if not steps and recorded is not None:
        return None
    return Change(spec.name, version, spec.version, tuple(steps))


def plan(
    connection: duckdb.DuckDBPyConnection, specs: Iterable[TableSpec] = ALL_TABLES, *, create: bool = False
) -> list[Change]:
    """What :func:`apply` would change (nothing is written); raises :class:`SchemaAheadError` first. Views are
    skipped (their writers re-create them), unless ``create``: a writer that writes a view's spec as a table (the
    legacy shared quarantine table) has it created as before."""
    tables = [spec for spec in specs if create or not spec.view]
    columns = _columns(connection, [s.name for s in tables] + [SCHEMA_VERSIONS.name])
    recorded = _recorded(connection, columns)
    changes = [_plan_table(s, columns.get(s.name), recorded.get(s.name), create=create) for s in tables]
    found = [change for change in changes if change is not None]
    if found and SCHEMA_VERSIONS.name not in columns and all(c.table != SCHEMA_VERSIONS.name for c in found):
        found.insert(0, Change(SCHEMA_VERSIONS.name, None, SCHEMA_VERSIONS.version, ("create",)))
    return found


def apply(
    connection: duckdb.DuckDBPyConnection, specs: Iterable[TableSpec] = ALL_TABLES, *, create: bool = False
) -> list[Change]:
    """Migrate ``specs``' tables forward inside the caller's transaction and record it; the changes made.

    ``create``: also create the tables that do not exist (at their declared version). Every step is checked
    against the table's columns first, so running it again changes nothing.
    """
    specs = list(specs)
    forget(connection)  # what follows may create or alter tables
    changes = plan(connection, specs, create=create)
    if not changes:
        return []
    by_name = {spec.name: spec for spec in [*specs, SCHEMA_VERSIONS]}
    present = _columns(connection, [change.table for change in changes])
    alter = Alter(connection.execute, lake=_is_lake(connection))
    for change in changes:
        spec = by_name[change.table]
        if change.from_version is None:
            connection.execute(spec.ddl)
            continue
        columns = present[spec.name]
        declared = {c.name: c.type for c in spec.columns}
        for migration in spec.migrations:
            if migration.version > change.from_version:
                for step in migration.steps:
                    step.apply(spec.name, columns, declared, alter)
        for column in spec.columns:
            if column.name not in columns:
                connection.execute(f'ALTER TABLE "{spec.name}" ADD COLUMN "{column.name}" {column.type}')
    _record(connection, changes)
    return changes


def _is_lake(connection: duckdb.DuckDBPyConnection) -> bool:
    """Whether the connection's warehouse is a DuckLake (its steps change tables differently: see ``Alter``)."""
    row = connection.execute("SELECT type FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    return row is not None and row[0] == "ducklake"


def _record(connection: duckdb.DuckDBPyConnection, changes: list[Change]) -> None:
    """Append a ``schema_versions`` row per change (from Arrow, in the caller's transaction)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = pl.DataFrame(
        {
            "table_name": [c.table for c in changes],
            "version": [c.to_version for c in changes],
            "from_version": [c.from_version for c in changes],
            "migrated_at": [now] * len(changes),
            "release": [RELEASE] * len(changes),
            "changes": ["; ".join(c.steps) or "recorded" for c in changes],
        }
    )
    connection.register("_schema_versions", SCHEMA_VERSIONS.conform(rows).to_arrow())
    try:
        connection.execute(f'INSERT INTO "{SCHEMA_VERSIONS.name}" BY NAME SELECT * FROM _schema_versions').fetchall()
    finally:
        connection.unregister("_schema_versions")


_CATALOGS: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, dict[str, dict[str, str]]] = weakref.WeakKeyDictionary()
"""Per open connection: its warehouse's tables and their columns as read by its first :func:`catalog` (issue 13: a
window's step asked DuckDB's catalog five times, 2-4 ms each after the first). Forgotten when this process changes
them (:func:`apply`) or a transaction rolls back (``warehouse.io``), so a table this process created and rolled
back is never taken as present. Tables are only ever added or widened (migrations go forward), so what is listed
stays true; a table another process creates meanwhile is not listed, and is looked up again when asked for."""


def catalog(connection: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    """Table → {column: type} of the connection's warehouse: one catalog query per connection, then remembered."""
    tables = _CATALOGS.get(connection)
    if tables is None:
        tables = _CATALOGS[connection] = _columns(connection, None)
    return tables


def forget(connection: duckdb.DuckDBPyConnection) -> None:
    """Read the catalog again on the connection's next :func:`catalog` (its tables may have changed)."""
    _CATALOGS.pop(connection, None)


def ensure_table(connection: duckdb.DuckDBPyConnection, spec: TableSpec) -> list[Change]:
    """Before a write of ``spec``'s table (in the writer's transaction): create it, or migrate it forward.

    Nothing is read when the connection's :func:`catalog` has the table with exactly the declared columns (every
    write but the first of a release), not even ``schema_versions``."""
    present = catalog(connection).get(spec.name)
    if present is not None and _current(spec, present):
        return []
    return apply(connection, [spec], create=True)
