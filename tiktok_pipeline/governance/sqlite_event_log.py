"""The embedded instance's event log: Dagster's consolidated SQLite event log on one pooled engine per process.

``dagster.yaml`` names :class:`PooledSqliteEventLogStorage` instead of Dagster's ``ConsolidatedSqliteEventLogStorage``:
the same file, schema, migrations, queries and watchers, with one difference. Dagster's class creates a new SQLAlchemy
engine for every connection it opens and opens a new SQLite connection for every read and write (``NullPool``).
Each engine starts with an empty compiled-statement cache, so every event's ``INSERT`` and every check's ``UPDATE``
was compiled again, and each connection paid its opening, its pragmas and (as the process's last connection to the
file) a WAL checkpoint at its close. A one-day backfill stores about 2,000 events (a planned event, a materialisation
and check evaluations per window): Dagster alone, storing them with no warehouse work, took 9.2–9.7 s in-process
with Dagster's class and 3.6–4.0 s with this one (``benchmarks/backfill_floor.py``'s floor, README "Performance").

Here each process has one engine per event log, with SQLAlchemy's default pool for a SQLite file (``QueuePool``,
what SQLAlchemy 2 itself picks for file databases): statements compile once, and connections stay open between
uses, so closing them no longer checkpoints the WAL. Nothing about what is stored or when it is committed changes:
every use is still one transaction, committed at its end, and SQLite's busy timeout still orders writers of several
processes. A pooled connection holds no transaction between uses, so it never sees stale data. The pool never
blocks (``max_overflow=-1``): Dagster may open a second connection while it holds one, as it did before.

A forked child does not use its parent's engine: SQLite forbids using a connection opened before ``fork()``, so the
child builds its own, and the inherited one is kept referenced and never closed (closing it in the child would
touch the parent's file locks). Dagster's own processes are spawned, not forked.

The storage also installs :mod:`tiktok_pipeline.governance.sqlite_commits` (``synchronous=NORMAL`` in WAL mode) in
every process that loads the instance, the daemon and the webserver included, which do not import the pipeline's
definitions: the daemon writes a UI backfill's planned events.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine

from tiktok_pipeline.governance import sqlite_commits

_INHERITED: list[Engine] = []
"""Engines a forked child inherited from its parent: kept referenced, never used or closed (see the module)."""


class PooledSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
    """Dagster's consolidated SQLite event log with one pooled SQLAlchemy engine per process (config: ``base_dir``)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: dict[int, Engine] = {}
        sqlite_commits.install()
        super().__init__(base_dir, inst_data)

    def _engine(self) -> Engine:
        """This process's engine for the event log file, built on first use (and again in a forked child)."""
        pid = os.getpid()
        engine = self._engines.get(pid)
        if engine is not None:
            return engine
        for other in [p for p in self._engines if p != pid]:
            _INHERITED.append(self._engines.pop(other))
        candidate = create_engine(
            self._conn_string, max_overflow=-1, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
        )
        engine = self._engines.setdefault(pid, candidate)
        if engine is not candidate:  # another thread built it first; this one never connected
            candidate.dispose()
        return engine

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        with self._engine().connect() as conn, conn.begin():
            yield conn

    def has_table(self, table_name: str) -> bool:
        engine = self._engine()
        with engine.connect() as conn:
            return bool(engine.dialect.has_table(conn, table_name))

    def dispose(self) -> None:
        """Stop the watchers, as Dagster's class does, and close this process's pooled connections."""
        super().dispose()
        engine = self._engines.pop(os.getpid(), None)
        if engine is not None:
            engine.dispose()
