"""The instances' event logs: Dagster's own storages, on one pooled SQLAlchemy engine per process.

``dagster.yaml`` (the embedded instance) names :class:`PooledSqliteEventLogStorage` instead of Dagster's
``ConsolidatedSqliteEventLogStorage``, and ``deploy/dagster.yaml`` (production) :class:`PooledPostgresEventLogStorage`
instead of the ``PostgresEventLogStorage`` its ``storage: postgres`` block would build: the same database, schema,
migrations, queries and watchers, with two differences.

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
between uses. Nothing about what is stored changes: every use is still one transaction, committed at its end, and
the database still orders writers of several processes. A pooled connection holds no
transaction between uses, so it never sees stale data. The pool never blocks (``max_overflow=-1``): Dagster may open
a second connection while it holds one, as it did before. A process keeps one idle PostgreSQL connection (checked
with a ping before each use, so a restarted server costs a reconnect, not an error); the webserver's own pool with
its statement timeout (``optimize_for_webserver``) is used as Dagster sets it.

A forked child does not use its parent's engine: a connection opened before ``fork()`` must not be used by the
child (SQLite forbids it; a PostgreSQL connection's socket is shared with the parent), so the child builds its own,
and the inherited one is kept referenced and never closed (closing it in the child would touch the parent's file
locks or end the parent's PostgreSQL session). Dagster's own processes are spawned, not forked.

The second difference is a batch. Dagster hands a storage a batch of events (``store_event_batch``) for the
materialisations of a step's output over a range (288 for a day) and for the planned events of a run it creates (576
for a day's backfill of the window step, three check plans among them). Dagster's SQLite class stores a batch one
event at a time, a transaction each; its PostgreSQL class stores a batch of materialisations in two transactions and
any other batch one event at a time, several autocommitted statements each. Both classes here store a batch in ONE
transaction (:class:`BatchInOneTransaction`): every event as the class's own ``store_event`` stores it, on the batch's
connection, except runs of asset events (materialisations, observations, planned materialisations), whose rows are
inserted together (SQLAlchemy's "insertmanyvalues", which returns their ids in the events' order), their indexed tags
in one statement, and whose assets' entries are written once, from each asset's last event of each kind. An event
outside a batch (a check evaluation: Dagster never batches those) is one transaction too, where Dagster's SQLite class
commits its row and its check row apart and its PostgreSQL class commits every statement; and the check evaluations a
step yields over a range (864 for a day's backfill of the window step) are stored together, 96 to a transaction
(:func:`stored_together`, used by ``window_check_events``): their rows inserted together, the check executions Dagster
planned for their windows updated in one ``executemany``. Whether the check table exists, which Dagster asks the
database before every check evaluation, is asked until it does. What the tables hold afterwards is what Dagster's
class leaves storing the events one by one (``unit/test_event_log_storage.py``, ``postgres/test_event_log_pool.py``);
a failure leaves nothing of the batch, so Dagster's fallback (it stores a failed batch again event by event) stores
nothing twice. PostgreSQL's ``NOTIFY`` per event (kept by Dagster "to support version skew", no longer what its
watchers read) is not sent for events stored in bulk, as Dagster's own batch path does not send it. A PostgreSQL batch
holding a failure to materialise goes to Dagster's own path (in one transaction), which leaves those events out.
On PostgreSQL, a transaction writing events holds the event log's write lock from its first insert to its commit
(:data:`EVENT_WRITES_LOCK`), so ids commit in order for the readers that follow the log by storage id.

Both storages set :mod:`tiktok_pipeline.governance.event_batching` (Dagster's batches on) in every process that
loads the instance, and the SQLite storage installs :mod:`tiktok_pipeline.governance.sqlite_commits`
(``synchronous=NORMAL`` in WAL mode) too: the daemon and the webserver do not import the pipeline's definitions, and
the daemon creates a UI backfill's runs (writing their planned events), the webserver a run launched from the UI.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from dagster import DagsterInstance
from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
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
from sqlalchemy import bindparam, select, text
from sqlalchemy.engine import Connection, Engine

from tiktok_pipeline.governance import sqlite_commits
from tiktok_pipeline.governance.event_batching import enable_event_batching

EVENT_WRITES_LOCK = 0x7469_6B74_6F6B_6576  # "tiktokev"
"""The PostgreSQL advisory lock every transaction writing events holds from before its first insert to its commit.

