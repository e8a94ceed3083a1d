"""The instances' event logs: Dagster's own storages, on one pooled SQLAlchemy engine per process.

``dagster.yaml`` (the embedded instance) names :class:`PooledSqliteEventLogStorage` instead of Dagster's
``ConsolidatedSqliteEventLogStorage``, and ``deploy/dagster.yaml`` (production) :class:`PooledPostgresEventLogStorage`
instead of the ``PostgresEventLogStorage`` its ``storage: postgres`` block would build: the same database, schema,
migrations, queries and watchers, with one difference each.

- Dagster's SQLite class creates a new SQLAlchemy engine for every connection it opens, and opens a new SQLite
  connection for every read and write (``NullPool``). Each engine starts with an empty compiled-statement cache, so
  every event's ``INSERT`` and every check's ``UPDATE`` was compiled again, and each connection paid its opening,
  its pragmas and (as the process's last connection to the file) a WAL checkpoint at its close.
- Dagster's PostgreSQL class keeps one engine but opens a new PostgreSQL connection for every read and write
  (``NullPool``, "to prevent accumulating connections per DagsterInstance"): a TCP connection, authentication and
  a backend process start per event.

A one-day backfill stores about 2,000 events (a planned event, a materialisation and check evaluations per window):
storing them cost Dagster alone (``benchmarks/backfill_floor.py``, no warehouse work) 9.1–9.3 s in-process with
Dagster's SQLite class against 3.2–3.5 s with this one; on PostgreSQL the whole backfill took 22.8 s in-process
against 11.7 s (README "Performance").

Here each process has one engine per event log with a pool: statements compile once and connections stay open
between uses. Nothing about what is stored or when it is committed changes: every use is still one transaction,
committed at its end, and the database still orders writers of several processes. A pooled connection holds no
transaction between uses, so it never sees stale data. The pool never blocks (``max_overflow=-1``): Dagster may open
a second connection while it holds one, as it did before. A process keeps one idle PostgreSQL connection (checked
with a ping before each use, so a restarted server costs a reconnect, not an error); the webserver's own pool with
its statement timeout (``optimize_for_webserver``) is used as Dagster sets it.

A forked child does not use its parent's engine: a connection opened before ``fork()`` must not be used by the
child (SQLite forbids it; a PostgreSQL connection's socket is shared with the parent), so the child builds its own,
and the inherited one is kept referenced and never closed (closing it in the child would touch the parent's file
locks or end the parent's PostgreSQL session). Dagster's own processes are spawned, not forked.

The SQLite storage also installs :mod:`tiktok_pipeline.governance.sqlite_commits` (``synchronous=NORMAL`` in WAL
mode) in every process that loads the instance, the daemon and the webserver included, which do not import the
pipeline's definitions: the daemon writes a UI backfill's planned events.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import (
    create_pg_connection,
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)
from sqlalchemy.engine import Connection, Engine

from tiktok_pipeline.governance import sqlite_commits

_INHERITED: list[Engine] = []
"""Engines a forked child inherited from its parent: kept referenced, never used or closed (see the module)."""


class EnginePerProcess:
    """One engine per process, built by ``build`` on first use (and again in a forked child)."""

    def __init__(self, build: Callable[[], Engine]) -> None:
        self._build = build
        self._by_pid: dict[int, Engine] = {}

    def get(self) -> Engine:
        """This process's engine."""
        pid = os.getpid()
        engine = self._by_pid.get(pid)
        if engine is not None:
            return engine
        for other in [p for p in self._by_pid if p != pid]:
            _INHERITED.append(self._by_pid.pop(other))
        candidate = self._build()
        engine = self._by_pid.setdefault(pid, candidate)
        if engine is not candidate:  # another thread built it first; this one never connected
            candidate.dispose()
        return engine

    def set(self, engine: Engine) -> None:
        """Use ``engine`` in this process from now on."""
        self._by_pid[os.getpid()] = engine

    def dispose(self) -> None:
        """Close this process's pooled connections; the next use builds a new engine."""
        engine = self._by_pid.pop(os.getpid(), None)
        if engine is not None:
            engine.dispose()


class PooledSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
    """Dagster's consolidated SQLite event log with one pooled SQLAlchemy engine per process (config: ``base_dir``)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines = EnginePerProcess(
            lambda: create_engine(
                self._conn_string, max_overflow=-1, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
            )
        )
        sqlite_commits.install()
        super().__init__(base_dir, inst_data)

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        with self._engines.get().connect() as conn, conn.begin():
            yield conn

    def has_table(self, table_name: str) -> bool:
        engine = self._engines.get()
        with engine.connect() as conn:
            return bool(engine.dialect.has_table(conn, table_name))

    def dispose(self) -> None:
        """Stop the watchers, as Dagster's class does, and close this process's pooled connections."""
        super().dispose()
        self._engines.dispose()


class PooledPostgresEventLogStorage(PostgresEventLogStorage):
    """Dagster's PostgreSQL event log keeping one pooled connection per process (config: dagster-postgres's
    ``postgres_db`` or ``postgres_url``, as ``PostgresEventLogStorage``)."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
    ) -> None:
        self._engines = EnginePerProcess(
            lambda: create_pg_engine(
                self.postgres_url,
                self._token_provider,
                isolation_level="AUTOCOMMIT",
                pool_size=1,
                max_overflow=-1,
                pool_pre_ping=True,
            )
        )
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledPostgresEventLogStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )

    def _connect(self) -> AbstractContextManager[Connection]:
        return create_pg_connection(self._engines.get())

    def optimize_for_webserver(self, statement_timeout: int, pool_recycle: int, max_overflow: int) -> None:
        """Dagster's webserver engine (its own pool, with a statement timeout) becomes this process's."""
        super().optimize_for_webserver(statement_timeout, pool_recycle, max_overflow)
        self._engines.set(self._engine)

    def dispose(self) -> None:
        """Stop the event watcher, as Dagster's class does, and close this process's pooled connection."""
        super().dispose()
        self._engines.dispose()
