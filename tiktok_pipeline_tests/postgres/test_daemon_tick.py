"""A sensor tick as the daemon runs it: cursor and tick kept in PostgreSQL, the run queued, not started.

``build_sensor_context`` evaluates a sensor without storing anything. Here the sensor daemon's own
iteration (``dagster._daemon.sensor.execute_sensor_iteration``, the function ``dagster-daemon run``
calls every few seconds; internal API, pinned with dagster 1.13.27) ticks the project's sensors
against the production instance, so what it stores is what production stores: the
instigator state with the cursor (schedule storage), the tick with its run ids, and a run that the
QueuedRunCoordinator left QUEUED for the daemon's run queue instead of starting it.
"""

import logging
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.scheduler.instigation import InstigatorType, TickStatus
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.sensor import execute_sensor_iteration

from tiktok_pipeline.defs.videos.jobs import WINDOW_JOB_NAME
from tiktok_pipeline.defs.videos.sensors import PollCursor
from tiktok_pipeline.settings import PROJECT_ROOT
from tiktok_pipeline.windows import latest_closed_window, window_key

CODE_LOCATION = """\
from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.settings import Settings

defs = build_definitions(Settings.model_validate_json({settings!r}))
"""


def daemon_sensor_iteration(instance: dg.DagsterInstance, code_location: Path) -> None:
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(python_file=str(code_location), attribute="defs", working_directory=str(PROJECT_ROOT)),
        location_name="tiktok_pipeline",
    )
    with create_test_daemon_workspace_context(InProcessWorkspaceLoadTarget(origin), instance) as workspace:
        list(execute_sensor_iteration(workspace, logging.getLogger("sensor_daemon"), None, None))


@pytest.mark.file_backend_only  # the daemon process it starts has its own settings (a file warehouse): it tests the daemon, not the backend
def test_a_daemon_tick_stores_cursor_and_tick_and_queues_the_run(settings, pg_instance, pg_database, tmp_path):
    code_location = tmp_path / "code_location.py"
    code_location.write_text(CODE_LOCATION.format(settings=settings.model_dump_json()))
    before = window_key(latest_closed_window(datetime.now(UTC)))
    daemon_sensor_iteration(pg_instance, code_location)
    after = window_key(latest_closed_window(datetime.now(UTC)))

    states = {s.instigator_name: s for s in pg_instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)}
    assert {"polling_sensor", "alert_sensor"} <= set(states)  # on by default: no one had to start them
    polling = states["polling_sensor"]
    cursor = PollCursor.parse(polling.instigator_data.cursor)  # type: ignore[union-attr]
    assert cursor.last_window in {before, after}
    [tick] = pg_instance.get_ticks(polling.instigator_origin_id, polling.selector_id)
    assert tick.status == TickStatus.SUCCESS and len(tick.run_ids) == 1

    [run] = pg_instance.get_runs(dg.RunsFilter(run_ids=tick.run_ids))
    assert run.job_name == WINDOW_JOB_NAME
    assert run.status == dg.DagsterRunStatus.QUEUED  # the QueuedRunCoordinator holds it for the run queue
    assert run.tags["dagster/sensor_name"] == "polling_sensor"
    assert run.tags["dagster/asset_partition_range_end"] == cursor.last_window

    # the same state, straight from PostgreSQL
    assert pg_database.query("SELECT status FROM runs WHERE run_id = %s", (run.run_id,)) == [("QUEUED",)]
    assert pg_database.query(
        "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = 'PIPELINE_ENQUEUED'", (run.run_id,)
    ) == [(1,)]
    bodies = dict(
        pg_database.query("SELECT selector_id, instigator_body FROM instigators WHERE instigator_type = 'SENSOR'")
    )
    assert cursor.last_window in bodies[polling.selector_id] and "last_window" in bodies[polling.selector_id]
    ticks = pg_database.query("SELECT status, tick_body FROM job_ticks WHERE selector_id = %s", (polling.selector_id,))
    assert [status for status, _ in ticks] == ["SUCCESS"] and run.run_id in ticks[0][1]
