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
    import json, sys
    import dagster as dg
    from sqlalchemy import text

    with dg.DagsterInstance.from_config(sys.argv[1]) as instance:  # no pipeline definitions imported, as the daemon
        instance.report_runless_asset_event(dg.AssetMaterialization("probe"))
        with instance.event_log_storage.index_connection() as connection:
            level = connection.execute(text("PRAGMA synchronous")).scalar()
        print(json.dumps({"definitions": "tiktok_pipeline.definitions" in sys.modules, "synchronous": level}))
    """
)


def test_a_process_that_only_loads_the_instance_commits_cheaply_too(tmp_path):
    """The daemon writes a UI backfill's planned events and never imports the definitions: the storage class itself
    installs ``synchronous=NORMAL`` (not FULL) in every process that loads the shipped instance."""
    env = pipeline_env(tmp_path)
    env.pop(NO_FSYNC_ENV)  # the tests' own shortcut (synchronous=OFF) would hide what the instance does
    env["PYTHONPATH"] = str(PROJECT_ROOT)  # without the tests' start-up hook
    done = subprocess.run(
        [sys.executable, "-c", DAEMON_PROBE, str(_home(tmp_path))], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got == {"definitions": False, "synchronous": 1}
