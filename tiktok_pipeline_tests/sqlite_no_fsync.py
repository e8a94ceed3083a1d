"""Dagster's SQLite storages (the temporary instances of the tests) commit without fsync.

Dagster opens a SQLite connection per storage call (NullPool), and each commit and WAL checkpoint waited on the
disk: on a loaded machine most of an in-process run's time. A crash of the process still loses nothing committed;
only an OS crash could, and no test survives one. Installed in the test process by ``conftest.py`` and in the
pipeline processes a test starts by ``hooks/sitecustomize.py`` (with ``NO_FSYNC_ENV`` set, as
:func:`tiktok_pipeline_tests.pipeline_env.pipeline_env` does).
"""

import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine

NO_FSYNC_ENV = "PIPELINE_TEST_SQLITE_NO_FSYNC"


def _without_fsync(dbapi_connection, _record) -> None:
    """``PRAGMA synchronous=OFF`` on every new SQLite connection of SQLAlchemy (Dagster's storages)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous=OFF")


def install() -> None:
    """Apply ``_without_fsync`` to every SQLAlchemy engine of this process (idempotent)."""
    if not event.contains(Engine, "connect", _without_fsync):
        event.listen(Engine, "connect", _without_fsync)
