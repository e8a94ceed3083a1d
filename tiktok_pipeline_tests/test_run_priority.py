"""Live windows first: the polling sensor's live window run outranks its retries and warm-up range in the queue.

Issue 13, "Freshness": the p95 was a live window queued behind other runs. The QueuedRunCoordinator starts queued
runs highest ``dagster/priority`` first (no tag: 0, which is what backfills, ads, conversions and UI runs carry).
Through ``build_sensor_context`` with the repository's resources, on the wall clock.
"""

from datetime import UTC, datetime

import dagster as dg

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.defs.videos.sensors import PollCursor, polling_sensor
from tiktok_pipeline.ingest.polling.retry import RETRY_OF_TAG
from tiktok_pipeline.runs import LIVE_WINDOW_PRIORITY, PRIORITY_TAG, RETRY_PRIORITY, priority_of
from tiktok_pipeline.windows import WINDOW, latest_closed_window, window_key

from .test_failed_windows import execute


def sensor_tick(settings, instance, cursor: str | None) -> dg.SensorResult:
    defs = build_definitions(settings)
    context = dg.build_sensor_context(instance=instance, resources=dict(defs.resources), cursor=cursor)
    return polling_sensor(context)


def test_the_live_window_outranks_the_warm_up_range(settings, instance):
    first = sensor_tick(settings, instance, None)
    [warm_up] = first.run_requests
    assert "dagster/asset_partition_range_end" in warm_up.tags
    previous = window_key(latest_closed_window(datetime.now(UTC)) - WINDOW)
    later = sensor_tick(settings, instance, PollCursor(last_window=previous).model_dump_json())
    [live] = later.run_requests
    assert live.tags[PRIORITY_TAG] == str(LIVE_WINDOW_PRIORITY)
    assert priority_of(live.tags) > priority_of(warm_up.tags) == 0  # a warm-up range is a backfill


def test_the_live_window_outranks_a_retry_which_outranks_other_runs(settings, instance, tmp_path):
    failed_key = window_key(latest_closed_window(datetime.now(UTC)) - WINDOW)
    failed = execute(
        settings, instance, dg.RunRequest(run_key=failed_key, partition_key=failed_key), failing=True, tmp_path=tmp_path
    )
    cursor = PollCursor(last_window=failed_key, followed=[failed_key]).model_dump_json()
    result = sensor_tick(settings, instance, cursor)
    [live] = [r for r in result.run_requests if RETRY_OF_TAG not in r.tags]
    [retry] = [r for r in result.run_requests if r.tags.get(RETRY_OF_TAG) == failed.run_id]
    assert priority_of(live.tags) == LIVE_WINDOW_PRIORITY
    assert retry.tags[PRIORITY_TAG] == str(RETRY_PRIORITY)
    assert LIVE_WINDOW_PRIORITY > RETRY_PRIORITY > priority_of({})  # ads, conversions, backfills: no tag, 0


def test_priority_of_reads_like_the_queue():
    assert priority_of({}) == 0 and priority_of({PRIORITY_TAG: "7"}) == 7 and priority_of({PRIORITY_TAG: "x"}) == 0
