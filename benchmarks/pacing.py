"""Benchmark: budget pacing's projected end-of-day spend against the actual one, over simulated days (issue 16).

For every daily-budget ad group of the simulator's ad account (seed 7, UTC account) and each of ``--days`` days,
at 30 minutes past each hour (00:30 .. 23:30) the pacing function (:func:`tiktok_pipeline.metrics.pacing.pace`)
projects the end-of-day spend from the spend **reported** so far (the report's 10-minute latency included: the
current hour is partly visible), exactly as ``pacing_recommendations`` does from raw_ad_metrics. The actual
end-of-day spend is the day's settled spend (the ad group's daily budget caps it, as TikTok's does). Printed: the
mean absolute percentage error (MAPE) of the projection by hour of day, with the default flat curve and with a
curve shaped like the simulator's delivery (``TIKTOK_PACING_HOUR_WEIGHTS``), and the ad-group days measured.
It asserts nothing. Only ad-group days that spent at least 1 USD count.

Run: .venv/bin/python benchmarks/pacing.py [--days 7]    (about 3 s for 7 days)
"""

from __future__ import annotations

import argparse
import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tiktok_pipeline.metrics.pacing import pace
from tiktok_pipeline.settings.pacing import FLAT_CURVE
from tiktok_pipeline.simulator.business.ads import HOUR, AdAccount
from tiktok_pipeline.simulator.business.budgets import DAY
from tiktok_pipeline.simulator.world import World, WorldConfig

FIRST_DAY = datetime(2026, 11, 16, tzinfo=UTC)
DIURNAL = tuple(0.6 + 0.4 * (1 - math.cos(2 * math.pi * (h + 0.5 - 4) / 24)) for h in range(24))
"""The simulator's delivery shape by UTC hour (ads.AdAccount._delivery): what a fitted curve would look like."""


def measure(days: int) -> tuple[dict[str, list[list[float]]], int]:
    """Absolute percentage errors by curve and hour of day, and the ad-group days measured."""
    account = AdAccount(World(WorldConfig(seed=7)))
    zone = ZoneInfo("UTC")
    errors: dict[str, list[list[float]]] = {"flat": [[] for _ in range(24)], "diurnal": [[] for _ in range(24)]}
    measured = 0
    for d in range(days):
        start = int((FIRST_DAY + timedelta(days=d)).timestamp())
        ads = account.ads_between(start, start + 86400)
        for group in {ad.adgroup.id for ad in ads}:
            if account.budgets.mode(group) != DAY:
                continue
            mine = [ad for ad in ads if ad.adgroup.id == group]
            actual = sum(account.settled(ad, start + h * HOUR).spend for ad in mine for h in range(24))
            if actual < 1:
                continue
            measured += 1
            budget = account.budgets.budget_at(group, start)
            for h in range(24):
                as_of = start + h * HOUR + 1800
                hourly = []
                for k in range(h + 1):
                    spend = sum(
                        (r.spend or 0.0)
                        for ad in mine
                        if (r := account.reported(ad, start + k * HOUR, as_of)) is not None
                    )
                    hourly.append((datetime.fromtimestamp(start + k * HOUR, UTC), spend))
                now = datetime.fromtimestamp(as_of, UTC)
                for name, curve in (("flat", FLAT_CURVE), ("diurnal", DIURNAL)):
                    projected = pace(group, budget, hourly, now, zone, curve).projected_eod
                    if projected is not None:
                        errors[name][h].append(abs(projected - actual) / actual)
    return errors, measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3)
    args = parser.parse_args()
    errors, measured = measure(args.days)
    print(
        f"projected vs actual end-of-day spend, {measured} ad-group days (seed 7, {args.days} days from {FIRST_DAY:%Y-%m-%d})"
    )
    print("| hour (local) | MAPE, flat curve | MAPE, diurnal curve |")
    print("|---|---|---|")
    for h in range(24):
        flat, diurnal = errors["flat"][h], errors["diurnal"][h]
        print(f"| {h:02d}:30 | {100 * sum(flat) / len(flat):.1f}% | {100 * sum(diurnal) / len(diurnal):.1f}% |")
    for name in ("flat", "diurnal"):
        every = [e for hour in errors[name] for e in hour]
        print(f"{name}: MAPE over every hour {100 * sum(every) / len(every):.1f}%")


if __name__ == "__main__":
    main()
