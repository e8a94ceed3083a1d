"""The production instance's event log (deploy/dagster.yaml, ``PooledPostgresEventLogStorage``) keeps one pooled
PostgreSQL connection a process: Dagster's own class opened a connection for every event it stored.

What is counted is connections SQLAlchemy opens and what each process reads back; nothing is timed.
"""

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import dagster as dg
import pytest
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import get_conn_string
from sqlalchemy import event

from tiktok_pipeline.governance.event_log_storage import PooledPostgresEventLogStorage
from tiktok_pipeline_tests.event_batches import (
    EVERY_KIND,
    PLANNING_SHAPES,
    WALL_CLOCK_COLUMNS,
    a_batch_with_failures,
    a_runs_events,
    a_runs_events_planned,
    evaluations,
    only_asset_events,
)
from tiktok_pipeline_tests.pg import fresh_database
from tiktok_pipeline_tests.pipeline_env import pipeline_env
from tiktok_pipeline_tests.postgres.conftest import PgDatabase

PROBE = dg.AssetKey("probe")


def _store(instance: dg.DagsterInstance, values: range) -> None:
    for i in values:
        instance.report_runless_asset_event(dg.AssetMaterialization(PROBE, metadata={"n": i}))


def _stored(instance: dg.DagsterInstance) -> list[int]:
    records = instance.fetch_materializations(PROBE, limit=1000).records
    return sorted(r.asset_materialization.metadata["n"].value for r in records if r.asset_materialization)


def test_events_are_stored_on_one_pooled_connection(pg_instance):
    storage = pg_instance.event_log_storage
    assert isinstance(storage, PooledPostgresEventLogStorage)
    engine = storage._engines.get()
    opened: list[object] = []
    event.listen(engine, "connect", lambda connection, _record: opened.append(connection))
    _store(pg_instance, range(40))
    assert _stored(pg_instance) == list(range(40))
    assert len(opened) <= 1  # Dagster's class: a connection per read and write, over 40 here


def test_a_pooled_connection_ended_by_the_server_is_replaced(pg_instance, pg_database):
    """A restarted PostgreSQL (or an idle connection it ended) costs a reconnect, not a failed event."""
    _store(pg_instance, range(3))
    ended = pg_database.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> "
        "pg_backend_pid()"
    )
    assert ended and all(row[0] for row in ended)  # the pool's idle connection among them
    _store(pg_instance, range(3, 6))
    assert _stored(pg_instance) == list(range(6))