Readers follow the event log by storage id (the alert sensor's cursors, Dagster's asset daemon and sensors): after
reading id N they ask only for ids above N. PostgreSQL draws an id when a row is inserted, not when it commits, so
of two transactions writing at once, the one that drew the lower ids can commit second, and a reader between the two
commits would read past its events for good. Dagster's own class writes each event in an autocommitted statement (a
window of a statement); this module's transactions hold a batch or a block of events (tens of milliseconds). Holding
this lock, one transaction at a time draws ids and commits, so ids become visible in order. A block of check
evaluations (:meth:`BatchInOneTransaction.together`) takes it only when it writes, at its end, not while the step
yields into it: a thread storing an event meanwhile (a log line from another thread of the step) never waits for the
step's generator."""

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


_BULK_TYPES = frozenset(
    {
        DagsterEventType.ASSET_MATERIALIZATION,
        DagsterEventType.ASSET_OBSERVATION,
        DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    }
)
"""Events whose storing is only their row, their indexed tags and their asset's entry: stored in bulk in a batch."""


def _stored_in_bulk(event: EventLogEntry) -> bool:
    return bool(event.dagster_event and event.dagster_event_type in _BULK_TYPES and event.dagster_event.asset_key)


def _evaluation_of_a_window(event: EventLogEntry) -> bool:
    """A check evaluation in a run, of a partition: what :meth:`BatchInOneTransaction.together` stores in bulk."""
    if not event.run_id or not event.dagster_event:
        return False
    if event.dagster_event_type != DagsterEventType.ASSET_CHECK_EVALUATION:
        return False
    return getattr(event.dagster_event.event_specific_data, "partition", None) is not None


