"""Benchmark: adaptive polling against fixed 15-minute polling over one simulated day.

Both strategies poll the simulator's ground truth (the same world, the same seed) window by window,
compute velocity with the pipeline's own functions, and spend the same number of requests: the
adaptive planner's per-window budget is the fixed strategy's average. Demand (every video every
window) is about twice that (a third of the videos each window, plus discovery), so the budget is smaller
than demand. ``benchmarks/polling_quota.py`` runs the same comparison, and the defaults against polling
everything, at 2,000 to 100,000 videos. For each video that goes viral
during the day it prints the detection lag: from the true onset to the end of the first window whose
velocity shows it (momentum >= --detect-momentum), and the share of requests each strategy spent.

Run: .venv/bin/python benchmarks/polling_day.py            (about a minute on 2 cores)
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import polars as pl

from tiktok_pipeline.ingest.polling.plan import CREATOR_STATE_SCHEMA, VIDEO_STATE_SCHEMA, plan_window
from tiktok_pipeline.ingest.polling.policy import PollingPolicy, requests_for
from tiktok_pipeline.metrics.enrichment import engagement_rate
from tiktok_pipeline.metrics.velocity import compute_velocity
from tiktok_pipeline.simulator.world import World, WorldConfig
from tiktok_pipeline.windows import WINDOW

HISTORY = timedelta(hours=2)


@dataclass
class Run:
    """One strategy's day: observations, requests and the first detection of each video."""

    name: str
    requests: int = 0
    observations: list[dict] = field(default_factory=list)
    last_polled: dict[str, datetime] = field(default_factory=dict)
    last_velocity: dict[str, dict] = field(default_factory=dict)
    last_discovered: dict[str, datetime] = field(default_factory=dict)
    known: dict[str, tuple[str, int]] = field(default_factory=dict)  # video -> (creator, create_time)
    detected: dict[str, datetime] = field(default_factory=dict)


def observe(world: World, run: Run, polls: dict[str, list[str]], at: datetime, detect: float) -> None:
    """Observe ``polls`` (creator -> video ids) at ``at`` and update velocity, state and detections."""
    t = at.timestamp()
    naive = at.replace(tzinfo=None)
    rows = []
    for creator, ids in polls.items():
        for video_id in ids:
            c = world.counts(video_id, t)
            rows.append(
                {
                    "window_start": naive - WINDOW,
                    "observed_at": naive,
                    "video_id": video_id,
                    "creator_username": creator,
                    "create_time": datetime.fromtimestamp(run.known[video_id][1], UTC).replace(tzinfo=None),
                    "view_count": c.view_count,
                    "like_count": c.like_count,
                    "comment_count": c.comment_count,
                    "share_count": c.share_count,
                }
            )
            run.last_polled[video_id] = naive
    if not rows:
        return
    current = pl.DataFrame(rows).with_columns(engagement_rate())
    run.observations = [o for o in run.observations if o["observed_at"] >= naive - HISTORY]
    run.observations += current.select("video_id", "observed_at", "view_count", "engagement_rate").to_dicts()
    velocity = compute_velocity(current, pl.DataFrame(run.observations))
    for row in velocity.iter_rows(named=True):
        previous = run.last_velocity.get(row["video_id"], {})
        run.last_velocity[row["video_id"]] = {
            "views_per_minute": row["views_per_minute"]
            if row["views_per_minute"] is not None
            else previous.get("views_per_minute"),
            "momentum": row["momentum"] if row["momentum"] is not None else previous.get("momentum"),
            "has_history": previous.get("has_history", False) or row["baseline_observed_at"] is not None,
        }
        if row["momentum"] is not None and row["momentum"] >= detect and row["video_id"] not in run.detected:
            run.detected[row["video_id"]] = at


def discover(world: World, run: Run, creators: list[str], at: datetime, horizon: timedelta) -> dict[str, list[str]]:
    """video/list for ``creators``: every recent video is observed, new ones become known."""
    polls = {}
    for creator in creators:
        videos = [v for v in world.videos_as_of(creator, at.timestamp()) if v.create_time >= (at - horizon).timestamp()]
        for v in videos:
            run.known[v.id] = (creator, v.create_time)
        polls[creator] = [v.id for v in videos]
        run.requests += 1 + requests_for(len(videos) + 1)
        run.last_discovered[creator] = at.replace(tzinfo=None)
    return polls


def fixed_day(
    world: World, creators: list[str], start: datetime, windows: int, policy: PollingPolicy, detect: float
) -> Run:
    """Every known video every 15 minutes (a third of them each window), discovery on the policy's cadence."""
    run = Run("fixed 15-minute")
    every = policy.discovery_every_minutes // 5
    for w in range(windows):
        at = start + (w + 1) * WINDOW
        polls = discover(world, run, creators, at, world_horizon(world)) if w % every == 0 else {}
        discovered = set(polls)  # their videos came with the discovery (not every creator with a poll)
        for video_id, (creator, _) in run.known.items():
            if creator in discovered or int(video_id) % 3 != w % 3:
                continue
            polls.setdefault(creator, []).append(video_id)
        run.requests += sum(
            requests_for(len(ids)) for c, ids in polls.items() if run.last_discovered.get(c) != at.replace(tzinfo=None)
        )
        observe(world, run, polls, at, detect)
    return run


