"""On the production instance: the sensor daemon waits for a queued window run, and requests it again once it failed.

The daemon's own sensor iteration (see test_daemon_tick.py) against deploy/dagster.yaml on a fresh PostgreSQL
database: the first tick queues the window run (the QueuedRunCoordinator keeps it QUEUED); while it is queued the
next tick requests nothing more; once it is reported failed (what run monitoring does with a run whose worker
died) the next tick queues a retry, with its own run key, linked to the failed run. Dagster's clock is moved on
between ticks (the sensor's minimum interval is 5 s); the sensor itself reads the wall clock.
"""

import logging
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.sensor import execute_sensor_iteration

from tiktok_pipeline.defs.videos.jobs import WINDOW_JOB_NAME
from tiktok_pipeline.ingest.polling.retry import ATTEMPT_TAG, RETRY_OF_TAG
from tiktok_pipeline.settings import PROJECT_ROOT

from .test_daemon_tick import CODE_LOCATION


def window_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return list(instance.get_runs(dg.RunsFilter(job_name=WINDOW_JOB_NAME)))


@pytest.mark.file_backend_only  # the daemon process it starts has its own settings (a file warehouse): it tests the daemon, not the backend
def test_a_failed_window_run_is_queued_again_once_it_failed(settings, pg_instance, pg_database, tmp_path):
    code_location = tmp_path / "code_location.py"
    code_location.write_text(CODE_LOCATION.format(settings=settings.model_dump_json()))
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(python_file=str(code_location), attribute="defs", working_directory=str(PROJECT_ROOT)),
        location_name="tiktok_pipeline",
    )
    now = datetime.now(UTC)
    with create_test_daemon_workspace_context(InProcessWorkspaceLoadTarget(origin), pg_instance) as workspace:

        def daemon_tick(after_seconds: int) -> None:
            with freeze_time(now + timedelta(seconds=after_seconds)):
                list(execute_sensor_iteration(workspace, logging.getLogger("sensor_daemon"), None, None))

        daemon_tick(0)
        [first] = window_runs(pg_instance)
        assert first.status == dg.DagsterRunStatus.QUEUED
        daemon_tick(30)
        assert not [r for r in window_runs(pg_instance) if RETRY_OF_TAG in r.tags]  # queued: waited for
        pg_instance.report_run_failed(first, "the run worker was lost (run monitoring)")
        daemon_tick(60)
    [retry] = [r for r in window_runs(pg_instance) if RETRY_OF_TAG in r.tags]
    assert retry.status == dg.DagsterRunStatus.QUEUED
    assert retry.tags[RETRY_OF_TAG] == first.run_id and retry.tags[ATTEMPT_TAG] == "2"
    # the first tick's run covered a range (the simulator's warm-up): its oldest window is retried first
    oldest = first.tags.get("dagster/asset_partition_range_start", first.tags.get("dagster/partition"))
    assert retry.tags["dagster/partition"] == oldest
    assert retry.tags["dagster/run_key"] == f"{oldest}:retry-1"
    assert pg_database.query("SELECT status FROM runs WHERE run_id = %s", (retry.run_id,)) == [("QUEUED",)]
