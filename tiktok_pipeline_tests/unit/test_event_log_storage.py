"""The embedded instance's event log class (``governance.event_log_storage``): one pooled engine per process.

Every test loads the instance from a copy of the shipped ``dagster.yaml``. What is counted is SQLite connections
opened (Dagster's own class opens one per read and write) and what each process reads back; nothing is timed.
"""

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tiktok_pipeline.governance.event_log_storage import PooledSqliteEventLogStorage
from tiktok_pipeline.settings import PROJECT_ROOT
from tiktok_pipeline_tests.event_batches import (
    EVERY_KIND,
    GROUPED_CHECKS,
    HOURS,
    PLANNING_SHAPES,
    WALL_CLOCK_COLUMNS,
    a_batch_with_failures,
    a_runs_events,
    a_runs_events_planned,
    evaluations,
    grouped,
    only_asset_events,
    range_tags,
    stored_events,
)
from tiktok_pipeline_tests.pipeline_env import pipeline_env
from tiktok_pipeline_tests.sqlite_no_fsync import NO_FSYNC_ENV

PROBE = dg.AssetKey("probe")


def _home(tmp_path: Path) -> Path:
    """A DAGSTER_HOME holding the shipped dagster.yaml, its storage under ``tmp_path``."""
    text = (PROJECT_ROOT / "dagster.yaml").read_text().replace("base_dir: data/dagster", f"base_dir: {tmp_path}")
    (tmp_path / "dagster.yaml").write_text(text)
    return tmp_path


