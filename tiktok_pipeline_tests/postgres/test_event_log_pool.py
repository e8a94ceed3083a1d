"""The production instance's event log (deploy/dagster.yaml, ``PooledPostgresEventLogStorage``) keeps one pooled
PostgreSQL connection a process: Dagster's own class opened a connection for every event it stored.

What is counted is connections SQLAlchemy opens and what each process reads back; nothing is timed.
"""

import subprocess
import sys
import textwrap

import dagster as dg
from sqlalchemy import event

from tiktok_pipeline.governance.event_log_storage import PooledPostgresEventLogStorage
from tiktok_pipeline_tests.pipeline_env import pipeline_env

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
