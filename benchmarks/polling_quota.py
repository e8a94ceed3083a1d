"""Benchmark: does adaptive polling spend the quota? One simulated day at about 2,000, 20,000 and 100,000 videos.

For each scale it prints detection lag (median, p95: from a video's true viral onset to the end of the first
window whose momentum >= 2 after it) and the requests spent by:

(a) the planner with the default budgets (each endpoint 90% of TIKTOK_REQUESTS_PER_MINUTE over a window), against
    polling every tracked video every window (a reference; beyond ~60,000 videos it needs more requests than
    TikTok's 600 a minute per endpoint allow);
(b) a budget of a third of demand: fixed 15-minute cadence (every video every third window), and the planner with
    the fixed strategy's average requests a window as its overall cap (TIKTOK_POLL_BUDGET_REQUESTS), once per
    ``--young-hours`` value (TIKTOK_POLL_YOUNG_HOURS), and once ("sent") with the cap raised by the spare
    video/list pages the planner reserves but does not send, so both send the same; each with its lags' ratio to
    the fixed cadence's, and poll-everything's ratio (the ceiling).

Then the cost of one polling sensor tick at the largest scale: ``polling_tick`` on an ephemeral Dagster instance,
reading the day's final polling state (Parquet) and planning it.

Every strategy observes the simulator's world (same seed) at window ends and discovers each creator (user/info +
video/list, every recent video observed) on the policy's 60-minute cadence. The planner is the pipeline's own
``plan_window`` fed the polling state each window, as the sensor is. To reach 100,000 videos in minutes, views
come from a NumPy copy of the simulator's curves (``simulator/curves.py``: organic saturation plus the viral
surge; the world has no corrections) and velocity from a NumPy copy of the pipeline's formula (views per minute
against the latest observation at least 30 minutes earlier, momentum = that over the lifetime rate, at least 1 a
minute); ``--check`` compares the views with the simulator's own ``World.counts`` (every video, every 3 hours).

Run: .venv/bin/python benchmarks/polling_quota.py            (a few minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from tiktok_pipeline.ingest.polling.plan import CREATOR_STATE_SCHEMA, VIDEO_STATE_SCHEMA, plan_window
from tiktok_pipeline.ingest.polling.policy import PollingPolicy, requests_for
from tiktok_pipeline.metrics.velocity import LOOKBACK, MIN_LIFETIME_RATE
from tiktok_pipeline.simulator.curves import SURGE_MIDPOINT
from tiktok_pipeline.simulator.world import World, WorldConfig
from tiktok_pipeline.sources.display_api.models import MAX_VIDEOS_PER_REQUEST
from tiktok_pipeline.windows import WINDOW, WINDOW_MINUTES

WINDOWS = 288
STEP = int(WINDOW.total_seconds())
BASELINE_WINDOWS = int(LOOKBACK / WINDOW)
POST_INTERVAL_HOURS = 1.0
VIDEOS_PER_CREATOR = 122  # a week of posts tracked (TIKTOK_TRACKING_HORIZON_DAYS), as this world posts


@dataclass
class Universe:
    """Every video a creator published within the horizon before the day or during it: one Polars row each
    (``video_id``, ``creator`` index, ``creator_username`` and the curve's parameters)."""

    world: World
    creators: list[str]
    videos: pl.DataFrame

    @property
    def size(self) -> int:
        return self.videos.height

    def column(self, name: str) -> pl.Series:
        return self.videos.get_column(name)

    def views(self, index: pl.Series, t: float) -> pl.Series:
        """Views of the videos at ``index`` at ``t``, as ``simulator.curves.views_at`` computes them."""
        age = t - pl.col("created")
        elapsed = t - pl.col("onset")
        floor = 1 / (1 + math.exp(SURGE_MIDPOINT))
        x = pl.min_horizontal(elapsed / pl.col("rise"), pl.lit(60.0))
        surge = pl.when(elapsed > 0).then(((1 / (1 + (-(x - SURGE_MIDPOINT)).exp())) - floor) / (1 - floor))
        organic = pl.when(age > 0).then(pl.col("base") * (1 - (-age / pl.col("tau")).exp())).otherwise(0.0)
        views = (organic + (pl.col("viral") * surge).fill_null(0.0)).floor().clip(lower_bound=0)
        return self.videos[index].select(views.alias("views")).to_series()


def universe(creators: int, seed: int, start: datetime) -> Universe:
    """The world's videos from a horizon before ``start`` to the day's end (one pass over the world's truth)."""
    world = World(WorldConfig(seed=seed, creators=creators, mean_post_interval_hours=POST_INTERVAL_HOURS))
    names = [c.username for c in world.creators()]
    end = (start + WINDOWS * WINDOW).timestamp()
    rows = [
        {
            "video_id": v.id,
            "creator": i,
            "creator_username": name,
            "created": float(v.create_time),
            "base": v.curve.base_views,
            "tau": v.curve.tau_seconds,
            "onset": None if v.viral_onset is None else float(v.viral_onset),
            "viral": v.curve.viral_views,
            "rise": v.curve.viral_rise_seconds,
        }
        for i, name in enumerate(names)
        for v in world.videos_as_of(name, end)
    ]
    assert world.config.correction_share == 0  # the NumPy-free copy of the curves leaves corrections out
    return Universe(world, names, pl.DataFrame(rows, schema_overrides={"onset": pl.Float64}))


def nans(n: int) -> pl.Series:
    return pl.Series([math.nan] * n, dtype=pl.Float64)


@dataclass
class Day:
    """One strategy's day: what it knows, what it observed, what it spent, when it detected each video.
    One Series per column, one row per video of the universe (NaN: none yet; -1: never)."""

    name: str
    u: Universe
    discovered: dict[int, int] = field(default_factory=dict)  # creator -> window
    requests: int = 0
    queries: int = 0  # video/query requests
    queried: int = 0  # video ids they carried

    def __post_init__(self) -> None:
        n = self.u.size
        self.known = pl.Series([False] * n)
        self.recent = [nans(n) for _ in range(BASELINE_WINDOWS + 1)]  # views of the last windows (a ring)
        self.last_polled = pl.Series([-1] * n, dtype=pl.Int64)
        self.baseline = pl.Series([-1] * n, dtype=pl.Int64)  # window of the latest poll at least LOOKBACK ago
        self.baseline_views = nans(n)
        self.vpm, self.momentum, self.detected = nans(n), nans(n), nans(n)
        self.has_history = pl.Series([False] * n)


def tracked(day: Day, t: float) -> pl.Series:
    """Known videos within the tracking horizon at ``t``."""
    created = day.u.column("created")
    return day.known & (created >= t - 7 * 86400) & (created <= t)


def per_creator(day: Day, index: pl.Series) -> list[int]:
    """Videos at ``index`` per creator (creators without any left out)."""
    return day.u.column("creator").gather(index).value_counts()["count"].to_list()


def discover(day: Day, creators: list[int], w: int, t: float) -> pl.Series:
    """video/list for ``creators``: every recent video of theirs becomes known and is observed."""
    created = day.u.column("created")
    mine = day.u.column("creator").is_in(creators) & (created <= t) & (created >= t - 7 * 86400)
    index = mine.arg_true()
    day.known = day.known | mine
    listed = dict(day.u.column("creator").gather(index).value_counts().iter_rows())
    day.requests += sum(1 + requests_for(listed.get(c, 0) + 1) for c in creators)
    for c in creators:
        day.discovered[c] = w
    return index


def refresh(day: Day, index: pl.Series) -> None:
    """Count the video/query requests for ``index`` (20 ids a request, per creator)."""
    queries = sum(requests_for(n) for n in per_creator(day, index))
    day.requests, day.queries, day.queried = day.requests + queries, day.queries + queries, day.queried + index.len()


def observe(day: Day, index: pl.Series, w: int, t: float, detect: float) -> None:
    """Observe ``index`` at the end of window ``w``: velocity against the baseline, state, detections."""
    ring = len(day.recent)
    if w >= BASELINE_WINDOWS:  # the latest poll at or before LOOKBACK ago becomes the baseline
        column = day.recent[(w - BASELINE_WINDOWS) % ring]
        polled = column.is_not_nan().arg_true()
        day.baseline.scatter(polled, w - BASELINE_WINDOWS)
        day.baseline_views.scatter(polled, column.gather(polled))
    index = index.unique().sort()
    views = day.u.views(index, t)
    day.recent[w % ring] = nans(day.u.size).scatter(index, views)
    day.last_polled.scatter(index, w)
    frame = pl.DataFrame(
        {
            "i": index,
            "views": views,
            "base": day.baseline.gather(index),
            "base_views": day.baseline_views.gather(index),
            "created": day.u.column("created").gather(index),
            "onset": day.u.column("onset").gather(index),
            "detected": day.detected.gather(index),
        }
    ).filter(pl.col("base") >= 0)
    age = (t - pl.col("created")) / 60
    lifetime = pl.max_horizontal(pl.when(age > 0).then(pl.col("views") / age).otherwise(0.0), MIN_LIFETIME_RATE)
    vpm = (pl.col("views") - pl.col("base_views")) / ((w - pl.col("base")) * STEP / 60)
    frame = frame.with_columns(vpm=vpm).with_columns(momentum=pl.col("vpm") / lifetime)
    day.vpm.scatter(frame["i"], frame["vpm"])
    day.momentum.scatter(frame["i"], frame["momentum"])
    day.has_history.scatter(frame["i"], True)
    hit = frame.filter((pl.col("momentum") >= detect) & pl.col("detected").is_nan())["i"]
    if hit.len():
        day.detected.scatter(hit, t)


def due_discoveries(day: Day, w: int, every: int) -> list[int]:
    """Creators whose discovery is due on the policy's cadence (never discovered ones first)."""
    return [c for c in range(len(day.u.creators)) if w - day.discovered.get(c, -every) >= every]


def just_discovered(day: Day, w: int) -> pl.Series:
    return day.u.column("creator").is_in([c for c, d in day.discovered.items() if d == w])


def poll_everything(u: Universe, start: datetime, policy: PollingPolicy, detect: float) -> Day:
    """Every tracked video every window (video/query), discovery on the policy's cadence."""
    day = Day("poll everything", u)
    every = policy.discovery_every_minutes // 5
    for w in range(WINDOWS):
        t = (start + (w + 1) * WINDOW).timestamp()
        found = discover(day, due_discoveries(day, w, every), w, t)
        rest = (tracked(day, t) & ~just_discovered(day, w)).arg_true()
        refresh(day, rest)
        observe(day, pl.concat([found, rest]), w, t, detect)
    return day


def fixed_day(u: Universe, start: datetime, policy: PollingPolicy, detect: float) -> Day:
    """Every tracked video every 15 minutes, discovery on the policy's cadence. A third of each creator's videos
    each window, in full requests: its videos by age in runs of 20, run k polled in windows k, k + 3, ..."""
    day = Day("fixed 15-minute", u)
    every = policy.discovery_every_minutes // 5
    rank = pl.col("created").rank("ordinal").over("creator") - 1
    third = u.videos.select((rank // MAX_VIDEOS_PER_REQUEST) % 3).to_series()
    for w in range(WINDOWS):
        t = (start + (w + 1) * WINDOW).timestamp()
        found = discover(day, due_discoveries(day, w, every), w, t)
        rest = (tracked(day, t) & ~just_discovered(day, w) & (third == w % 3)).arg_true()
        refresh(day, rest)
        observe(day, pl.concat([found, rest]), w, t, detect)
    return day


def state_frames(day: Day, t: float, start: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The polling state the sensor would read after window ``t`` (``state.py``'s frames)."""
    index = tracked(day, t).arg_true()
    polled = day.last_polled.gather(index)
    at = pl.select(
        pl.when(polled >= 0).then(((start.timestamp() + (polled + 1) * STEP) * 1_000_000).cast(pl.Int64))
    ).to_series()
    videos = pl.DataFrame(
        [
            day.u.column("video_id").gather(index),
            day.u.column("creator_username").gather(index),
            at.cast(pl.Datetime("us")).alias("last_polled_at"),
            day.vpm.gather(index).fill_nan(None).alias("views_per_minute"),
            day.momentum.gather(index).fill_nan(None).alias("momentum"),
            day.has_history.gather(index).alias("has_history"),
            (day.u.column("created").gather(index) * 1_000_000)
            .cast(pl.Int64)
            .cast(pl.Datetime("us"))
            .alias("create_time"),
        ]
    ).cast(pl.Schema(VIDEO_STATE_SCHEMA))
    creators = pl.DataFrame(
        {
            "creator_username": [day.u.creators[c] for c in day.discovered],
            "last_discovered_at": [(start + (w + 1) * WINDOW).replace(tzinfo=None) for w in day.discovered.values()],
        },
        schema=CREATOR_STATE_SCHEMA,
    )
    return videos, creators


def adaptive_day(name: str, u: Universe, start: datetime, policy: PollingPolicy, detect: float) -> tuple[Day, list]:
    """The pipeline's planner, window by window; also returns the seconds each ``plan_window`` took."""
    day = Day(name, u)
    position = {c: i for i, c in enumerate(u.creators)}
    rows = u.videos.select("video_id", i=pl.int_range(pl.len(), dtype=pl.UInt32))
    plan_seconds = []
    for w in range(WINDOWS):
        at = start + (w + 1) * WINDOW
        t = at.timestamp()
        videos, creators = state_frames(day, t, start)
        began = time.perf_counter()
        plan = plan_window(videos, u.creators, creators, at.replace(tzinfo=None), policy)
        plan_seconds.append(time.perf_counter() - began)
        found = discover(day, [position[c] for c in plan.discover], w, t)
        ids = pl.DataFrame(
            {"video_id": [v for batch in plan.videos.values() for v in batch]}, schema={"video_id": pl.String}
        )
        refreshed = ids.join(rows, on="video_id")["i"]
        queries = sum(requests_for(len(batch)) for batch in plan.videos.values())
        day.requests, day.queries, day.queried = day.requests + queries, day.queries + queries, day.queried + ids.height
        observe(day, pl.concat([found.cast(pl.UInt32), refreshed]), w, t, detect)
    return day, plan_seconds


def lag_stats(day: Day, onsets: pl.Series) -> tuple[int, float, float]:
    """Detections, median and p95 lag (minutes from onset to detection) of one strategy."""
    found, onset = day.detected.gather(onsets), day.u.column("onset").gather(onsets)
    # momentum that reached the threshold before the onset (a young video) is not a detection of it
    lag = ((found - onset) / 60).filter(found.is_not_nan() & (found >= onset)).sort()
    p95 = lag[min(lag.len() - 1, math.ceil(0.95 * lag.len()) - 1)] if lag.len() else math.nan
    median = lag.median() if lag.len() else math.nan
    return lag.len(), float(median), float(p95)  # type: ignore[arg-type]


def line(day: Day, onsets: pl.Series, reference: int, against: Day | None = None) -> str:
    """Detections, median and p95 lag and requests of one strategy (and its lags' ratio to ``against``'s)."""
    found, median, p95 = lag_stats(day, onsets)
    ratio = ""
    if against is not None:
        _, their_median, their_p95 = lag_stats(against, onsets)
        ratio = f"  fixed/this: median {their_median / median:.2f}x, p95 {their_p95 / p95:.2f}x"
    return (
        f"  {day.name:<30} detected {found:>4}/{onsets.len():<4} median lag {median:5.2f} min  p95 {p95:5.2f} min"
        f"  requests {day.requests:>9,} ({day.requests / WINDOWS:7.1f}/window, {day.requests / reference:4.0%})"
        f"  {day.queried / max(day.queries, 1):4.1f} ids/video/query{ratio}"
    )


def tick_cost(day: Day, start: datetime, policy: PollingPolicy) -> str:
    """Seconds of one ``polling_tick`` (reading the state's Parquet, planning, the run request) at this scale."""
    import dagster as dg

    from tiktok_pipeline.ingest.polling.retry import WindowFollowing
    from tiktok_pipeline.ingest.polling.state import PollingState, write_polling_state
    from tiktok_pipeline.ingest.polling.tick import PollCursor, polling_tick
    from tiktok_pipeline.ingest.registry import TrackingRegistry

    end = start + WINDOWS * WINDOW
    videos, creators = state_frames(day, end.timestamp(), start)
    # every creator discovered in the last window: no discovery due, every video through video/query (the most)
    creators = creators.with_columns(last_discovered_at=pl.lit(end.replace(tzinfo=None), dtype=pl.Datetime("us")))
    registry = TrackingRegistry.model_validate({"creators": [{"username": c} for c in day.u.creators]})
    timings, planned = [], 0
    with tempfile.TemporaryDirectory() as tmp, dg.DagsterInstance.ephemeral() as instance:
        write_polling_state(PollingState(videos, creators), Path(tmp))
        for minutes in (5, 10, 15):  # the hot videos due, then the warm, then every one (a quarter hour on)
            cursor = PollCursor(last_window=f"{end - WINDOW:%Y-%m-%d-%H:%M}").model_dump_json()
            began = time.perf_counter()
            result = polling_tick(
                instance,
                cursor,
                end + timedelta(minutes=minutes, seconds=15),
                registry=registry,
                registry_path="(benchmark)",
                policy=policy,
                state_dir=tmp,
                partitions_start=start,
                warm_up=False,
                following=WindowFollowing("window_pipeline_job", True, timedelta(minutes=15), Path(tmp)),
            )
            timings.append(time.perf_counter() - began)
            assert isinstance(result, dg.SensorResult), result
            plan = result.run_requests[0].run_config["ops"]["raw_snapshots"]["config"]["plan"]
            planned = max(planned, sum(len(v) for v in plan["videos"].values()))
            size = len(json.dumps(result.run_requests[0].run_config))
    return (
        f"polling sensor tick at {videos.height:,} tracked videos ({len(day.u.creators)} creators): "
        f"{', '.join(f'{s:.2f}' for s in timings)} s (up to {planned:,} videos planned; run config {size / 1e6:.1f} MB)"
    )


def scale(creators: int, seed: int, start: datetime, detect: float, tick: bool, young_hours: list[float]) -> None:
    """Both comparisons at one scale."""
    began = time.perf_counter()
    u = universe(creators, seed, start)
    policy = PollingPolicy()
    end = start + WINDOWS * WINDOW
    onset = u.column("onset")
    measured = ((onset >= start.timestamp() + 3600) & (onset <= (end - timedelta(hours=2)).timestamp())).arg_true()
    everything = poll_everything(u, start, policy, detect)
    defaults, plan_seconds = adaptive_day("adaptive, defaults", u, start, policy, detect)
    fixed = fixed_day(u, start, policy, detect)
    cap = max(1, fixed.requests // WINDOWS)
    # the planner reserves a video/list page to spare per discovery, rarely sent: with the cap raised by those
    # pages (its discoveries a window) it sends about as many requests as the fixed strategy
    spare = math.ceil(creators * WINDOW_MINUTES / policy.discovery_every_minutes)
    variants = [(f"adaptive, cap, young {h:g} h", cap, h) for h in young_hours]
    variants.append((f"adaptive, sent, young {policy.young_hours:g} h", cap + spare, policy.young_hours))
    adaptive = [
        adaptive_day(name, u, start, policy.model_copy(update={"budget_requests": c, "young_hours": h}), detect)[0]
        for name, c, h in variants
    ]
    at_end = int(tracked(everything, end.timestamp()).sum())
    demand = everything.requests / WINDOWS
    print(
        f"\n{at_end:,} videos tracked at the day's end ({u.size:,} over the day), {creators} creators, "
        f"{measured.len()} viral onsets measured; demand (every video every window) {demand:,.0f} requests/window; "
        f"default budgets {policy.endpoint_budget()['video/query']:,}/window per endpoint"
    )
    print("(a) the defaults against polling every video every window")
    print(line(everything, measured, everything.requests))
    print(line(defaults, measured, everything.requests))
    print(
        f"(b) a third of demand: the fixed cadence against the planner with an overall cap of {cap:,} requests/window"
        f" (the fixed strategy's average; 'sent': {cap + spare:,}, plus the spare list pages it reserves)"
    )
    print(line(fixed, measured, fixed.requests))
    for day in adaptive:
        print(line(day, measured, fixed.requests, against=fixed))
    print(line(everything, measured, fixed.requests, against=fixed) + "  (the ceiling)")
    median = statistics.median(plan_seconds)
    print(f"  plan_window: median {median * 1000:.0f} ms, max {max(plan_seconds) * 1000:.0f} ms a window")
    if tick:
        print(tick_cost(defaults, start, policy))
    print(f"  ({time.perf_counter() - began:.0f} s)")


def check(u: Universe, start: datetime) -> None:
    """Assert the NumPy-free copy of the curves gives the simulator's own view counts."""
    every = pl.Series(range(u.size))
    for hours in range(0, 24, 3):
        t = start.timestamp() + hours * 3600 + 17
        mine = u.views(every, t).to_list()
        truth = [u.world.counts(v, t).view_count for v in u.column("video_id")]
        assert mine == [float(v) for v in truth], f"views differ at {hours} h"
    print(f"check: views of {u.size:,} videos equal World.counts at 8 instants")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, nargs="+", default=[2_000, 20_000, 100_000], help="tracked videos")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--day", default="2026-11-18", help="UTC day to simulate")
    parser.add_argument("--detect-momentum", type=float, default=2.0)
    parser.add_argument(
        "--young-hours", type=float, nargs="+", default=[24.0], help="TIKTOK_POLL_YOUNG_HOURS of the capped planners"
    )
    parser.add_argument("--check", action="store_true", help="compare the vectorised views with World.counts first")
    args = parser.parse_args(argv)
    start = datetime.fromisoformat(args.day).replace(tzinfo=UTC)
    if args.check:
        check(universe(max(1, round(args.videos[0] / VIDEOS_PER_CREATOR)), args.seed, start), start)
    for n, videos in enumerate(args.videos):
        creators = max(1, round(videos / VIDEOS_PER_CREATOR))
        scale(creators, args.seed, start, args.detect_momentum, n == len(args.videos) - 1, args.young_hours)


if __name__ == "__main__":
    main()