def test_another_process_s_events_are_read_at_once(pg_instance, pg_home, tmp_path):
    """No stale snapshot: the pooled connection holds no transaction between uses."""
    writer = textwrap.dedent(
        """
        import dagster as dg
        with dg.DagsterInstance.get() as instance:
            for i in range(100, 105):
                instance.report_runless_asset_event(dg.AssetMaterialization("probe", metadata={"n": i}))
        """
    )
    _store(pg_instance, range(5))
    assert _stored(pg_instance) == list(range(5))
    env = pipeline_env(tmp_path)  # with pg_home's DAGSTER_HOME and DAGSTER_PG_* variables
    done = subprocess.run([sys.executable, "-c", writer], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _stored(pg_instance) == [*range(5), *range(100, 105)]


UPSERT_SURROGATES = {("asset_keys", "id")}
"""Surrogate keys of rows Dagster upserts (``INSERT ... ON CONFLICT DO UPDATE``): PostgreSQL draws a sequence value
for every upsert, also those that update, so the id an asset's row got depends on how many upserts came before it.
Nothing refers to it (assets are looked up by ``asset_key``)."""


def _tables(database) -> dict[str, list[tuple]]:
    """Every table's rows by primary key (or all columns), without the database's own wall-clock columns."""
    tables = {}
    for (name,) in database.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"):
        columns = [
            c
            for (c,) in database.query(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
                (name,),
            )
            if c not in WALL_CLOCK_COLUMNS and (name, c) not in UPSERT_SURROGATES
        ]
        listed = ", ".join(f'"{c}"' for c in columns)
        order = '"id"' if "id" in columns else listed
        tables[name] = database.query(f'SELECT {listed} FROM "{name}" ORDER BY {order}')
    return tables


def _dagsters(pg_server, store: Callable[[PostgresEventLogStorage], object]) -> dict[str, list[tuple]]:
    """The tables Dagster's own class leaves after ``store`` on a fresh database."""
    with fresh_database(pg_server) as name:
        theirs = PostgresEventLogStorage(pg_url(pg_server, name))
        store(theirs)
        theirs.dispose()
        return _tables(PgDatabase(pg_server, name))


def _ours(pg_database, events: list) -> dict[str, list[tuple]]:
    """The tables this module's class leaves storing ``events`` as one batch on ``pg_database``."""
    ours = PooledPostgresEventLogStorage(pg_url(pg_database.server, pg_database.name))
    ours.store_event_batch(events)
    ours.dispose()
    return _tables(pg_database)


@pytest.mark.parametrize("asset_events_only", [False, True], ids=["every-kind", "asset-events-only"])
def test_a_batch_is_one_transaction_storing_what_dagsters_class_stores_one_by_one(
    pg_database, pg_server, asset_events_only
):
    """A run's planned events (a batch of planned materialisations and check plans) and a step's materialisations
    reach the storage as batches. Stored as one batch, every table holds what Dagster's ``PostgresEventLogStorage``
    stores one event at a time (same rows, same ids), all in one transaction (one ``xmin``)."""
    events = a_runs_events()
    assert {e.dagster_event_type for e in events if e.dagster_event} >= EVERY_KIND
    if asset_events_only:
        events = only_asset_events(events)

    def one_by_one(theirs: PostgresEventLogStorage) -> None:
        for entry in events:
            theirs.store_event(entry)

    expected = _dagsters(pg_server, one_by_one)
    assert len(expected["event_logs"]) == len(events)
    assert _ours(pg_database, events) == expected
    assert pg_database.query("SELECT count(DISTINCT xmin::text) FROM event_logs") == [(1,)]


def pg_url(server, name: str) -> str:
    """A SQLAlchemy URL of database ``name`` on ``server``."""
    return get_conn_string(
        server.user, server.password, server.host, name, str(server.port), scheme="postgresql+psycopg2"
    )


def test_an_event_outside_a_batch_is_one_transaction_too(pg_database, pg_server):
    """A check evaluation (never batched by Dagster) is its row, a ``NOTIFY`` and its check-execution row: Dagster's
    class commits each statement on its own (autocommit); here they commit together."""
    evaluation = next(e for e in a_runs_events() if e.dagster_event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    storage = PooledPostgresEventLogStorage(pg_url(pg_server, pg_database.name))
    storage.store_event(evaluation)
    storage.dispose()
    rows = pg_database.query(
        "SELECT xmin::text FROM event_logs UNION ALL SELECT xmin::text FROM asset_check_executions"
    )
    assert len(rows) == 2 and rows[0] == rows[1]


def test_a_batch_with_failures_to_materialise_is_stored_as_dagsters_class_stores_it(pg_database, pg_server):
    """Dagster's PostgreSQL class leaves a batch's failures to materialise out; so does this one (it hands such a
    batch to Dagster's own path)."""
    events = a_batch_with_failures()
    kinds = {e.dagster_event_type for e in events}
    assert dg.DagsterEventType.ASSET_FAILED_TO_MATERIALIZE in kinds
    assert dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED in kinds
    assert _ours(pg_database, events) == _dagsters(pg_server, lambda theirs: theirs.store_event_batch(events))


@pytest.mark.parametrize("planned", PLANNING_SHAPES)
def test_check_evaluations_stored_together_are_what_dagsters_class_stores_in_one_transaction(
    pg_database, pg_server, planned
):
    """A step's check evaluations (``window_check_events`` stores them through ``stored_together``): every table
    holds what Dagster's class stores for the run's events one at a time, whether Dagster planned the run's check
    executions window by window (the evaluations update them in one statement) or without a window (each evaluation
    inserts its own row, as Dagster does); the evaluations' rows and the executions they write are one transaction,
    where Dagster's class commits each of their statements apart."""
    events = a_runs_events_planned(planned)
    held = evaluations(events)
    ordered = [e for e in events if e not in held] + held  # the plans first, as in a run
    assert len(held) >= 6

    def one_by_one(theirs: PostgresEventLogStorage) -> None:
        for entry in ordered:
            theirs.store_event(entry)

    ours = PooledPostgresEventLogStorage(pg_url(pg_server, pg_database.name))
    for entry in ordered[: -len(held)]:
        ours.store_event(entry)
    with ours.together():
        for entry in held:
            ours.store_event(entry)
    ours.dispose()
    assert _tables(pg_database) == _dagsters(pg_server, one_by_one)
    written = pg_database.query(
        "SELECT DISTINCT xmin::text FROM event_logs WHERE dagster_event_type = 'ASSET_CHECK_EVALUATION' UNION "
        "SELECT DISTINCT xmin::text FROM asset_check_executions WHERE execution_status <> 'PLANNED'"
    )
    assert len(written) == 1


def _in_a_thread(work: Callable[[], object]) -> Future:
    pool = ThreadPoolExecutor(1)
    done = pool.submit(work)
    pool.shutdown(wait=False)
    return done


def _ids(pg_database) -> list[int]:
    return [row[0] for row in pg_database.query("SELECT id FROM event_logs ORDER BY id")]


def test_events_are_committed_in_the_order_of_their_ids(pg_database, pg_server):
    """A reader following the log by storage id (the alert sensor, Dagster's daemon) reads past every id below the
    last one it saw. While one transaction holds events it has inserted (a block, a batch), a second writer (another
    process: its own storage) waits for it instead of committing a higher id first, which a reader between the two
    commits would have read, passing over the first transaction's events for good."""
    events = [e for e in a_runs_events() if e.dagster_event_type == dg.DagsterEventType.STEP_START]
    events = [events[0], events[0]._replace(run_id="a-second-run")]
    first, second = (PooledPostgresEventLogStorage(pg_url(pg_server, pg_database.name)) for _ in range(2))
    inserted, go_on = threading.Event(), threading.Event()

    def a_long_transaction() -> None:
        with first.together():
            first.store_event(events[0])  # inserted, its id drawn, not committed
            inserted.set()
            assert go_on.wait(30)

    held = _in_a_thread(a_long_transaction)
    assert inserted.wait(30)
    later = _in_a_thread(lambda: second.store_event(events[1]))
    time.sleep(0.5)
    assert not later.done() and _ids(pg_database) == []  # nothing visible: no higher id before the lower one
    go_on.set()
    held.result(timeout=30)
    later.result(timeout=30)
    assert pg_database.query("SELECT run_id FROM event_logs ORDER BY id") == [
        (events[0].run_id,),
        ("a-second-run",),
    ]
    first.dispose()
    second.dispose()


def test_a_block_of_check_evaluations_keeps_no_writer_waiting_until_it_writes(pg_database, pg_server):
    """A step yields its check evaluations into a block (``stored_together``): held back, they take the lock only
    when the block ends and writes them, so another thread storing an event meanwhile (a log line) does not wait
    for the step's generator."""
    events = a_runs_events()
    step_start = next(e for e in events if e.dagster_event_type == dg.DagsterEventType.STEP_START)
    held_back = evaluations(events)[:3]
    first, second = (PooledPostgresEventLogStorage(pg_url(pg_server, pg_database.name)) for _ in range(2))
    yielded, go_on = threading.Event(), threading.Event()

    def a_block() -> None:
        with first.together():
            for entry in held_back:
                first.store_event(entry)
            yielded.set()
            assert go_on.wait(30)

    block = _in_a_thread(a_block)
    assert yielded.wait(30)
    _in_a_thread(lambda: second.store_event(step_start)).result(timeout=10)  # no wait for the block
    go_on.set()
    block.result(timeout=30)
    assert [t for (t,) in pg_database.query("SELECT dagster_event_type FROM event_logs ORDER BY id")] == [
        "STEP_START",
        *["ASSET_CHECK_EVALUATION"] * 3,
    ]
    first.dispose()
    second.dispose()
