"""Windows whose run failed: retried by the polling sensor while observable, else marked as gaps once, with the reason.

Every test ticks on a fixed clock against a real (temporary) Dagster instance holding genuinely failed runs of
the window job: ``window_pipeline_job`` executed with an empty tracking registry (its raw snapshots step fails
before collecting anything), or a run left STARTED by a stopped daemon that run monitoring then reports failed.
"""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import pytest
from dagster._core.test_utils import create_run_for_test

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.defs.videos.jobs import WINDOW_JOB_NAME
from tiktok_pipeline.defs.videos.sensors import PollCursor, polling_sensor
from tiktok_pipeline.ingest.landing import landing_path
from tiktok_pipeline.ingest.polling.plan import CREATOR_STATE_SCHEMA, VIDEO_STATE_SCHEMA
from tiktok_pipeline.ingest.polling.policy import PollingPolicy
from tiktok_pipeline.ingest.polling.retry import ATTEMPT_TAG, RETRY_OF_TAG, FollowUp, Retry, fit_retry
from tiktok_pipeline.ingest.polling.state import PollingState, write_polling_state
from tiktok_pipeline.ingest.registry import load_registry
from tiktok_pipeline.windows import WINDOW, latest_closed_window, window_key

from .test_polling_sensor import Clock, make_sensor, plan_of, tick

pytestmark = pytest.mark.heavy(21)  # seconds of a core, measured alone: started first under pytest-xdist

T = datetime(2026, 11, 20, 10, 40, 12, tzinfo=UTC)  # the 10:35 window has just closed
KEY = "2026-11-20-10:35"


def execute(settings, instance, request: dg.RunRequest, *, failing: bool = False, tmp_path=None):
    """Run a request of the polling sensor as the daemon would: the window job, with the request's config and tags.

    ``failing``: with an empty tracking registry, so the raw snapshots step fails (nothing landed, nothing written).
    """
    if failing:
        empty = tmp_path / "empty_registry.json"
        empty.write_text('{"creators": []}')
        settings = settings.model_copy(update={"registry_path": empty})
    result = (
        build_definitions(settings)
        .resolve_job_def(WINDOW_JOB_NAME)
        .execute_in_process(
            instance=instance,
            partition_key=request.partition_key,
            run_config=request.run_config,
            tags=request.tags,
            raise_on_error=False,
        )
    )
    assert result.success is not failing
    return result


def first_window(settings, instance, clock, tmp_path, **sensor):
    """The sensor's first tick (the 10:35 window) and its run, failed."""
    first = tick(make_sensor(settings, clock, **sensor), instance, None)
    [live] = first.run_requests
    assert live.partition_key == KEY
    failed = execute(settings, instance, live, failing=True, tmp_path=tmp_path)
    return first, live, failed


def gap_marks(result, key=KEY) -> list:
    return [e for e in result.asset_events if e.partition == key and e.metadata["gap"].value is True]


def test_a_failed_window_is_retried_while_observable_then_settles(settings, instance, tmp_path):
    clock = Clock(T)
    first, live, failed = first_window(settings, instance, clock, tmp_path)
    clock.now = T + timedelta(minutes=1)  # same period: no new window, the failed one is requested again
    again = tick(make_sensor(settings, clock), instance, first.cursor)
    [retry] = again.run_requests
    assert retry.run_key == f"{KEY}:retry-1" and retry.partition_key == KEY
    assert retry.tags[RETRY_OF_TAG] == failed.run_id and retry.tags[ATTEMPT_TAG] == "2"
    assert plan_of(retry) == plan_of(live)  # the same plan: what was due for that window
    assert not gap_marks(again)
    assert PollCursor.parse(again.cursor).last_window == KEY  # the live cursor never moves back

    # the same tick again (the daemon evaluates it before the retry's run exists): the same run key, deduplicated
    assert [r.run_key for r in tick(make_sensor(settings, clock), instance, first.cursor).run_requests] == [
        retry.run_key
    ]
    execute(settings, instance, retry)
    clock.now = T + timedelta(minutes=2)
    settled = tick(make_sensor(settings, clock), instance, again.cursor)
    assert not settled.run_requests and not settled.asset_events and "already requested" in settled.skip_message


