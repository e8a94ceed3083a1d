"""The polling sensor through ``build_sensor_context``: one run per window, cursor, budget, backoff, gaps."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.defs.videos.jobs import WINDOW_JOB_NAME
from tiktok_pipeline.defs.videos.sensors import PollCursor, polling_sensor
from tiktok_pipeline.ingest.polling.policy import PollingPolicy
from tiktok_pipeline.ingest.polling.retry import WindowFollowing
from tiktok_pipeline.ingest.polling.state import read_polling_state
from tiktok_pipeline.ingest.polling.tick import polling_tick
from tiktok_pipeline.ingest.registry import load_registry
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.simulator.world import WorldConfig
from tiktok_pipeline.windows import WINDOW, window_key
from tiktok_pipeline_tests.conftest import open_warehouse

from .test_assets import materialize_range

pytestmark = pytest.mark.heavy(20)  # seconds of a core, measured alone: started first under pytest-xdist

T = datetime(2026, 11, 20, 10, 40, 12, tzinfo=UTC)  # the 10:35 window has just closed
KEY = "2026-11-20-10:35"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Sensor:
    """The polling sensor's tick on a fixed clock, with the settings of the repository it belongs to."""

    def __init__(self, settings, clock, *, warm_up=False, policy=None, registry_path=None, simulator=True):
        self.settings, self.clock, self.warm_up = settings, clock, warm_up
        self.policy = policy or PollingPolicy()
        self.registry_path = registry_path or settings.registry_path
        self.following = WindowFollowing(
            WINDOW_JOB_NAME,
            at_window_end=simulator,
            max_age=timedelta(minutes=settings.display.max_window_age_minutes),
            landing_dir=settings.landing_dir,
        )


@dataclass
class Tick:
    run_requests: list
    cursor: str | None
    skip_message: str | None
    asset_events: list


def make_sensor(settings, clock, **kwargs) -> Sensor:
    return Sensor(settings, clock, **kwargs)


def tick(sensor: Sensor, instance, cursor) -> Tick:
    result = polling_tick(
        instance,
        cursor,
        sensor.clock(),
        registry=load_registry(sensor.registry_path),
        registry_path=str(sensor.registry_path),
        policy=sensor.policy,
        state_dir=str(sensor.settings.polling_state_dir),
        partitions_start=sensor.settings.partitions_start,
        warm_up=sensor.warm_up,
        following=sensor.following,
    )
    if isinstance(result, dg.SkipReason):
        return Tick([], None, result.skip_message, [])
    return Tick(list(result.run_requests), result.cursor, None, list(result.asset_events))


def plan_of(request: dg.RunRequest) -> dict:
    return request.run_config["ops"]["raw_snapshots"]["config"]["plan"]


def run(settings, instance, request: dg.RunRequest):
    if request.partition_key:
        key = datetime.strptime(request.partition_key, "%Y-%m-%d-%H:%M").replace(tzinfo=UTC)
        first = last = key
    else:
        parse = lambda k: datetime.strptime(k, "%Y-%m-%d-%H:%M").replace(tzinfo=UTC)  # noqa: E731
        first, last = (
            parse(request.tags["dagster/asset_partition_range_start"]),
            parse(request.tags["dagster/asset_partition_range_end"]),
        )
    result = materialize_range(settings, first, last, run_config=request.run_config or None, instance=instance)
    assert result.success
    return result


def test_one_run_per_window_with_a_monotonic_cursor(settings):
    clock = Clock(T)
    with dg.instance_for_test() as instance:
        sensor = make_sensor(settings, clock, warm_up=True)
        first = tick(sensor, instance, None)
        [warm] = first.run_requests
        # the first tick against the simulator fills the last 30 minutes too, as one run
        assert warm.tags["dagster/asset_partition_range_start"] == "2026-11-20-10:05"
        assert warm.tags["dagster/asset_partition_range_end"] == "2026-11-20-10:35"
        assert PollCursor.parse(first.cursor).last_window == "2026-11-20-10:35"
        run(settings, instance, warm)

        clock.now = T + timedelta(minutes=2)
        again = tick(sensor, instance, first.cursor)
        assert not again.run_requests and "already requested" in again.skip_message
        assert again.cursor in (None, first.cursor)

        # a restarted daemon (a new sensor object) with the stored cursor neither skips nor repeats
        clock.now = T + WINDOW
        restarted = make_sensor(settings, clock, warm_up=True)
        nxt = tick(restarted, instance, first.cursor)
        [request] = nxt.run_requests
        assert request.run_key == request.partition_key == "2026-11-20-10:40"
        assert PollCursor.parse(nxt.cursor).last_window == "2026-11-20-10:40"
        plan = plan_of(request)
        assert plan["discover"] == [] and plan["due_videos"] > 0
        run(settings, instance, request)
        with open_warehouse(settings) as con:
            mode, polled, deferred = con.execute(
                "SELECT mode, videos_polled, deferred_videos FROM poll_telemetry WHERE window_start = '2026-11-20 10:40:00'"
            ).fetchone()
        assert mode == "planned" and polled == sum(len(v) for v in plan["videos"].values()) and deferred == 0