def _insert_events(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Event rows inserted together (SQLAlchemy's insertmanyvalues); their ids, in the rows' order."""
    inserted = conn.execute(
        SqlEventLogStorageTable.insert().returning(SqlEventLogStorageTable.c.id, sort_by_parameter_order=True), rows
    )
    return [row[0] for row in inserted]


_EXECUTIONS = AssetCheckExecutionsTable.c
_EVALUATED = (
    AssetCheckExecutionsTable.update()
    .where(
        _EXECUTIONS.asset_key == bindparam("b_asset_key"),
        _EXECUTIONS.check_name == bindparam("b_check_name"),
        _EXECUTIONS.run_id == bindparam("b_run_id"),
        _EXECUTIONS.partition == bindparam("b_partition"),
    )
    .values(
        execution_status=bindparam("execution_status"),
        evaluation_event=bindparam("evaluation_event"),
        evaluation_event_timestamp=bindparam("evaluation_event_timestamp"),
        evaluation_event_storage_id=bindparam("evaluation_event_storage_id"),
        materialization_event_storage_id=bindparam("materialization_event_storage_id"),
    )
)
"""A planned check execution of a window marked evaluated: what Dagster's ``_update_asset_check_evaluation`` writes,
for many evaluations at once (``executemany``; ``b_``-prefixed: the row's key)."""


class BatchInOneTransaction:
    """An event, or a batch of them, stored in ONE transaction: every event as the class's own ``store_event`` stores
    it, on one connection (``_connect`` hands it out meanwhile), and in a batch, runs of asset events (a step's
    materialisations, a run's planned events) in bulk: one insert of their rows (returning their ids in order), one of
    their tags, and each asset's entry written once from its last event of each kind, which leaves the same entry as
    writing it for every event in turn. A failure leaves none of the batch stored, so Dagster's fallback (storing the
    batch again one event at a time) never stores an event twice. Events Dagster does not batch can be stored in one
    transaction too (:meth:`together`), check evaluations in bulk."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._batch = threading.local()
        self._tables_present: set[str] = set()
        enable_event_batching()  # where an instance loads (the daemon, the webserver): a new run's planned events
        super().__init__(*args, **kwargs)

    def has_table(self, table_name: str) -> bool:
        """Whether the table exists, asked of the database until it does. Dagster asks before storing every check
        evaluation (``supports_asset_checks``); a table is only ever added (by a migration), never dropped."""
        if table_name in self._tables_present:
            return True
        present = self._table_exists(table_name)
        if present:
            self._tables_present.add(table_name)
        return present

    def _table_exists(self, table_name: str) -> bool:
        return bool(super().has_table(table_name))  # type: ignore[misc]

    def _fresh_connection(self) -> AbstractContextManager[Connection]:
        """A connection of the class's own (Dagster's ``_connect`` with this module's pooled engine)."""
        raise NotImplementedError

    def _batch_transaction(self) -> AbstractContextManager[Connection]:
        """A fresh connection in a transaction, committed when the block ends."""
        return self._fresh_connection()

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        held = self._held()
        if held is not None:  # inside _one_transaction: every statement in its one transaction
            yield held
            return
        with self._fresh_connection() as conn:
            yield conn

    def _held(self) -> Connection | None:
        """The connection of the events this thread is storing in one transaction, if any."""
        return getattr(self._batch, "connection", None)

    @contextmanager
    def _one_transaction(self) -> Iterator[Connection]:
        """One connection and transaction for everything stored in the block (the enclosing block's, if any)."""
        held = self._held()
        if held is not None:
            yield held
            return
        with self._batch_transaction() as conn:
            self._batch.connection, self._batch.ordered = conn, False
            try:
                yield conn
            finally:
                self._batch.connection = None

    def _in_id_order(self, conn: Connection) -> None:
        """Before the transaction's first write: from here to its commit, it is the only one writing events
        (:meth:`_lock_writes`), so its events' ids are drawn and committed in the order of every other writer's."""
        if not self._batch.ordered:
            self._lock_writes(conn)
            self._batch.ordered = True

    def _lock_writes(self, conn: Connection) -> None:
        """Nothing on SQLite: one writer at a time holds the database's write lock from its first write to its commit,
        so ids are committed in order already."""

    def _before_writing(self, conn: Connection) -> None:
        """Before this transaction writes an event: the write lock, then the evaluations held back before it."""
        self._in_id_order(conn)
        self._store_pending(conn)

    def store_event(self, event: EventLogEntry) -> None:
        """The class's own ``store_event`` (a check evaluation, a step's start...) in one transaction, not one for
        each of its statements; inside :meth:`together`, a check evaluation is stored with the others at its end."""
        pending = self._pending()
        if pending is not None and _evaluation_of_a_window(event):
            pending.append(event)
            return
        with self._one_transaction() as conn:
            self._before_writing(conn)
            super().store_event(event)  # type: ignore[misc]

    def _pending(self) -> list[EventLogEntry] | None:
        """The check evaluations this thread's :meth:`together` block holds back, if it is in one."""
        return getattr(self._batch, "evaluations", None)

    @contextmanager
    def together(self) -> Iterator[None]:
        """Everything this thread stores in the block, in one transaction committed when the block ends (the
        enclosing block's, if any). Check evaluations of a run's windows (what Dagster stores one at a time) are held
        back and stored together when the block ends, or before the next other event stored in it, in
        :meth:`_store_evaluations`'s few statements. The block takes the event log's write lock when it first writes:
        at its end, or when another event is stored in it (then held to the end, while the step yields into it)."""
        if self._held() is not None:
            yield
            return
        with self._one_transaction() as conn:
            self._batch.evaluations = []
            try:
                yield
                self._store_pending(conn)
            finally:
                self._batch.evaluations = None

    def _store_pending(self, conn: Connection) -> None:
        pending = self._pending()
        if pending:
            held = list(pending)
            pending.clear()
            self._in_id_order(conn)  # a block's transaction writes (and waits for the lock) only when it ends
            self._store_evaluations(conn, held)

    def _store_evaluations(self, conn: Connection, events: Sequence[EventLogEntry]) -> None:
        """What ``store_event`` does for each of ``events`` (check evaluations of a run's windows), in a few
        statements: their rows inserted together (ids returned in order), then the check executions planned for them
        updated in one ``executemany``. An evaluation whose execution was not planned (Dagster then inserts one) is
        stored as Dagster stores it. PostgreSQL's ``NOTIFY`` is not sent, as for every event stored in bulk."""
        storage: Any = self
        if not storage.supports_asset_checks:
            raise DagsterInvariantViolationError(
                "Asset checks require a database schema migration. Run `dagster instance migrate`."
            )
        rows = [storage._event_to_row(event) for event in events]
        ids = _insert_events(conn, rows)
        evaluations: list[Any] = [event.dagster_event.event_specific_data for event in events]  # type: ignore[union-attr]
        table = _EXECUTIONS
        found = select(table.asset_key, table.check_name, table.run_id, table.partition).where(
            table.run_id.in_({event.run_id for event in events}),
            table.check_name.in_({evaluation.check_name for evaluation in evaluations}),
            table.partition.in_({evaluation.partition for evaluation in evaluations}),
        )
        planned = {(r.asset_key, r.check_name, r.run_id, r.partition) for r in conn.execute(found)}
        updates, unplanned = [], []
        for event, evaluation, row, event_id in zip(events, evaluations, rows, ids, strict=True):
            key = (evaluation.asset_key.to_string(), evaluation.check_name, event.run_id, evaluation.partition)
            if key not in planned:
                unplanned.append((event, event_id))
                continue
            target = evaluation.target_materialization_data
            updates.append(
                {
                    "b_asset_key": key[0],
                    "b_check_name": key[1],
                    "b_run_id": key[2],
                    "b_partition": key[3],
                    "execution_status": (
                        AssetCheckExecutionRecordStatus.SUCCEEDED.value
                        if evaluation.passed
                        else AssetCheckExecutionRecordStatus.FAILED.value
                    ),
                    "evaluation_event": row["event"],  # the event serialised once, as its own row holds it
                    "evaluation_event_timestamp": storage._event_insert_timestamp(event),
                    "evaluation_event_storage_id": event_id,
                    "materialization_event_storage_id": target.storage_id if target else None,
                }
            )
        if updates:
            conn.execute(_EVALUATED, updates)
        for event, event_id in unplanned:
            storage._update_asset_check_evaluation(event, event_id)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        with self._one_transaction() as conn:
            self._before_writing(conn)
            for bulk, group in itertools.groupby(events, key=_stored_in_bulk):
                same = list(group)
                if bulk and len(same) > 1:
                    self._store_asset_events(conn, same)
                else:
                    for entry in same:
                        self.store_event(entry)

    def _store_asset_events(self, conn: Connection, events: Sequence[EventLogEntry]) -> None:
        """What ``store_event`` does for each of ``events`` (asset events, :data:`_BULK_TYPES`), in a few statements."""
        storage: Any = self
        ids = _insert_events(conn, [storage._event_to_row(event) for event in events])
        storage._store_asset_event_tags(conn, events, ids)
        last: dict[tuple[Any, Any], int] = {}  # each asset's last event of each kind: what its entry ends up as
        for i, event in enumerate(events):
            last[(event.dagster_event.asset_key, event.dagster_event_type)] = i  # type: ignore[union-attr]
        for i in sorted(last.values()):
            storage._store_asset_event(conn, events[i], ids[i])


@contextmanager
def stored_together(instance: DagsterInstance) -> Iterator[None]:
    """Every event this thread stores in the block, in one transaction of ``instance``'s event log when it is one of
    this module's classes (:meth:`BatchInOneTransaction.together`; otherwise each event as its class stores it). For
    events Dagster stores one at a time although a step yields them in a run, check evaluations
    (:func:`tiktok_pipeline.defs.metadata.window_check_events`): a step's generator yields them inside the block, and
    Dagster hands each to the storage before the generator goes on, in this thread; the evaluations of a run's
    windows are written together when the block ends (so a read inside the block does not see them yet). The
    transaction commits when the block ends; an exception (the step failing while they are stored) rolls it back.
    Other writers of the same event log wait for it on SQLite, so a block should hold a bounded number of events."""
    storage = instance.event_log_storage
    if isinstance(storage, BatchInOneTransaction):
        with storage.together():
            yield
    else:
        yield


class PooledSqliteEventLogStorage(BatchInOneTransaction, ConsolidatedSqliteEventLogStorage):
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
    def _fresh_connection(self) -> Iterator[Connection]:
        with self._engines.get().connect() as conn, conn.begin():
            yield conn

    def _table_exists(self, table_name: str) -> bool:
        engine = self._engines.get()
        with engine.connect() as conn:
            return bool(engine.dialect.has_table(conn, table_name))

    def dispose(self) -> None:
        """Stop the watchers, as Dagster's class does, and close this process's pooled connections."""
        super().dispose()
        self._engines.dispose()


class PooledPostgresEventLogStorage(BatchInOneTransaction, PostgresEventLogStorage):
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

    def _fresh_connection(self) -> AbstractContextManager[Connection]:
        return create_pg_connection(self._engines.get())  # autocommitted, statement by statement

    @contextmanager
    def _batch_transaction(self) -> Iterator[Connection]:
        """A pooled connection in a transaction (the engine's AUTOCOMMIT, for this connection, until it is returned)."""
        with self._fresh_connection() as conn:
            conn.execution_options(isolation_level="READ COMMITTED")
            with conn.begin():
                yield conn

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """In one transaction (:class:`BatchInOneTransaction`), except a batch holding an asset's failure to
        materialise, which Dagster's class stores its own way (it leaves those events out)."""
        if any(e.dagster_event and e.dagster_event.is_asset_failed_to_materialize for e in events):
            with self._one_transaction() as conn:  # Dagster's statements on this connection (``_connect``)
                self._before_writing(conn)
                super(BatchInOneTransaction, self).store_event_batch(events)
        else:
            super().store_event_batch(events)

    def _lock_writes(self, conn: Connection) -> None:
        """The event log's write lock, held by this transaction until it ends (:data:`EVENT_WRITES_LOCK`)."""
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENT_WRITES_LOCK})

    def optimize_for_webserver(self, statement_timeout: int, pool_recycle: int, max_overflow: int) -> None:
        """Dagster's webserver engine (its own pool, with a statement timeout) becomes this process's."""
        super().optimize_for_webserver(statement_timeout, pool_recycle, max_overflow)
        self._engines.set(self._engine)

    def dispose(self) -> None:
        """Stop the event watcher, as Dagster's class does, and close this process's pooled connection."""
        super().dispose()
        self._engines.dispose()