def test_the_live_window_comes_first_and_retries_follow(settings, instance, tmp_path):
    clock = Clock(T)
    first, _, _ = first_window(settings, instance, clock, tmp_path)
    clock.now = T + WINDOW
    nxt = tick(make_sensor(settings, clock), instance, first.cursor)
    assert [r.run_key for r in nxt.run_requests] == ["2026-11-20-10:40", f"{KEY}:retry-1"]
    assert PollCursor.parse(nxt.cursor).last_window == "2026-11-20-10:40"


def test_no_retry_while_a_run_is_in_progress_nor_after_success(settings, instance, tmp_path):
    clock = Clock(T)
    first = tick(make_sensor(settings, clock), instance, None)
    [live] = first.run_requests
    # the daemon stopped while the window's run was in flight: it stays STARTED
    started = create_run_for_test(
        instance,
        job_name=WINDOW_JOB_NAME,
        status=dg.DagsterRunStatus.STARTED,
        tags={**live.tags, "dagster/partition": KEY},
        run_config=live.run_config,
    )
    clock.now = T + timedelta(minutes=1)
    waiting = tick(make_sensor(settings, clock), instance, first.cursor)
    assert not waiting.run_requests and not waiting.asset_events

    # run monitoring finds it dead and marks it failed: now it is retried
    instance.report_run_failed(started, "run worker for this run was lost (run monitoring)")
    retried = tick(make_sensor(settings, clock), instance, first.cursor)
    [retry] = retried.run_requests
    assert retry.run_key == f"{KEY}:retry-1" and retry.tags[RETRY_OF_TAG] == started.run_id
    assert plan_of(retry) == plan_of(live)

    execute(settings, instance, retry)  # succeeded: never requested again
    clock.now = T + timedelta(minutes=3)
    done = tick(make_sensor(settings, clock), instance, retried.cursor)
    assert not done.run_requests and not done.asset_events


def test_a_window_materialised_before_its_run_failed_is_not_retried(settings, instance, tmp_path):
    """A run that wrote raw_video_snapshots and failed later (e.g. a blocking check downstream) is no gap."""
    clock = Clock(T)
    first = tick(make_sensor(settings, clock), instance, None)
    [live] = first.run_requests
    run = create_run_for_test(
        instance, job_name=WINDOW_JOB_NAME, status=dg.DagsterRunStatus.STARTED, tags={"dagster/partition": KEY}
    )
    instance.report_runless_asset_event(dg.AssetMaterialization("raw_video_snapshots", partition=KEY))
    instance.report_run_failed(run, "step video_velocity failed")
    clock.now = T + timedelta(minutes=1)
    result = tick(make_sensor(settings, clock), instance, first.cursor)
    assert not result.run_requests and not result.asset_events


def test_a_window_no_longer_observable_is_marked_as_a_gap_once_with_the_reason(settings, instance, tmp_path):
    clock = Clock(T)
    sensor = dict(simulator=False)  # against TikTok: observable for TIKTOK_MAX_WINDOW_AGE_MINUTES (15) only
    first, _, failed = first_window(settings, instance, clock, tmp_path, **sensor)
    clock.now = T + timedelta(minutes=20)  # the daemon was down: 10:35 closed 20 minutes ago
    later = tick(make_sensor(settings, clock, **sensor), instance, first.cursor)
    assert [r.run_key for r in later.run_requests] == ["2026-11-20-10:55"]  # the live window, no retry
    [mark] = gap_marks(later)
    assert mark.asset_key == dg.AssetKey("raw_video_snapshots")
    reason = mark.metadata["reason"].value
    assert failed.run_id in reason and "no longer observable" in reason and "TIKTOK_MAX_WINDOW_AGE_MINUTES" in reason
    assert "lists no creators" in reason  # Dagster's failure description of that run
    assert mark.metadata["failed_run"].value == failed.run_id
    # the downtime gaps in between are marked as before
    assert [e.partition for e in later.asset_events if e.partition != KEY] == [
        "2026-11-20-10:40",
        "2026-11-20-10:45",
        "2026-11-20-10:50",
    ]
    clock.now = T + timedelta(minutes=21)
    once = tick(make_sensor(settings, clock, **sensor), instance, later.cursor)
    assert not gap_marks(once) and not once.run_requests


