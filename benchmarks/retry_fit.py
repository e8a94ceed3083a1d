"""Benchmark: with demand above the budget, does a failed window's retry fit beside the next live window?

One simulated day (``benchmarks/polling_quota.py``'s world: seed 7, about 122 tracked videos a creator, the
pipeline's ``plan_window`` fed the polling state each window, the default budgets). For every window from the
second hour on, it supposes that window's run failed (each alone) and plans the next live window as the polling
sensor then does: the failed plan's due part (``retry_plan.due_part``) held back from the live window's polls of
videos not due. It prints how many of those failed windows are retried on that tick (and, for the others, on
the next window's: against TikTok a window can be retried on two window ticks, TIKTOK_MAX_WINDOW_AGE_MINUTES
being 15), what share of the failed
window's due part the retry sends (cut to what the live window's due videos leave, ``retry_plan.cut_to``), and
how many live windows deferred a due video (none should: due videos come first).

The day's trajectory is the one without failures (the videos a failed window would have refreshed are not
staler at the next window here), so the figures are a little optimistic.

Run: .venv/bin/python benchmarks/retry_fit.py --videos 20000 100000     (a few minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks import polling_quota as day_model  # noqa: E402
from tiktok_pipeline.ingest.polling.plan import budget_left, plan_costs, plan_window  # noqa: E402
from tiktok_pipeline.ingest.polling.policy import PollingPolicy  # noqa: E402
from tiktok_pipeline.ingest.polling.retry_plan import cut_to, due_part  # noqa: E402

FIRST = 12  # the first hour builds velocity; failures are supposed from the second hour on


def _retry(
    state: pl.DataFrame, usernames: list[str], creators: pl.DataFrame, at: datetime, policy: PollingPolicy, failed: Any
) -> tuple[dict[str, Any] | None, Any, dict[str, Any]]:
    """What the sensor's window tick sends for the ``failed`` plan: the retry (None: it waits), the live plan, and
    the failed plan's due part."""
    due = due_part(failed.model_dump())
    live = plan_window(state, usernames, creators, at, policy, reserve=plan_costs(due))
    return cut_to(due, budget_left(policy, 1.0, plan_costs(live.model_dump()))), live, due


def scale(videos: int, seed: int, start: datetime) -> None:
    """The retries of one day's failed windows at one scale."""
    began = time.perf_counter()
    u = day_model.universe(max(1, round(videos / day_model.VIDEOS_PER_CREATOR)), seed, start)
    policy = PollingPolicy()
    day = day_model.Day("defaults", u)
    position = {c: i for i, c in enumerate(u.creators)}
    rows = u.videos.select("video_id", i=pl.int_range(pl.len(), dtype=pl.UInt32))
    previous = waiting = None  # the previous window's plan; a failed window's plan not retried on the last tick
    retried, later, shares, deferred, failures = 0, 0, [], 0, 0
    for w in range(day_model.WINDOWS):
        at = start + (w + 1) * day_model.WINDOW
        state, creators = day_model.state_frames(day, at.timestamp(), start)
        naive = at.replace(tzinfo=None)
        plan = plan_window(state, u.creators, creators, naive, policy)
        if waiting is not None:  # the window before the previous one, not retried on the last tick: again
            later += _retry(state, u.creators, creators, naive, policy, waiting)[0] is not None
        waiting = None
        if previous is not None and w > FIRST:
            failures += 1
            retry, live, due = _retry(state, u.creators, creators, naive, policy, previous)
            retried += retry is not None
            waiting = previous if retry is None else None
            wanted = sum(len(ids) for ids in due["videos"].values())
            sent = sum(len(ids) for ids in retry["videos"].values()) if retry else 0
            shares.append(sent / wanted if wanted else float(retry is not None))  # nothing to refresh: discoveries
            deferred += live.deferred_videos > 0
        found = day_model.discover(day, [position[c] for c in plan.discover], w, at.timestamp())
        ids = pl.DataFrame(
            {"video_id": [v for batch in plan.videos.values() for v in batch]}, schema={"video_id": pl.String}
        )
        day_model.observe(
            day, pl.concat([found.cast(pl.UInt32), ids.join(rows, on="video_id")["i"]]), w, at.timestamp(), 2.0
        )
        previous = plan
    tracked = int(day_model.tracked(day, (start + day_model.WINDOWS * day_model.WINDOW).timestamp()).sum())
    print(
        f"{tracked:,} videos tracked at the day's end: {retried}/{failures} failed windows retried at the next "
        f"window, {retried + later} at the next or the one after; share of the failed window's due part sent: median {statistics.median(shares):.2f}, "
        f"p10 {statistics.quantiles(shares, n=10)[0]:.2f}, whole {sum(s >= 1 for s in shares)}; live windows "
        f"deferring a due video: {deferred} ({time.perf_counter() - began:.0f} s)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, nargs="+", default=[20_000, 100_000], help="tracked videos")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--day", default="2026-11-18", help="UTC day to simulate")
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f}")
    start = datetime.fromisoformat(args.day).replace(tzinfo=UTC)
    for videos in args.videos:
        scale(videos, args.seed, start)


if __name__ == "__main__":
    main()