def test_with_the_defaults_every_tracked_video_is_planned_every_window(settings):
    """The shipped registry costs a few requests a window against thousands of each endpoint: no video waits."""
    clock = Clock(T)
    with dg.instance_for_test() as instance:
        run(settings, instance, tick(make_sensor(settings, clock, warm_up=True), instance, None).run_requests[0])
        tracked = read_polling_state(settings.polling_state_dir).videos
        clock.now = T + WINDOW  # every video was observed 5 minutes before: only the hot ones are due
        [request] = tick(
            make_sensor(settings, clock), instance, PollCursor(last_window=KEY).model_dump_json()
        ).run_requests
        plan = plan_of(request)
        assert plan["discover"] == [] and tracked.height > 50 and 0 < plan["due_videos"] < tracked.height
        assert sorted(v for ids in plan["videos"].values() for v in ids) == sorted(tracked["video_id"])
        assert plan["deferred_videos"] == 0 and request.tags["tiktok/polled_videos"] == str(tracked.height)


def test_budget_is_respected_and_deferrals_counted(settings):
    clock = Clock(T)
    with dg.instance_for_test() as instance:
        run(settings, instance, tick(make_sensor(settings, clock, warm_up=True), instance, None).run_requests[0])
        clock.now = T + 3 * WINDOW  # 15 minutes on: every video is due again
        tight = make_sensor(settings, clock, policy=PollingPolicy(budget_requests=2))
        cursor = PollCursor(last_window="2026-11-20-10:45").model_dump_json()
        [request] = tick(tight, instance, cursor).run_requests
        plan = plan_of(request)
        assert plan["due_videos"] > 40 and plan["planned_requests"] <= 2 and plan["deferred_videos"] > 0
        assert request.tags["tiktok/deferred_videos"] == str(plan["deferred_videos"])
        run(settings, instance, request)
        with open_warehouse(settings) as con:
            requests, deferred = con.execute(
                "SELECT requests, deferred_videos FROM poll_telemetry WHERE window_start = '2026-11-20 10:50:00'"
            ).fetchone()
        assert requests <= 2 and deferred == plan["deferred_videos"]


def test_throttling_backs_off_and_recovers(settings):
    clock = Clock(T)
    with dg.instance_for_test() as instance:
        sensor = make_sensor(settings, clock, policy=PollingPolicy(budget_requests=100))
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                "poll_telemetry", partition="2026-11-20-10:30", metadata={"throttled": 4, "server_errors": 1}
            )
        )
        first = tick(sensor, instance, PollCursor(last_window="2026-11-20-10:30").model_dump_json())
        assert plan_of(first.run_requests[0])["backoff"] == 2.0 and plan_of(first.run_requests[0])["budget"] == 50
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                "poll_telemetry", partition="2026-11-20-10:35", metadata={"throttled": 0, "server_errors": 0}
            )
        )
        clock.now = T + WINDOW
        second = tick(sensor, instance, first.cursor)
        assert plan_of(second.run_requests[0])["backoff"] == 1.5  # gradual recovery
        clock.now = T + 2 * WINDOW  # no new telemetry yet: the backoff is not applied twice
        third = tick(sensor, instance, second.cursor)
        assert plan_of(third.run_requests[0])["backoff"] == 1.5


def test_catch_up_after_downtime_polls_the_latest_window_and_marks_gaps(settings):
    clock = Clock(T)
    with dg.instance_for_test() as instance:
        cursor = PollCursor(last_window=window_key(datetime(2026, 11, 20, 9, 35, tzinfo=UTC))).model_dump_json()
        result = tick(make_sensor(settings, clock, warm_up=True), instance, cursor)
        [request] = result.run_requests  # no flood: one run, for the latest window
        assert request.partition_key == "2026-11-20-10:35"
        assert plan_of(request)["gap_windows_before"] == 11
        gaps = [e.partition for e in result.asset_events]
        assert gaps == [window_key(datetime(2026, 11, 20, 9, 40, tzinfo=UTC) + i * WINDOW) for i in range(11)]
        assert all(e.metadata["gap"].value is True for e in result.asset_events)


@pytest.mark.parametrize("moment", [datetime(2026, 10, 31, 23, 50, tzinfo=UTC)])
def test_nothing_before_the_partitions_start(settings, moment):
    with dg.instance_for_test() as instance:
        result = tick(make_sensor(settings, Clock(moment)), instance, None)
        assert not result.run_requests and "TIKTOK_PARTITIONS_START" in result.skip_message