def test_a_retry_needs_a_minute_of_observability_left(settings, instance, tmp_path):
    clock = Clock(T)
    sensor = dict(simulator=False)
    first, _, _ = first_window(settings, instance, clock, tmp_path, **sensor)
    clock.now = datetime(2026, 11, 20, 10, 53, 30, tzinfo=UTC)  # closed 13.5 minutes ago: still observable
    assert [r.run_key for r in tick(make_sensor(settings, clock, **sensor), instance, first.cursor).run_requests] == [
        "2026-11-20-10:45",
        f"{KEY}:retry-1",
    ]
    clock.now = datetime(2026, 11, 20, 10, 54, 30, tzinfo=UTC)  # 30 s left: a run could not observe it in time
    late = tick(make_sensor(settings, clock, **sensor), instance, first.cursor)
    assert [r.run_key for r in late.run_requests] == ["2026-11-20-10:45"] and len(gap_marks(late)) == 1


def test_a_landed_window_is_retried_after_it_stopped_being_observable(settings, instance, tmp_path):
    """Its landing file is re-parsed, never collected again: no gap although TikTok can no longer be asked."""
    clock = Clock(T)
    sensor = dict(simulator=False)
    first, _, _ = first_window(settings, instance, clock, tmp_path, **sensor)
    path = landing_path(settings.landing_dir, "display_api", datetime(2026, 11, 20, 10, 35, tzinfo=UTC))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")  # only its existence matters to the sensor
    clock.now = T + timedelta(minutes=20)
    later = tick(make_sensor(settings, clock, **sensor), instance, first.cursor)
    assert f"{KEY}:retry-1" in [r.run_key for r in later.run_requests] and not gap_marks(later)


def test_attempts_are_bounded_then_the_window_is_a_gap(settings, instance, tmp_path):
    clock = Clock(T)
    policy = PollingPolicy(max_retries=2)
    first, _, failed = first_window(settings, instance, clock, tmp_path, policy=policy)
    cursor, run_ids = first.cursor, [failed.run_id]
    for attempt in (1, 2):
        clock.now += timedelta(seconds=30)
        result = tick(make_sensor(settings, clock, policy=policy), instance, cursor)
        [retry] = result.run_requests
        assert retry.run_key == f"{KEY}:retry-{attempt}"
        run_ids.append(execute(settings, instance, retry, failing=True, tmp_path=tmp_path).run_id)
        cursor = result.cursor
    clock.now += timedelta(seconds=30)
    exhausted = tick(make_sensor(settings, clock, policy=policy), instance, cursor)
    assert not exhausted.run_requests
    [mark] = gap_marks(exhausted)
    reason = mark.metadata["reason"].value
    assert "attempts exhausted" in reason and "TIKTOK_POLL_MAX_RETRIES" in reason and run_ids[-1] in reason
    assert mark.metadata["attempts"].value == 3
    clock.now += timedelta(seconds=30)
    assert not tick(make_sensor(settings, clock, policy=policy), instance, exhausted.cursor).asset_events


