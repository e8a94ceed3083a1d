"""Benchmark: how well "surging" flags match the simulator's truth over one simulated day.

The simulator knows which videos go viral and when (``VideoTruth.viral_onset``; the surge is a logistic that starts
at the onset and rises over ``viral_rise_seconds``, see ``simulator/curves.py``). This benchmark polls that world
window by window with the pipeline's own adaptive planner and default policy (``benchmarks/polling_day.py``),
computes velocity with the pipeline's functions, and flags a video as surging in a window when its momentum reaches
a threshold: the alerts' (``TIKTOK_ALERT_MOMENTUM_THRESHOLD``, default 3.0) and any given with ``--thresholds``.

A *recommendation* is the first window of a run of consecutive flagged windows of one video (a video that stays
surging is one recommendation, not one per window). It is *true* when it starts within the video's true surge: from
the onset to the end of the surge (``2 * SURGE_MIDPOINT`` rise times) plus the 30-minute velocity look-back.
Printed per threshold: precision (true recommendations / all), recall (viral onsets in the measured span caught by
a true recommendation / those onsets), and the lag from the true onset to the end of the window that flagged it
(median, p90), and the lead before the surge climbs fastest (its logistic midpoint, ``SURGE_MIDPOINT`` rise times
after the onset: the time a growth team has to act; median, p10). Onsets are measured from
the day's first hour to two hours before its end, so every one has time to be seen.

Run: .venv/bin/python benchmarks/surging.py            (about half a minute on 2 cores)
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from polling_day import Run, adaptive_day, world_horizon

from tiktok_pipeline.ingest.polling.policy import PollingPolicy
from tiktok_pipeline.settings import AlertSettings
from tiktok_pipeline.simulator.curves import SURGE_MIDPOINT
from tiktok_pipeline.simulator.world import VideoTruth, World, WorldConfig
from tiktok_pipeline.windows import WINDOW

LOOKBACK = timedelta(minutes=30)
"""Velocity's baseline distance: a surge shows in momentum up to this long after it ended."""


@dataclass
class Flags:
    """Per threshold: the recommendations (video, window end), from the windows each video was observed in."""

    thresholds: list[float]
    recommendations: dict[float, list[tuple[str, datetime]]] = field(default_factory=dict)
    flagged_last: dict[float, set[str]] = field(default_factory=dict)

    def on_window(self, at: datetime, run: Run) -> None:
        """After a window: each observed video's momentum against every threshold; a new run of flags starts one."""
        naive = at.replace(tzinfo=None)
        observed = {v: s for v, s in run.last_velocity.items() if run.last_polled.get(v) == naive}
        for threshold in self.thresholds:
            now_flagged = {v for v, s in observed.items() if s["momentum"] is not None and s["momentum"] >= threshold}
            before = self.flagged_last.get(threshold, set())
            self.recommendations.setdefault(threshold, []).extend((v, at) for v in sorted(now_flagged - before))
            unobserved_still_flagged = {v for v in before if v not in observed}
            self.flagged_last[threshold] = now_flagged | unobserved_still_flagged


def true_surge(video: VideoTruth | None) -> tuple[float, float] | None:
    """The span (epoch seconds) in which a flag of ``video`` is explained by its surge; None for a non-viral video."""
    if video is None or video.viral_onset is None:
        return None
    rise = video.curve.viral_rise_seconds
    return video.viral_onset, video.viral_onset + 2 * SURGE_MIDPOINT * rise + LOOKBACK.total_seconds()


