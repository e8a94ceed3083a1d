"""Running a warehouse migration (:mod:`tiktok_pipeline.warehouse.migrate`): before a process's first write, and
``tiktok-pipeline warehouse migrate [--check]``.

Both run :func:`~tiktok_pipeline.warehouse.migrate.apply` on every declared table in ONE write transaction,
serialised across processes: on the DuckDB file by the warehouse lock the connection holds, on a DuckLake by the
PostgreSQL advisory lock ``schema_migrate`` (so two runs starting together never both migrate: the second finds
the tables current). Exit codes of the command: 0 the warehouse is (now) current; 1 ``--check`` found changes to
make, or the warehouse is ahead of this release (newer schema versions), or a migration failed (nothing changed);
2 a bad setting.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

import dagster as dg
import duckdb

from tiktok_pipeline.settings import Settings
from tiktok_pipeline.settings.warehouse import WarehouseTarget
from tiktok_pipeline.warehouse import backends, migrate
from tiktok_pipeline.warehouse.io import connect, write_transaction
from tiktok_pipeline.warehouse.tables import ALL_TABLES

LOCK_NAME = "schema_migrate"
"""The advisory lock (DuckLake) a migration holds."""
MIGRATION_TAG = "tiktok/schema_migrated"
"""Run tag listing the tables a run's pre-write migration moved to a new version (also logged, a line per table)."""

_migrated: set[tuple[int, str]] = set()
"""(process, warehouse URL) whose tables this process has migrated: the check runs once per process."""


def migrate_all(
    connection: duckdb.DuckDBPyConnection, target: WarehouseTarget, *, lock_timeout: float
) -> list[migrate.Change]:
    """Every declared table migrated forward in one transaction, serialised with other processes; the changes."""

    def run() -> list[migrate.Change]:
        return write_transaction(connection, lambda con: migrate.apply(con, ALL_TABLES))

    if not target.is_lake:
        return run()  # the connection holds the warehouse lock
    log = dg.get_dagster_logger()
    with backends.advisory_lock(target, LOCK_NAME, timeout=lock_timeout, on_wait=log.info):
        return run()


def migrate_once(
    connection: duckdb.DuckDBPyConnection, target: WarehouseTarget, url: str, *, lock_timeout: float
) -> None:
    """Before this process's first write to ``url``: :func:`migrate_all`, each change logged and the run tagged
    with the tables that changed version. Raises :class:`~tiktok_pipeline.warehouse.migrate.SchemaAheadError`
    (the step fails, nothing written) when the warehouse is ahead of this release."""
    key = (os.getpid(), url)
    if key in _migrated:
        return
    changes = migrate_all(connection, target, lock_timeout=lock_timeout)
    _migrated.add(key)
    log = dg.get_dagster_logger()
    for change in changes:
        log.info("warehouse schema migrated: %s", change.describe())
    _tag_run(changes)


def _tag_run(changes: list[migrate.Change]) -> None:
    """Tag the run (when in one) with the tables its migration moved, e.g. ``raw_video_snapshots 1 -> 2``."""
    moved = [c for c in changes if c.from_version is not None and c.from_version != c.to_version]
    if not moved:
        return
    try:
        context = dg.OpExecutionContext.get()
    except dg.DagsterInvariantViolationError:  # outside a step (a sensor, a test)
        return
    summary = ", ".join(f"{c.table} {c.from_version} -> {c.to_version}" for c in moved)
    context.instance.add_run_tags(context.run.run_id, {MIGRATION_TAG: summary})


def run(*, check: bool, settings: Settings | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """The ``warehouse migrate`` command on ``settings``' warehouse (default: the configured one; see the module
    docstring)."""
    from tiktok_pipeline.settings import load_settings

    settings = settings or load_settings()
    out, err = out or sys.stdout, err or sys.stderr
    target = settings.warehouse
    where = target.describe()
    if target.path is not None and not target.path.exists():
        print(f"no warehouse at {target.path}: nothing to migrate", file=out)
        return 0
    try:
        with connect(target, read_only=check, lock_timeout=settings.warehouse_lock_timeout_seconds) as connection:
            if check:
                changes = migrate.plan(connection, ALL_TABLES)
            else:
                changes = migrate_all(connection, target, lock_timeout=settings.warehouse_lock_timeout_seconds)
    except migrate.SchemaAheadError as error:
        print(f"tiktok-pipeline warehouse migrate: {error}", file=err)
        return 1
    except (duckdb.Error, backends.LakeError, TimeoutError) as error:
        print(f"tiktok-pipeline warehouse migrate: {backends.redact(str(error), target)}", file=err)
        return 1
    if not changes:
        print(f"{where}: every table is at its declared schema version", file=out)
        return 0
    verb = "would change" if check else "migrated"
    print(f"{where}: {verb} {len(changes)} table(s)", file=out)
    for change in changes:
        print(f"  {change.describe()}", file=out)
    return 1 if check else 0
