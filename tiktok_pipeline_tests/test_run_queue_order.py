"""The daemon's run queue starts the live window first, then a retry, then the rest (issue 13, "Freshness").

A real instance with the QueuedRunCoordinator and one run at a time; queued in this order: a one-day backfill (one
run over a partition range), an ads run, the polling sensor's warm-up range, its retry of a failed window, its live
window. Then Dagster's own ``QueuedRunCoordinatorDaemon.run_iteration``, in-process, one iteration per freed slot.
The live and retry runs carry the tags the polling sensor gives them (its real ticks), so removing the
``dagster/priority`` tag from either makes this fail. The run launcher records launches instead of starting
processes (Dagster's ``MockedRunLauncher``): what is tested is the order the queue picks runs in, not the runs.
"""

from datetime import UTC, datetime

import dagster as dg
from dagster._core.test_utils import create_run_for_test, create_test_daemon_workspace_context
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from tiktok_pipeline.defs.ads.jobs import AD_JOB_NAME
from tiktok_pipeline.defs.videos.jobs import WINDOW_JOB_NAME
from tiktok_pipeline.defs.videos.sensors import PollCursor
from tiktok_pipeline.ingest.polling.retry import RETRY_OF_TAG
from tiktok_pipeline.windows import WINDOW, latest_closed_window, window_key
from tiktok_pipeline_tests.conftest import shipped_event_log

from .test_failed_windows import execute
from .test_run_priority import sensor_tick

QUEUE = {
    "run_coordinator": {
        "module": "dagster._core.run_coordinator",
        "class": "QueuedRunCoordinator",
        "config": {"max_concurrent_runs": 1, "dequeue_interval_seconds": 1},
    },
    "run_launcher": {"module": "dagster._core.test_utils", "class": "MockedRunLauncher"},
}


CODE = ModuleTarget(
    module_name="tiktok_pipeline.definitions", attribute=None, working_directory=None, location_name="tiktok_pipeline"
)


def _queue(workspace, name: str, job: str, tags: dict[str, str]) -> tuple[str, str]:
    """Queue a run of ``job`` of the project's code location, as the UI, a sensor or a backfill would."""
    [location] = workspace.create_request_context().code_locations
    [repository] = location.get_repositories().values()
    remote = repository.get_full_job(job)
    run = create_run_for_test(
        workspace.instance,
        job_name=job,
        status=dg.DagsterRunStatus.QUEUED,
        tags=tags,
        remote_job_origin=remote.get_remote_origin(),
        job_code_origin=remote.get_python_origin(),
    )
    return run.run_id, name


def _dequeue_all(workspace, names: dict[str, str]) -> list[str]:
    """The daemon's iterations until the queue is empty; each launched run is then ended, freeing the one slot."""
    order: list[str] = []
    instance = workspace.instance
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    with daemon:
        for _ in range(len(names) + 2):
            list(daemon.run_iteration(workspace))
            launched = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTING]))
            assert len(launched) <= 1  # one run at a time
            for run in launched:
                order.append(names[run.run_id])
                instance.report_run_failed(run)  # ended: the slot is free for the next iteration
    return order


def test_the_queue_starts_the_live_window_then_the_retry_then_the_rest_in_order(settings, tmp_path):
    overrides = {**QUEUE, **shipped_event_log(tmp_path / "events")}
    with dg.instance_for_test(overrides=overrides) as instance:
        [warm_up] = sensor_tick(settings, instance, None).run_requests
        failed_key = window_key(latest_closed_window(datetime.now(UTC)) - WINDOW)
        failed_request = dg.RunRequest(run_key=failed_key, partition_key=failed_key)
        failed = execute(settings, instance, failed_request, failing=True, tmp_path=tmp_path)
        cursor = PollCursor(last_window=failed_key, followed=[failed_key]).model_dump_json()
        requests = sensor_tick(settings, instance, cursor).run_requests
        [retry] = [r for r in requests if r.tags.get(RETRY_OF_TAG) == failed.run_id]
        [live] = [r for r in requests if RETRY_OF_TAG not in r.tags]

        day = {
            "dagster/backfill": "one-day",
            "dagster/asset_partition_range_start": "2026-11-21-00:00",
            "dagster/asset_partition_range_end": "2026-11-21-23:55",
        }
        with create_test_daemon_workspace_context(CODE, instance) as workspace:
            names = dict(
                [
                    _queue(workspace, "backfill", WINDOW_JOB_NAME, day),
                    _queue(workspace, "ads", AD_JOB_NAME, {"dagster/partition": failed_key}),
                    _queue(workspace, "warm-up", WINDOW_JOB_NAME, dict(warm_up.tags)),
                    _queue(workspace, "retry", WINDOW_JOB_NAME, {**retry.tags, "dagster/partition": failed_key}),
                    _queue(workspace, "live", WINDOW_JOB_NAME, {**live.tags, "dagster/partition": live.partition_key}),
                ]
            )
            # Queued last, started first; the retry next; the rest first in, first out.
            assert _dequeue_all(workspace, names) == ["live", "retry", "backfill", "ads", "warm-up"]