@dataclass(frozen=True)
class Score:
    """One threshold's figures."""

    threshold: float
    recommendations: int
    true: int
    onsets: int
    caught: int
    lags_minutes: list[float]
    leads_minutes: list[float]

    @property
    def precision(self) -> float:
        return self.true / self.recommendations if self.recommendations else math.nan

    @property
    def recall(self) -> float:
        return self.caught / self.onsets if self.onsets else math.nan


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def score(world: World, threshold: float, recommendations: list[tuple[str, datetime]], onsets: dict[str, int]) -> Score:
    """Precision over every recommendation of the day; recall and lag over the measured onsets."""
    true = 0
    first_true: dict[str, datetime] = {}
    for video_id, at in recommendations:
        span = true_surge(world.video(video_id))
        if span is not None and span[0] <= at.timestamp() <= span[1]:
            true += 1
            first_true.setdefault(video_id, at)
    lags = [(first_true[v].timestamp() - onset) / 60 for v, onset in onsets.items() if v in first_true]
    leads = [(steepest(world, v) - first_true[v].timestamp()) / 60 for v in onsets if v in first_true]
    return Score(threshold, len(recommendations), true, len(onsets), len(lags), lags, leads)


def steepest(world: World, video_id: str) -> float:
    """When the video's surge climbs fastest (its logistic midpoint), epoch seconds."""
    video = world.video(video_id)
    assert video is not None and video.viral_onset is not None
    return video.viral_onset + SURGE_MIDPOINT * video.curve.viral_rise_seconds


def describe(s: Score) -> str:
    median = statistics.median(s.lags_minutes) if s.lags_minutes else math.nan
    lead = statistics.median(s.leads_minutes) if s.leads_minutes else math.nan
    return (
        f"momentum >= {s.threshold:<4g} recommendations {s.recommendations:>4}  precision {s.precision:5.2f}"
        f" ({s.true}/{s.recommendations})  recall {s.recall:5.2f} ({s.caught}/{s.onsets})"
        f"  lag from onset: median {median:5.1f} min, p90 {percentile(s.lags_minutes, 0.9):5.1f} min"
        f"  lead before steepest climb: median {lead:5.1f} min, p10 {percentile(s.leads_minutes, 0.1):5.1f} min"
    )


def main(argv: list[str] | None = None) -> list[Score]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creators", type=int, default=20)
    parser.add_argument("--post-interval-hours", type=float, default=1.5, help="mean hours between a creator's posts")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--day", default="2026-11-18", help="UTC day to simulate")
    parser.add_argument("--windows", type=int, default=288, help="5-minute windows simulated (288: a day)")
    parser.add_argument(
        "--thresholds",
        default=f"2,{AlertSettings().alert_momentum_threshold:g},5",
        help="comma-separated momentum thresholds (default: 2, the alerts' default, 5)",
    )
    args = parser.parse_args(argv)
    thresholds = sorted({float(t) for t in args.thresholds.split(",")})

    world = World(
        WorldConfig(seed=args.seed, creators=args.creators, mean_post_interval_hours=args.post_interval_hours)
    )
    creators = [c.username for c in world.creators()]
    start = datetime.fromisoformat(args.day).replace(tzinfo=UTC)
    end = start + args.windows * WINDOW
    began = time.perf_counter()
    flags = Flags(thresholds)
    run = adaptive_day(world, creators, start, args.windows, PollingPolicy(), min(thresholds), flags.on_window)
    onsets = {
        v: onset
        for v in run.known
        if (onset := world.video(v).viral_onset) is not None
        and start.timestamp() + 3600 <= onset <= (end - timedelta(hours=2)).timestamp()
    }
    viral = sum(1 for v in run.known if world.video(v).is_viral)
    print(
        f"world: seed {args.seed}, {len(creators)} creators, {len(run.known)} videos tracked over {args.windows} windows"
        f" ({viral} viral); {len(onsets)} viral onsets in the measured span; {run.requests} requests"
        f" (history {world_horizon(world).days} days)"
    )
    scores = [score(world, t, flags.recommendations.get(t, []), onsets) for t in thresholds]
    for s in scores:
        print(describe(s))
    print(f"({time.perf_counter() - began:.0f} s)")
    return scores


if __name__ == "__main__":
    main()