def test_the_sensor_definition_ticks_with_its_resources(settings):
    """The real sensor, through build_sensor_context with the repository's resources (wall clock)."""
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources=dict(defs.resources))
        result = polling_sensor(context)
        [request] = result.run_requests
        assert request.tags["dagster/asset_partition_range_end"] == PollCursor.parse(result.cursor).last_window
    assert polling_sensor.job_name == "window_pipeline_job"


def test_an_empty_registry_skips_naming_the_file_and_claims_no_window(settings, tmp_path):
    empty = tmp_path / "registry.json"
    empty.write_text('{"creators": []}')
    with dg.instance_for_test() as instance:
        cursor = PollCursor(last_window="2026-11-20-10:30").model_dump_json()
        result = tick(make_sensor(settings, Clock(T), registry_path=empty), instance, cursor)
        assert not result.run_requests and result.cursor is None  # the cursor stays: no window is claimed
        assert str(empty) in result.skip_message and "TIKTOK_REGISTRY_PATH" in result.skip_message
        # creators added: the latest window is polled, the windows in between are marked as gaps
        later = tick(make_sensor(settings, Clock(T + 2 * WINDOW)), instance, cursor)
        assert [r.partition_key for r in later.run_requests] == ["2026-11-20-10:45"]
        assert [e.partition for e in later.asset_events] == ["2026-11-20-10:35", "2026-11-20-10:40"]


def test_videos_published_in_the_last_day_are_due_every_window(settings):
    """The velocity run leaves each video's publication time in the polling state, and the sensor's plan holds the
    videos younger than TIKTOK_POLL_YOUNG_HOURS due every window (hot), as it does the accelerating ones."""
    clock = Clock(T)
    with dg.instance_for_test() as instance:
        run(settings, instance, tick(make_sensor(settings, clock, warm_up=True), instance, None).run_requests[0])
        tracked = read_polling_state(settings.polling_state_dir).videos
        assert tracked.height > 50 and tracked["create_time"].null_count() == 0
        clock.now = T + WINDOW  # every video was observed 5 minutes before: only the hot ones are due
        day_old = (clock.now - timedelta(days=1)).replace(tzinfo=None)
        young = tracked.filter(pl.col("create_time") > day_old).height
        plans = {}
        for hours in (24.0, 0.0):  # the default, and the age signal off
            sensor = make_sensor(settings, clock, policy=PollingPolicy(young_hours=hours))
            [request] = tick(sensor, instance, PollCursor(last_window=KEY).model_dump_json()).run_requests
            plans[hours] = plan_of(request)
        assert young > 2 and plans[24.0]["tiers"]["hot"] >= young
        assert plans[24.0]["due_videos"] > plans[0.0]["due_videos"], (young, plans[0.0]["tiers"])


def test_over_real_http_every_tracked_video_is_observed_every_window_in_full_requests(settings):
    """Issue 13's report, through the served simulator: with the defaults, each of consecutive windows the sensor
    plans observes every video tracked before it (not 1, 9, 77 and 9 of 85), and ``video/query`` sends each creator's
    videos in as few requests as 20 ids a request allows."""
    sim = Simulator(WorldConfig(seed=settings.sim_seed))
    with serve_in_thread(sim) as url:
        served = settings.replace(display__api_base_url=url, display__api_is_simulator=True)
        clock = Clock(T)
        with dg.instance_for_test() as instance:
            first = tick(make_sensor(served, clock, warm_up=True), instance, None)
            run(served, instance, first.run_requests[0])
            cursor = first.cursor
            for n in range(1, 4):
                tracked = set(read_polling_state(served.polling_state_dir).videos["video_id"])
                clock.now = T + n * WINDOW
                nxt = tick(make_sensor(served, clock), instance, cursor)
                [request] = nxt.run_requests
                cursor = nxt.cursor
                queries_before = sim.stats["requests /v2/video/query/"]
                run(served, instance, request)
                sent = sim.stats["requests /v2/video/query/"] - queries_before
                by_creator = plan_of(request)["videos"]
                assert sent == sum(-(-len(ids) // 20) for ids in by_creator.values() if ids)
                window = (T.replace(minute=35, second=0) + n * WINDOW).replace(tzinfo=None)
                with open_warehouse(served) as con:
                    observed = {
                        row[0]
                        for row in con.execute(
                            "SELECT video_id FROM raw_video_snapshots WHERE window_start = ?", [window]
                        ).fetchall()
                    }
                assert len(tracked) > 50 and tracked <= observed, (n, len(tracked - observed))
