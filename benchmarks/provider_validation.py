"""Benchmark: validate the analytics provider as the playbook asks, against the simulator's ground truth.

Polls the simulated provider every 5-minute window for ``--hours`` with the pipeline's own client, collection and
parser (``ingest/collect/provider.py``, ``ingest/parse/provider.py``), each window observed as of its end, and
measures what a buyer cannot read in the provider's documentation:

- **effective refresh interval**: per creator, the time between successive distinct ``updated_at`` values
  (median, p90), against the interval the pipeline assumes (``TIKTOK_PROVIDER_REFRESH_MINUTES``);
- **staleness**: per observation, fetch instant (the window's end) minus ``updated_at`` (p50, p90, max), and how far
  the reported views lag the truth at the fetch instant (relative, p50 / p90);
- **coverage**: the share of the world's creators the provider lists (the truth world has ``--world-creators``, more
  than the provider covers), the share of the world's videos it lists (all creators, and the covered creators only),
  and how many covered creators never authorised the app (beyond the Display API world's ``--authorised``);
- **accuracy**: the share of observations whose counts equal the truth at their own ``updated_at``.

Writes the figures with the date measured to ``docs/provider-validation.json`` (``--output``), which the
``governance_report`` asset shows. Against the simulator the provider's own rate limit is lifted (the figures are
about data, not throughput).

Run: .venv/bin/python benchmarks/provider_validation.py      (a few seconds on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import polars as pl
from pydantic import SecretStr

from tiktok_pipeline.ingest.collect.provider import collect_provider_window
from tiktok_pipeline.ingest.parse.provider import parse_provider
from tiktok_pipeline.settings.provider import ProviderSettings
from tiktok_pipeline.simulator.provider.app import ProviderApi
from tiktok_pipeline.simulator.provider.catalog import ProviderConfig
from tiktok_pipeline.simulator.world import World, WorldConfig
from tiktok_pipeline.sources.analytics_provider.client import ProviderClient
from tiktok_pipeline.sources.http import SIMULATOR_HOOKS, SlidingWindowLimiter
from tiktok_pipeline.windows import WINDOW

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "provider-validation.json"
START = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def measure(hours: float, config: ProviderConfig, world_creators: int, authorised: int, seed: int) -> dict[str, Any]:
    api = ProviderApi(seed, config.model_copy(update={"requests_per_minute": 1_000_000}))
    truth = World(WorldConfig(seed=seed, creators=world_creators))
    client = ProviderClient(
        "http://provider.invalid",
        username=config.username,
        password=SecretStr(config.password),
        transport=httpx.MockTransport(api.handle),
        limiter=SlidingWindowLimiter(1_000_000, 60.0),
        request_hooks=SIMULATOR_HOOKS,
    )
    crawls: dict[str, set[datetime]] = defaultdict(set)
    staleness, view_lag, exact = [], [], 0
    listed_all: set[str] = set()
    world_videos: set[str] = set()
    covered_creators: set[str] = set()
    observations = 0
    windows = int(hours * 60 / 5)
    with client:
        for k in range(windows):
            start = START + k * WINDOW
            fetched = start + WINDOW
            collected = collect_provider_window(client, start, fetched, page_size=20, max_pages=50)
            videos = parse_provider(collected.records, "benchmark").videos
            at = fetched.timestamp()
            window_truth = {v.id for c in truth.creators() for v in truth.videos_as_of(c.username, at)}
            world_videos |= window_truth
            listed_all |= set(videos["video_id"])
            for row in videos.iter_rows(named=True):
                observations += 1
                updated = row["observed_at"].replace(tzinfo=UTC)
                crawls[row["creator_username"]].add(updated)
                covered_creators.add(row["creator_username"])
                staleness.append((fetched - updated).total_seconds() / 60)
                now_views = truth.counts(row["video_id"], at).view_count
                if now_views:
                    view_lag.append((now_views - row["view_count"]) / now_views)
                then = truth.counts(row["video_id"], updated.timestamp())
                exact += (then.view_count, then.like_count) == (row["view_count"], row["like_count"])
    gaps = [
        (b - a).total_seconds() / 60
        for moments in crawls.values()
        for a, b in zip(sorted(moments), sorted(moments)[1:], strict=False)
    ]
    covered = {c.username for c in truth.creators()} & covered_creators
    covered_videos = {
        v.id
        for c in truth.creators()
        if c.username in covered
        for k in range(windows)
        for v in truth.videos_as_of(c.username, (START + (k + 1) * WINDOW).timestamp())
    }
    authorised_names = {c.username for c in World(WorldConfig(seed=seed, creators=authorised)).creators()}
    return {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "against": "simulator (tiktok_pipeline/simulator/provider/)",
        "hours_polled": hours,
        "windows": windows,
        "observations": observations,
        "assumed_refresh_minutes": ProviderSettings().refresh_minutes,
        "simulated_refresh_minutes": config.refresh_minutes,
        "effective_refresh_minutes_median": round(statistics.median(gaps), 2) if gaps else None,
        "effective_refresh_minutes_p90": round(quantile(gaps, 0.9), 2) if gaps else None,
        "staleness_minutes_p50": round(quantile(staleness, 0.5), 2),
        "staleness_minutes_p90": round(quantile(staleness, 0.9), 2),
        "staleness_minutes_max": round(max(staleness), 2),
        "view_lag_share_p50": round(quantile(view_lag, 0.5), 4),
        "view_lag_share_p90": round(quantile(view_lag, 0.9), 4),
        "counts_exact_at_updated_at_share": round(exact / observations, 4) if observations else None,
        "creators_in_world": world_creators,
        "creators_covered": len(covered),
        "creator_coverage": round(len(covered) / world_creators, 4),
        "covered_creators_not_authorised": len(covered - authorised_names),
        "videos_in_world": len(world_videos),
        "videos_listed": len(listed_all & world_videos),
        "video_coverage": round(len(listed_all & world_videos) / len(world_videos), 4) if world_videos else None,
        "video_coverage_of_covered_creators": (
            round(len(listed_all & covered_videos) / len(covered_videos), 4) if covered_videos else None
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=12.0, help="hours of 5-minute windows polled")
    parser.add_argument("--refresh-minutes", type=float, default=15.0, help="the simulated provider's crawl interval")
    parser.add_argument("--coverage", type=float, default=0.8, help="the simulated provider's video coverage")
    parser.add_argument("--world-creators", type=int, default=16, help="creators in the truth world")
    parser.add_argument("--authorised", type=int, default=6, help="creators who authorised the app (Display API)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where the figures are written ('-': nowhere)")
    args = parser.parse_args()
    config = ProviderConfig(refresh_minutes=args.refresh_minutes, coverage=args.coverage)
    began = time.perf_counter()
    figures = measure(args.hours, config, args.world_creators, args.authorised, args.seed)
    figures["benchmark_seconds"] = round(time.perf_counter() - began, 1)
    print(pl.DataFrame({"figure": list(figures), "value": [str(v) for v in figures.values()]}))
    if str(args.output) != "-":
        args.output.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