def test_a_retry_waits_for_budget_left_by_the_live_window(settings, instance, tmp_path):
    clock = Clock(T)
    first, live, _ = first_window(settings, instance, clock, tmp_path)
    spent = plan_of(live)["planned_requests"]
    tight = PollingPolicy(budget_requests=spent)  # the live window's plan takes the whole budget of its period
    clock.now = T + timedelta(minutes=1)
    waiting = tick(make_sensor(settings, clock, policy=tight), instance, first.cursor)
    assert not waiting.run_requests
    listed = plan_of(live)["endpoint_requests"]["video/list"]
    assert listed > 0
    list_spent = PollingPolicy(budget_video_list=listed)  # plenty overall, but video/list is spent for the period
    assert not tick(make_sensor(settings, clock, policy=list_spent), instance, first.cursor).run_requests
    roomy = PollingPolicy(budget_requests=2 * spent)
    assert [
        r.run_key for r in tick(make_sensor(settings, clock, policy=roomy), instance, first.cursor).run_requests
    ] == [f"{KEY}:retry-1"]


def test_with_demand_above_the_budget_a_retry_takes_what_videos_not_due_would_have(settings, instance, tmp_path):
    """The budget below demand is spent whole, yet a failed window's retry is not starved until it is a gap: the next
    live window holds back, from its polls of videos not due, what the retry's due polls need, and the retry sends
    those (its failed run's polls of videos not due are dropped); the live window still polls every due video."""
    first_creator, *others = load_registry(settings.registry_path).usernames
    polled = datetime(2026, 11, 20, 10, 39)  # a minute before the 10:35 window's end: cold videos not due for 15
    rows = [(f"new-{i:02d}", first_creator, None, None, None, False) for i in range(20)]  # new: due every window
    rows += [(f"{c}-{i:02d}", c, polled, 0.5, 0.1, True) for c in others for i in range(20)]
    videos = pl.DataFrame(
        [
            {"video_id": v, "creator_username": c, "last_polled_at": at, "views_per_minute": vpm, "momentum": m}
            | {"has_history": h, "create_time": datetime(2026, 11, 10)}
            for v, c, at, vpm, m, h in rows
        ],
        schema=VIDEO_STATE_SCHEMA,
    )
    creators = pl.DataFrame(
        {"creator_username": [first_creator, *others], "last_discovered_at": [polled] * (1 + len(others))},
        schema=CREATOR_STATE_SCHEMA,
    )
    write_polling_state(PollingState(videos=videos, creators=creators), settings.polling_state_dir)
    tight = PollingPolicy(budget_requests=3)  # demand: one request a creator, 5 or more
    assert len(others) >= 4
    clock, sensor = Clock(T), dict(simulator=False, policy=tight)  # against TikTok: a gap 15 minutes after close
    first, failed_live, _ = first_window(settings, instance, clock, tmp_path, **sensor)
    failed_plan = plan_of(failed_live)
    assert failed_plan["planned_requests"] == 3 and failed_plan["filled_videos"] == 40  # the whole budget spent

    clock.now = T + WINDOW
    nxt = tick(make_sensor(settings, clock, **sensor), instance, first.cursor)
    assert [r.run_key for r in nxt.run_requests] == ["2026-11-20-10:40", f"{KEY}:retry-1"]
    live, retry = (plan_of(r) for r in nxt.run_requests)
    assert live["due_videos"] == 20 and live["deferred_videos"] == 0 and len(live["videos"][first_creator]) == 20
    assert live["planned_requests"] == 2 and live["reserved"]["video/query"] == 1  # one request not due held back
    assert retry["videos"] == {first_creator: failed_plan["videos"][first_creator]} and retry["planned_requests"] == 1
    assert live["planned_requests"] + retry["planned_requests"] <= tight.budget()
    assert not gap_marks(nxt)