def adaptive_day(
    world: World,
    creators: list[str],
    start: datetime,
    windows: int,
    policy: PollingPolicy,
    detect: float,
    on_window: Callable[[datetime, Run], None] | None = None,
) -> Run:
    """The pipeline's planner, window by window, on the same world (``on_window(at, run)`` after each window)."""
    run = Run("adaptive")
    for w in range(windows):
        at = start + (w + 1) * WINDOW
        naive = at.replace(tzinfo=None)
        horizon_start = (at - world_horizon(world)).timestamp()
        state = pl.DataFrame(
            [
                {
                    "video_id": v,
                    "creator_username": creator,
                    "last_polled_at": run.last_polled.get(v),
                    **{k: run.last_velocity.get(v, {}).get(k) for k in ("views_per_minute", "momentum")},
                    "has_history": run.last_velocity.get(v, {}).get("has_history", False),
                    "create_time": datetime.fromtimestamp(created, UTC).replace(tzinfo=None),
                }
                for v, (creator, created) in run.known.items()
                if created >= horizon_start
            ],
            schema=VIDEO_STATE_SCHEMA,
        )
        creator_state = pl.DataFrame(
            {"creator_username": list(run.last_discovered), "last_discovered_at": list(run.last_discovered.values())},
            schema=CREATOR_STATE_SCHEMA,
        )
        plan = plan_window(state, creators, creator_state, naive, policy)
        polls = discover(world, run, plan.discover, at, world_horizon(world))
        for creator, ids in plan.videos.items():
            run.requests += requests_for(len(ids))
            polls.setdefault(creator, []).extend(ids)
        observe(world, run, polls, at, detect)
        if on_window is not None:
            on_window(at, run)
    return run


def world_horizon(world: World) -> timedelta:
    return timedelta(days=world.config.history_days)


def lags(run: Run, onsets: dict[str, int]) -> list[float]:
    """Minutes from onset to detection for each viral video (inf when never detected)."""
    out = []
    for video_id, onset in onsets.items():
        found = run.detected.get(video_id)
        if found is not None and found.timestamp() < onset:
            found = None  # momentum from before the onset (a young video) is not a detection of it
        out.append(math.inf if found is None else (found.timestamp() - onset) / 60)
    return out


def summarise(name: str, minutes: list[float], requests: int, reference: int) -> str:
    finite = sorted(m for m in minutes if math.isfinite(m))
    p95 = finite[min(len(finite) - 1, math.ceil(0.95 * len(finite)) - 1)] if finite else math.nan
    return (
        f"{name:<16} detected {len(finite):>3}/{len(minutes):<3}  median lag {statistics.median(finite) if finite else math.nan:6.1f} min"
        f"  p95 lag {p95:6.1f} min  requests {requests:>7} ({requests / reference:.0%} of fixed)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creators", type=int, default=20)
    parser.add_argument("--post-interval-hours", type=float, default=1.5, help="mean hours between a creator's posts")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--day", default="2026-11-18", help="UTC day to simulate")
    parser.add_argument("--detect-momentum", type=float, default=2.0)
    args = parser.parse_args(argv)

    world = World(
        WorldConfig(seed=args.seed, creators=args.creators, mean_post_interval_hours=args.post_interval_hours)
    )
    creators = [c.username for c in world.creators()]
    start = datetime.fromisoformat(args.day).replace(tzinfo=UTC)
    windows = 288
    policy = PollingPolicy()
    began = time.perf_counter()
    fixed = fixed_day(world, creators, start, windows, policy, args.detect_momentum)
    adaptive_policy = policy.model_copy(update={"budget_requests": max(1, fixed.requests // windows)})
    adaptive = adaptive_day(world, creators, start, windows, adaptive_policy, args.detect_momentum)
    end = start + windows * WINDOW
    # viral onsets inside the day, on videos both strategies tracked, with two hours left to catch them
    onsets = {
        v: world.video(v).viral_onset
        for v in set(fixed.known) & set(adaptive.known)
        if world.video(v).viral_onset is not None
        and start.timestamp() + 3600 <= world.video(v).viral_onset <= (end - timedelta(hours=2)).timestamp()
    }
    per_creator = pl.Series([creator for creator, _ in fixed.known.values()]).value_counts()
    demand = sum(requests_for(n) for n in per_creator["count"])
    print(
        f"world: seed {args.seed}, {len(creators)} creators, {len(fixed.known)} videos tracked over the day; "
        f"{len(onsets)} viral onsets in the measured span"
    )
    print(
        f"budget: {adaptive_policy.budget_requests} requests/window (fixed strategy's average); "
        f"demand to poll every video every window: about {demand} requests/window"
    )
    print(summarise(fixed.name, lags(fixed, onsets), fixed.requests, fixed.requests))
    print(summarise(adaptive.name, lags(adaptive, onsets), adaptive.requests, fixed.requests))
    print(f"({time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
