"""deploy/dagster.yaml: PostgreSQL for all storage (the event log on one pooled connection a process), the run queue,
run and pool limits, no secrets in the file."""

import yaml
from dagster_postgres.event_log import PostgresEventLogStorage

from tiktok_pipeline.settings import PROJECT_ROOT

from .conftest import DEPLOY_CONFIG

PG_ENV = {
    "hostname": "DAGSTER_PG_HOST",
    "port": "DAGSTER_PG_PORT",
    "username": "DAGSTER_PG_USER",
    "password": "DAGSTER_PG_PASSWORD",
    "db_name": "DAGSTER_PG_DB",
}


def test_every_connection_setting_comes_from_the_environment():
    config = yaml.safe_load(DEPLOY_CONFIG.read_text())
    assert "storage" not in config  # the three storages, each on the same database (one YAML anchor)
    for storage in ("run_storage", "event_log_storage", "schedule_storage"):
        db = config[storage]["config"]["postgres_db"]
        assert {field: db[field] for field in PG_ENV} == {field: {"env": var} for field, var in PG_ENV.items()}
        assert "postgres_url" not in config[storage]["config"]
    # the embedded instance of `make dev` stays on SQLite
    embedded = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    assert "storage" not in embedded and embedded["run_storage"]["class"] == "SqliteRunStorage"


def test_the_shipped_instance_keeps_everything_in_postgres_and_queues_runs(pg_instance, pg_home):
    instance = pg_instance
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PooledPostgresEventLogStorage"  # Dagster's, one pooled
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)  # connection a process (README)
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert instance.event_log_storage.supports_global_concurrency_limits

    concurrency = instance.get_concurrency_config()
    queue = concurrency.run_queue_config
    assert queue is not None and queue.max_concurrent_runs == 4
    assert queue.tag_concurrency_limits == [{"key": "dagster/backfill", "limit": 1}]
    # no pools: writes take the warehouse lock (tiktok_pipeline/warehouse/lock.py), not a slot in PostgreSQL
    assert concurrency.pool_config.default_pool_limit is None

    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 60
    assert not instance.telemetry_enabled
    assert instance.root_directory == str(pg_home)
    assert instance.compute_log_manager._base_dir == str(pg_home / "storage")  # type: ignore[attr-defined]