def test_a_retry_is_cut_to_fit_only_on_the_tick_that_held_budget_back_for_it():
    """Within the period, a retry that does not fit waits for the next window's tick (which holds its due part back
    from the live window's polls of videos not due); on that tick, what the due videos leave is all it gets."""
    ids = {c: [f"{c}{i:02d}" for i in range(20)] for c in "ab"}
    plan = {"videos": ids, "due_per_creator": {"a": 20, "b": 20}, "deferred_videos": 0, "planned_requests": 2}
    plan |= {"endpoint_requests": {"user/info": 0, "video/list": 0, "video/query": 2}, "discover": []}
    failed = dg.DagsterRun(job_name=WINDOW_JOB_NAME, run_id="failed-run", tags={"dagster/partition": KEY})
    left = {"total": 1, "user/info": 9, "video/list": 9, "video/query": 9}
    waiting = FollowUp(retries=[Retry(KEY, failed, 1, plan)])
    fit_retry(waiting, left, cut=False)
    assert not waiting.requests
    held = FollowUp(retries=[Retry(KEY, failed, 1, plan)])
    fit_retry(held, left, cut=True)
    [retry] = held.requests
    assert plan_of(retry)["videos"] == {"a": ids["a"]} and plan_of(retry)["deferred_videos"] == 20
    assert held.spent == {"total": 1, "user/info": 0, "video/list": 0, "video/query": 1}


def test_one_retry_at_a_time(settings, instance, tmp_path):
    clock = Clock(T)
    first, _, _ = first_window(settings, instance, clock, tmp_path)
    clock.now = T + WINDOW
    second = tick(make_sensor(settings, clock), instance, first.cursor)
    live, retry = second.run_requests
    execute(settings, instance, live, failing=True, tmp_path=tmp_path)
    in_flight = create_run_for_test(  # the retry's run, created and not started yet
        instance,
        job_name=WINDOW_JOB_NAME,
        status=dg.DagsterRunStatus.NOT_STARTED,
        tags={**retry.tags, "dagster/partition": KEY},
    )
    clock.now += timedelta(minutes=1)
    assert not tick(make_sensor(settings, clock), instance, second.cursor).run_requests  # 10:40 waits for 10:35's
    instance.report_run_canceled(in_flight, "canceled by an operator")
    keys = [r.run_key for r in tick(make_sensor(settings, clock), instance, second.cursor).run_requests]
    assert keys == [f"{KEY}:retry-2"]  # the oldest first, still one at a time


def test_the_sensor_definition_retries_a_failed_window(settings, instance, tmp_path):
    """Through build_sensor_context with the repository's resources, on the wall clock."""
    key = window_key(latest_closed_window(datetime.now(UTC)))
    request = dg.RunRequest(run_key=key, partition_key=key)
    failed = execute(settings, instance, request, failing=True, tmp_path=tmp_path)
    cursor = PollCursor(last_window=key, followed=[key]).model_dump_json()
    defs = build_definitions(settings)
    context = dg.build_sensor_context(instance=instance, resources=dict(defs.resources), cursor=cursor)
    result = polling_sensor(context)
    retries = [r for r in result.run_requests if r.tags.get(RETRY_OF_TAG)]
    assert [(r.run_key, r.tags[RETRY_OF_TAG]) for r in retries] == [(f"{key}:retry-1", failed.run_id)]
    assert json.loads(result.cursor)["last_window"] >= key


@pytest.mark.parametrize(
    "status", [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.CANCELING]
)
def test_runs_not_finished_are_waited_for_even_past_observability(settings, instance, status):
    """A run still on decides for itself (it fails as not observable if it starts too late): no retry, no mark.

    QUEUED runs (which need a code location to create) are covered on PostgreSQL by postgres/test_failed_windows.py."""
    clock = Clock(T)
    first = tick(make_sensor(settings, clock), instance, None)
    run = create_run_for_test(instance, job_name=WINDOW_JOB_NAME, status=status, tags={"dagster/partition": KEY})
    assert run.status == status
    clock.now = T + timedelta(minutes=20)
    later = tick(make_sensor(settings, clock, simulator=False), instance, first.cursor)
    assert [r.partition_key for r in later.run_requests] == ["2026-11-20-10:55"] and not gap_marks(later)