def _store(instance: dg.DagsterInstance, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        instance.report_runless_asset_event(dg.AssetMaterialization(PROBE, metadata={"n": i}))


def _stored(instance: dg.DagsterInstance) -> list[int]:
    records = instance.fetch_materializations(PROBE, limit=1000).records
    return sorted(r.asset_materialization.metadata["n"].value for r in records if r.asset_materialization)


@pytest.fixture
def opened(monkeypatch):
    """The paths of the SQLite connections SQLAlchemy opens in this process from now on."""
    paths: list[str] = []

    def count(dbapi_connection, _record) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            paths.extend(row[2] for row in dbapi_connection.execute("PRAGMA database_list") if row[1] == "main")

    event.listen(Engine, "connect", count)
    yield paths
    event.remove(Engine, "connect", count)


def test_the_shipped_instance_stores_events_on_one_engine_and_few_connections(tmp_path, opened):
    with dg.DagsterInstance.from_config(str(_home(tmp_path))) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        _store(instance, 60)
        assert _stored(instance) == list(range(60))
        event_log = [p for p in opened if p.endswith("event_log.db")]
        # Dagster's class opens a connection (and an engine) per read and write: over 60 here
        assert 1 <= len(event_log) <= 3
        assert list(storage._engines._by_pid) == [os.getpid()]
        engine = storage._engines.get()
    assert storage._engines._by_pid == {}  # disposed with the instance: its pooled connections closed
    assert engine.pool.checkedin() == 0


def test_a_pooled_connection_reads_what_another_process_wrote_since(tmp_path):
    """No stale snapshot: a connection kept open between uses sees another process's commits at once."""
    home = _home(tmp_path)
    writer = textwrap.dedent(
        """
        import sys
        import dagster as dg
        with dg.DagsterInstance.from_config(sys.argv[1]) as instance:
            for i in range(int(sys.argv[2]), int(sys.argv[2]) + 5):
                instance.report_runless_asset_event(dg.AssetMaterialization("probe", metadata={"n": i}))
        """
    )
    with dg.DagsterInstance.from_config(str(home)) as instance:
        _store(instance, 5)
        assert _stored(instance) == list(range(5))  # this process's pool now holds an open connection
        for start in (100, 200):
            done = subprocess.run(
                [sys.executable, "-c", writer, str(home), str(start)],
                env=pipeline_env(tmp_path),
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            assert _stored(instance)[-5:] == list(range(start, start + 5))
        _store(instance, 5, start=300)
        assert len(_stored(instance)) == 20


def test_a_forked_child_builds_its_own_engine_and_leaves_the_parents_alone(tmp_path):
    home = _home(tmp_path)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        _store(instance, 5)
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        parent_engine = storage._engines.get()
        context = multiprocessing.get_context("fork")
        queue = context.Queue()

        def child() -> None:
            _store(instance, 5, start=500)  # the parent's instance object, inherited through the fork
            from tiktok_pipeline.governance import event_log_storage

            queue.put(
                {
                    "parents_kept": any(e is parent_engine for e in event_log_storage._INHERITED),
                    "engines": list(storage._engines._by_pid),
                    "pid": os.getpid(),
                }
            )

        process = context.Process(target=child)
        process.start()
        got = queue.get(timeout=120)
        process.join(120)
        assert process.exitcode == 0
        assert got["parents_kept"] and got["engines"] == [got["pid"]]
        assert storage._engines.get() is parent_engine  # the parent's engine is untouched and still used
        _store(instance, 5, start=900)
        assert _stored(instance) == [*range(5), *range(500, 505), *range(900, 905)]


DAEMON_PROBE = textwrap.dedent(
    """
    import json, os, sys
    import dagster as dg
    from sqlalchemy import text

    with dg.DagsterInstance.from_config(sys.argv[1]) as instance:  # no pipeline definitions imported, as the daemon
        instance.report_runless_asset_event(dg.AssetMaterialization("probe"))
        with instance.event_log_storage.index_connection() as connection:
            level = connection.execute(text("PRAGMA synchronous")).scalar()
        batch = os.environ.get("DAGSTER_EVENT_BATCH_SIZE")
        print(json.dumps({"definitions": "tiktok_pipeline.definitions" in sys.modules, "synchronous": level, "batch": batch}))
    """
)


def test_a_process_that_only_loads_the_instance_commits_cheaply_too(tmp_path):
    """The daemon writes a UI backfill's planned events and never imports the definitions: the storage class itself
    installs ``synchronous=NORMAL`` (not FULL) and event batching (a run's planned events stored as one batch) in
    every process that loads the shipped instance."""
    env = pipeline_env(tmp_path)
    env.pop(NO_FSYNC_ENV)  # the tests' own shortcut (synchronous=OFF) would hide what the instance does
    env.pop("DAGSTER_EVENT_BATCH_SIZE", None)  # nor may the variable come from this process's environment
    env["PYTHONPATH"] = str(PROJECT_ROOT)  # without the tests' start-up hook
    done = subprocess.run(
        [sys.executable, "-c", DAEMON_PROBE, str(_home(tmp_path))], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got == {"definitions": False, "synchronous": 1, "batch": "1000"}


# --- batches: Dagster hands a step's materialisations and a run's planned events over as one batch ---------------
def _tables(db: Path) -> dict[str, list[tuple]]:
    """Every table's rows in storage order, without the database's own wall-clock columns."""
    with sqlite3.connect(db) as connection:
        names = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        tables = {}
        for name in names:
            columns = [
                r[1] for r in connection.execute(f'PRAGMA table_info("{name}")') if r[1] not in WALL_CLOCK_COLUMNS
            ]
            listed = ", ".join(f'"{c}"' for c in columns)
            tables[name] = connection.execute(f'SELECT {listed} FROM "{name}" ORDER BY rowid').fetchall()
        return tables


@pytest.mark.parametrize("batch", ["every-kind", "asset-events-only", "with-failures"])
def test_a_batch_is_stored_exactly_as_dagsters_class_stores_its_events_one_by_one(tmp_path, batch):
    """Same rows, same ids, same order in every table (events, asset index, tags, check executions) as Dagster's
    ``ConsolidatedSqliteEventLogStorage`` storing the events one at a time (its ``store_event_batch`` does just that):
    for a run's events of every kind; for its asset events alone (one bulk run of several kinds and assets: each
    asset's entry as the last event left it); for planned events followed by failures to materialise."""
    from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage

    events = a_runs_events()
    assert {e.dagster_event_type for e in events if e.dagster_event} >= EVERY_KIND
    if batch == "asset-events-only":
        events = only_asset_events(events)
    elif batch == "with-failures":
        events = a_batch_with_failures()
    theirs = ConsolidatedSqliteEventLogStorage(str(tmp_path / "theirs"))
    for entry in events:
        theirs.store_event(entry)
    ours = PooledSqliteEventLogStorage(str(tmp_path / "ours"))
    ours.store_event_batch(events)
    ours.dispose()
    theirs.dispose()
    expected = _tables(tmp_path / "theirs" / "event_log.db")
    got = _tables(tmp_path / "ours" / "event_log.db")
    assert len(expected["event_logs"]) == len(events)
    assert expected["asset_keys"]
    assert expected["asset_event_tags"] or batch == "with-failures"
    assert expected["asset_check_executions"] or batch != "every-kind"
    assert got == expected


def test_a_batch_is_one_transaction_so_a_failure_leaves_nothing_for_dagsters_one_by_one_retry(tmp_path, monkeypatch):
    """Dagster stores a batch again event by event when ``store_event_batch`` raises: a failure part-way must leave
    none of the batch behind, or those events would be stored twice."""
    events = a_runs_events()
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    commits: list[int] = []
    event.listen(storage._engines.get(), "commit", lambda _conn: commits.append(1))
    storage.store_event_batch(events[:5])
    assert commits == [1]  # one commit for the batch
    before = len(_tables(tmp_path / "event_log.db")["event_logs"])

    def fail(*_args, **_kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(storage, "store_asset_check_event", fail)
    with pytest.raises(RuntimeError, match="disk is full"):
        storage.store_event_batch(events[5:])
    assert len(_tables(tmp_path / "event_log.db")["event_logs"]) == before
    monkeypatch.undo()
    for entry in events[5:]:  # what Dagster does next
        storage.store_event(entry)
    assert len(_tables(tmp_path / "event_log.db")["event_logs"]) == len(events)
    storage.dispose()


def test_an_event_outside_a_batch_is_one_transaction_too(tmp_path):
    """A check evaluation (never batched by Dagster) is its row and its check-execution row: one commit, not one per
    statement."""
    evaluation = next(e for e in a_runs_events() if e.dagster_event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    commits: list[int] = []
    event.listen(storage._engines.get(), "commit", lambda _conn: commits.append(1))
    storage.store_event(evaluation)
    assert commits == [1]
    tables = _tables(tmp_path / "event_log.db")
    assert len(tables["event_logs"]) == 1 and len(tables["asset_check_executions"]) == 1
    storage.dispose()


# --- check evaluations: Dagster stores each on its own; a step's are stored together, a bounded number at a time ----
def _evaluation_rows_by_transaction(engine: Engine) -> list[int]:
    """How many check evaluations each transaction on ``engine`` inserts into ``event_logs``, from now on."""
    done = [0]

    def count(_conn, _cursor, sql, parameters, _context, _executemany) -> None:
        if sql.lstrip().startswith("INSERT INTO event_logs"):  # a row a statement, or many (flattened or in a list)
            rows = parameters if isinstance(parameters, list) else [parameters]
            done[-1] += sum(tuple(params).count("ASSET_CHECK_EVALUATION") for params in rows)

    event.listen(engine, "before_cursor_execute", count)
    event.listen(engine, "commit", lambda _conn: done.append(0))
    return done


def test_a_steps_check_evaluations_are_stored_a_bounded_number_per_transaction(tmp_path, monkeypatch):
    """Dagster stores each check evaluation it is handed as a transaction of its own; the evaluations a step yields
    through ``window_check_events`` are stored ``EVALUATIONS_PER_TRANSACTION`` to a transaction, every one of them:
    its event, and the check execution Dagster planned for its window marked passed or failed."""
    from tiktok_pipeline.defs import metadata

    monkeypatch.setattr(metadata, "EVALUATIONS_PER_TRANSACTION", 3)
    with dg.DagsterInstance.from_config(str(_home(tmp_path))) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        per_transaction = _evaluation_rows_by_transaction(storage._engines.get())
        keys = HOURS.get_partition_keys()[:7]
        result = dg.materialize([grouped], instance=instance, tags=range_tags(keys[0], keys[-1]))
        assert result.success
        assert sorted(n for n in per_transaction if n) == [1, 1, 3, 3, 3, 3]  # 7 windows a check: 3 + 3 + 1, twice
        assert len(evaluations(stored_events(instance, result.run_id))) == 14
        for name in GROUPED_CHECKS:
            history = storage.get_asset_check_execution_history(
                dg.AssetCheckKey(dg.AssetKey("grouped"), name), limit=100
            )
            status = {r.partition: r.status.value for r in history}
            assert status == {key: "FAILED" if key == keys[2] else "SUCCEEDED" for key in keys}


def store_together(storage, events: list, size: int) -> None:
    """``events`` stored in order, ``size`` to a ``together`` block (its other events among its evaluations)."""
    for first in range(0, len(events), size):
        with storage.together():
            for entry in events[first : first + size]:
                storage.store_event(entry)


@pytest.mark.parametrize("planned", PLANNING_SHAPES)
def test_evaluations_stored_together_are_stored_exactly_as_dagsters_class_stores_them(tmp_path, planned):
    """Same rows, same ids, same order in every table as Dagster's class storing the events one at a time: for a run
    whose check executions Dagster planned window by window (each evaluation updates its window's row, here all in
    one statement), and for one it planned without a window (each evaluation then inserts its own row, as Dagster
    does); other events in a block are stored after the evaluations held back before them."""
    from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage

    events = a_runs_events_planned(planned)
    assert len(evaluations(events)) >= 6
    theirs = ConsolidatedSqliteEventLogStorage(str(tmp_path / "theirs"))
    for entry in events:
        theirs.store_event(entry)
    ours = PooledSqliteEventLogStorage(str(tmp_path / "ours"))
    store_together(ours, events, 7)
    ours.dispose()
    theirs.dispose()
    expected = _tables(tmp_path / "theirs" / "event_log.db")
    assert sum("SUCCEEDED" in row for row in expected["asset_check_executions"]) >= 4  # evaluated, not only planned
    assert _tables(tmp_path / "ours" / "event_log.db") == expected


def test_events_stored_together_are_rolled_back_when_the_block_fails(tmp_path):
    """``stored_together`` is one transaction: a failure inside the block (the step failing while Dagster stores its
    evaluations) leaves none of its events, those already written (every other event, and the evaluations held back
    before each) included; an instance whose event log is not one of these classes stores as before."""
    from tiktok_pipeline.governance.event_log_storage import stored_together

    events = a_runs_events()  # its evaluations among observations, steps' events and plans
    held = evaluations(events)
    stored = tmp_path / "storage" / "events" / "event_log.db"
    with dg.DagsterInstance.from_config(str(_home(tmp_path))) as instance:
        with pytest.raises(RuntimeError, match="step failed"), stored_together(instance):
            for entry in events:
                instance.event_log_storage.store_event(entry)
            raise RuntimeError("step failed")
        assert _tables(stored)["event_logs"] == []
        with stored_together(instance):
            for entry in events:
                instance.event_log_storage.store_event(entry)
        assert len(_tables(stored)["event_logs"]) == len(events)
    with dg.instance_for_test() as plain, stored_together(plain):
        plain.event_log_storage.store_event(held[0])
        assert len(plain.get_records_for_run(held[0].run_id).records) == 1


def test_whether_the_check_table_exists_is_asked_once_not_for_every_evaluation(tmp_path):
    """Dagster asks ``has_table`` before storing every check evaluation; a table is never dropped, so once it is
    found the storage stops asking the database (a connection and a catalogue query each time)."""
    held = evaluations(a_runs_events())
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    asked: list[str] = []
    event.listen(
        storage._engines.get(),
        "before_cursor_execute",
        lambda _c, _cur, sql, *_a: asked.append(sql) if "main.table_info" in sql else None,
    )
    for entry in held:
        storage.store_event(entry)
    assert len(held) == 6 and len(asked) == 1
    assert not storage.has_table("no_such_table") and not storage.has_table("no_such_table")
    assert len(asked) == 3  # a table not found is asked about each time
    storage.dispose()
