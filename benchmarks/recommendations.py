"""Benchmark: surge flags, creative swaps and pacing raises against the simulator's truth over one simulated day.

The day of ``benchmarks/surging.py`` (the pipeline's adaptive planner and velocity over the seeded world, decoys and
noisy counts included), plus the simulator's ad account: every window, the Spark Ads' hourly rows as the reporting
API would answer them at the window's end (latency and attribution included) go through the pipeline's own
``metrics.ctr.ad_rates`` (trailing-hour CTR and its 30-minute change), then

- **surge flags**: :func:`tiktok_pipeline.metrics.surge.surge_flags` at the alerts' threshold (3.0);
- **creative swaps**: :func:`tiktok_pipeline.metrics.swaps.recommend_swaps` with the default ``TIKTOK_SWAP_*``
  (a video's campaigns: its creator's sponsoring campaigns, as in the shipped registry);
- **pacing raises**: :func:`tiktok_pipeline.metrics.pacing.pace` and :func:`~tiktok_pipeline.metrics.pacing.recommend`
  per daily-budget ad group with the default ``TIKTOK_PACING_*`` (recommend mode: a raise starts the cooldown).

each under every :class:`~tiktok_pipeline.metrics.surge.SurgeRule` of ``--rules`` (``persist:rising`` minutes;
``0`` is today's one-observation rule). A flag or swap is one per run of consecutive windows naming the same video
(the boosted video for a swap); every raise counts. It is **true** when its video (the flagged, the boosted, the
ad group's surging boosted video) is within its true surge at that window (``surging.true_surge``: onset to the
surge's end plus the 30-minute look-back; a decoy's burst never is). Recall is over the day's measured viral
onsets (``surging.py``'s span) of the videos each kind can name: every onset for flags, onsets of videos no ad
boosts for swaps, onsets of videos a daily-budget ad group boosts for raises. Lag: from the true onset to the first
true recommendation (median, p90). The pacing projection's error is ``benchmarks/pacing.py``'s (printed too).

Run: .venv/bin/python benchmarks/recommendations.py            (a few minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pacing import measure as pacing_errors
from polling_day import Run, adaptive_day
from surging import percentile, true_surge

from tiktok_pipeline.ingest.polling.policy import PollingPolicy
from tiktok_pipeline.metrics.ctr import ad_rates
from tiktok_pipeline.metrics.pacing import Guardrails, History, Signals, Thresholds, pace, recommend
from tiktok_pipeline.metrics.surge import SurgeRule, surge_flags
from tiktok_pipeline.metrics.swaps import SwapPolicy, recommend_swaps
from tiktok_pipeline.settings import AlertSettings
from tiktok_pipeline.settings.activation import SwapSettings
from tiktok_pipeline.settings.pacing import FLAT_CURVE, PacingSettings
from tiktok_pipeline.simulator.business.ads import HOUR, REPORTING_LATENCY_SECONDS, Ad, AdAccount
from tiktok_pipeline.simulator.business.budgets import DAY
from tiktok_pipeline.simulator.world import World, WorldConfig
from tiktok_pipeline.windows import WINDOW

KEEP = timedelta(hours=2)
KINDS = ("flags", "swaps", "raises")


@dataclass
class Tally:
    """One rule's recommendations of each kind: (video, window end), and the open runs of flags and swaps."""

    rule: SurgeRule
    found: dict[str, list[tuple[str, datetime]]] = field(default_factory=lambda: {k: [] for k in KINDS})
    open_runs: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})
    last_raise: dict[str, datetime] = field(default_factory=dict)

    def runs(self, kind: str, videos: set[str], at: datetime) -> None:
        """A video named in this window but not the last one starts a new recommendation."""
        self.found[kind].extend((v, at) for v in sorted(videos - self.open_runs[kind]))
        self.open_runs[kind] = videos


class Day:
    """Per window: the pipeline's velocity (from the run), the ads' rates and the three kinds of recommendation."""

    def __init__(self, world: World, account: AdAccount, rules: list[SurgeRule]) -> None:
        self.world, self.account = world, account
        self.tallies = [Tally(rule) for rule in rules]
        self.history: list[dict] = []
        self.swap = SwapSettings()
        pacing = PacingSettings()
        self.thresholds = Thresholds(
            pacing.pacing_surge_momentum, pacing.pacing_ctr_drop, pacing.pacing_overspend_ratio
        )
        self.guardrails = Guardrails(
            pacing.pacing_max_step_percent,
            pacing.pacing_max_day_percent,
            pacing.pacing_floor,
            pacing.pacing_ceiling,
            pacing.pacing_cooldown_minutes,
        )
        self.alert_threshold = AlertSettings().alert_momentum_threshold
        self.final_spend: dict[tuple[str, int], float] = {}
        self.boosted_by_day_group: set[str] = set()
        self.unboosted: set[str] = set()

    def campaigns(self, creator: str) -> list[str]:
        c = self.world.creator(creator)
        return [] if c is None else [campaign.name for campaign in self.account.sponsors(c.index)]

    def hourly(self, ads: list[Ad], t: float) -> pl.DataFrame:
        """The ads' hourly rows of the last three hours as the reporting API answers them at ``t``."""
        rows = []
        fetched = datetime.fromtimestamp(t, UTC).replace(tzinfo=None)
        for ad in ads:
            for hour in range(int(t // HOUR) * HOUR - 2 * HOUR, int(t) + 1, HOUR):
                r = self.account.reported(ad, hour, t)
                if r is None:
                    continue
                rows.append(
                    {
                        "ad_id": ad.id,
                        "adgroup_id": ad.adgroup.id,
                        "video_id": ad.video.id,
                        "campaign_name": ad.campaign.name,
                        "stat_time_hour": datetime.fromtimestamp(hour, UTC).replace(tzinfo=None),
                        "fetched_at": fetched,
                        "impressions": r.impressions,
                        "clicks": r.clicks,
                        "spend": r.spend,
                        "video_play_actions": r.video_play_actions,
                        "video_watched_2s": r.video_watched_2s,
                        "profile_visits": r.profile_visits,
                    }
                )
        return pl.DataFrame(rows, infer_schema_length=None)

    def spend_today(self, ads: list[Ad], t: float) -> list[tuple[datetime, float]]:
        """The ad group's hourly spend of today (UTC account) as reported at ``t`` (final hours cached)."""
        out = []
        for hour in range(int(t // 86400) * 86400, int(t) + 1, HOUR):
            total = 0.0
            for ad in ads:
                key = (ad.id, hour)
                if key in self.final_spend:
                    total += self.final_spend[key]
                    continue
                r = self.account.reported(ad, hour, t)
                spend = (r.spend or 0.0) if r is not None else 0.0
                if t >= hour + HOUR + REPORTING_LATENCY_SECONDS:
                    self.final_spend[key] = spend
                total += spend
            out.append((datetime.fromtimestamp(hour, UTC), total))
        return out

    def on_window(self, at: datetime, run: Run) -> None:
        t = at.timestamp()
        naive = at.replace(tzinfo=None)
        window_start = naive - WINDOW
        observed = {v: s for v, s in run.last_velocity.items() if run.last_polled.get(v) == naive}
        self.history = [h for h in self.history if h["observed_at"] >= naive - KEEP]
        self.history += [{"video_id": v, "observed_at": naive, "momentum": s["momentum"]} for v, s in observed.items()]
        history = pl.DataFrame(
            self.history, schema={"video_id": pl.String, "observed_at": pl.Datetime("us"), "momentum": pl.Float64}
        )
        ads = [ad for ad in self.account.ads_between(t - 3 * HOUR, t) if ad.start <= t]
        active = [ad for ad in ads if ad.start <= t < ad.end]
        boosted: dict[str, int] = {}
        for ad in active:
            boosted[ad.video.id] = boosted.get(ad.video.id, 0) + 1
            if self.account.budgets.mode(ad.adgroup.id) == DAY:
                self.boosted_by_day_group.add(ad.video.id)
        self.unboosted |= {v for v in observed if v not in boosted}
        hourly = self.hourly(ads, t)
        rates = ad_rates(hourly, [window_start]) if hourly.height else pl.DataFrame()
        creator_of = {ad.video.id: ad.video.creator_username for ad in ads}
        ad_frame = (
            rates.with_columns(
                pl.col("video_id").replace_strict(creator_of, default=None).alias("creator_username"),
                pl.lit(naive).alias("observed_at"),
            )
            if rates.height
            else None
        )
        videos = pl.DataFrame(
            [
                {
                    "window_start": window_start,
                    "video_id": v,
                    "creator_username": run.known[v][0],
                    "campaign_ids": self.campaigns(run.known[v][0]),
                    "views_per_minute": s["views_per_minute"],
                    "momentum": s["momentum"],
                    "engagement_rate": None,
                    "share_rate": None,
                    "share_rate_30m": None,
                    "active_ads": boosted.get(v, 0),
                }
                for v, s in observed.items()
            ],
            schema={
                "window_start": pl.Datetime("us"),
                "video_id": pl.String,
                "creator_username": pl.String,
                "campaign_ids": pl.List(pl.String),
                "views_per_minute": pl.Float64,
                "momentum": pl.Float64,
                "engagement_rate": pl.Float64,
                "share_rate": pl.Float64,
                "share_rate_30m": pl.Float64,
                "active_ads": pl.Int64,
            },
        )
        for tally in self.tallies:
            self.recommend(tally, history, videos, ad_frame, active, at)

    def surging(self, history: pl.DataFrame, rule: SurgeRule, at: datetime) -> set[str]:
        flags = surge_flags(history, rule).filter(pl.col("observed_at") == at.replace(tzinfo=None))
        return set(flags.filter(pl.col("surging"))["video_id"])

    def recommend(
        self,
        tally: Tally,
        history: pl.DataFrame,
        videos: pl.DataFrame,
        ads: pl.DataFrame | None,
        active: list[Ad],
        at: datetime,
    ) -> None:
        rule = tally.rule
        tally.runs("flags", self.surging(history, rule.with_threshold(self.alert_threshold), at), at)
        swap_surging = self.surging(history, rule.with_threshold(self.swap.momentum_threshold), at)
        swaps: set[str] = set()
        if ads is not None:
            policy = SwapPolicy(self.swap.ctr_change_threshold, self.swap.min_impressions, self.swap.momentum_threshold)
            eligible = videos.filter(pl.col("video_id").is_in(sorted(swap_surging)))
            swaps = set(recommend_swaps(ads, eligible, policy)["boost_video_id"])
        tally.runs("swaps", swaps, at)
        self.raises(tally, history, ads, active, at)

    def raises(
        self, tally: Tally, history: pl.DataFrame, ads: pl.DataFrame | None, active: list[Ad], at: datetime
    ) -> None:
        surging = self.surging(history, tally.rule.with_threshold(self.thresholds.surge_momentum), at)
        momentum = {
            r["video_id"]: r["momentum"]
            for r in history.filter(pl.col("observed_at") == at.replace(tzinfo=None)).iter_rows(named=True)
        }
        ctr = {} if ads is None else {r["video_id"]: r for r in ads.iter_rows(named=True)}
        groups: dict[str, list[Ad]] = {}
        for ad in active:
            if self.account.budgets.mode(ad.adgroup.id) == DAY:
                groups.setdefault(ad.adgroup.id, []).append(ad)
        window_start = at - WINDOW
        for group, group_ads in sorted(groups.items()):
            candidates = sorted(
                (v for v in {ad.video.id for ad in group_ads} if v in surging), key=lambda v: -(momentum[v] or 0)
            )
            if not candidates:
                continue
            video = candidates[0]
            figures = ctr.get(video, {})
            signals = Signals(momentum[video], video, figures.get("ctr"), figures.get("ctr_change_30m"))
            budget = self.account.budgets.budget_at(group, at.timestamp())
            current = pace(group, budget, self.spend_today(group_ads, at.timestamp()), at, ZoneInfo("UTC"), FLAT_CURVE)
            last = tally.last_raise.get(group)
            same_day = last is not None and last.date() == at.date()
            made = recommend(
                window_start,
                at,
                current,
                signals,
                History(budget, last if same_day else None),
                self.guardrails,
                self.thresholds,
            )
            if made is not None and made.action == "raise":
                tally.found["raises"].append((video, at))
                tally.last_raise[group] = at


@dataclass(frozen=True)
class Figures:
    kind: str
    rule: SurgeRule
    recommendations: int
    true: int
    onsets: int
    caught: int
    lags: list[float]

    def line(self) -> str:
        precision = self.true / self.recommendations if self.recommendations else float("nan")
        recall = self.caught / self.onsets if self.onsets else float("nan")
        median = statistics.median(self.lags) if self.lags else float("nan")
        rule = f"persist {self.rule.persist_minutes:g} min" if self.rule.persist_minutes else "one observation"
        return (
            f"| {self.kind} | {rule} | {self.recommendations} | {precision:.2f} ({self.true}/{self.recommendations})"
            f" | {recall:.2f} ({self.caught}/{self.onsets}) | {median:.1f} / {percentile(self.lags, 0.9):.1f} min |"
        )


def score(world: World, kind: str, tally: Tally, onsets: dict[str, int]) -> Figures:
    found = tally.found[kind]
    first_true: dict[str, datetime] = {}
    true = 0
    for video_id, at in found:
        span = true_surge(world.video(video_id))
        if span is not None and span[0] <= at.timestamp() <= span[1]:
            true += 1
            first_true.setdefault(video_id, at)
    lags = [(first_true[v].timestamp() - onset) / 60 for v, onset in onsets.items() if v in first_true]
    return Figures(kind, tally.rule, len(found), true, len(onsets), len(lags), lags)


def parse_rules(text: str) -> list[SurgeRule]:
    rules = []
    for part in text.split(","):
        persist, _, rising = part.partition(":")
        rules.append(SurgeRule(0.0, float(persist), float(rising or 15)))
    return rules


def main(argv: list[str] | None = None) -> list[Figures]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creators", type=int, default=20)
    parser.add_argument("--post-interval-hours", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--day", default="2026-11-18")
    parser.add_argument("--windows", type=int, default=288)
    parser.add_argument("--rules", default="0,30,45", help="persist[:rising] minutes per rule; 0 = one observation")
    parser.add_argument("--decoy-share", type=float, default=WorldConfig().decoy_share)
    parser.add_argument("--pacing-days", type=int, default=1, help="days of benchmarks/pacing.py (0: skip)")
    args = parser.parse_args(argv)
    world = World(
        WorldConfig(
            seed=args.seed,
            creators=args.creators,
            mean_post_interval_hours=args.post_interval_hours,
            decoy_share=args.decoy_share,
        )
    )
    account = AdAccount(world)
    start = datetime.fromisoformat(args.day).replace(tzinfo=UTC)
    end = start + args.windows * WINDOW
    began = time.perf_counter()
    day = Day(world, account, parse_rules(args.rules))
    run = adaptive_day(
        world, [c.username for c in world.creators()], start, args.windows, PollingPolicy(), 2.0, day.on_window
    )
    measured = {
        v: onset
        for v in run.known
        if (onset := world.video(v).viral_onset) is not None
        and start.timestamp() + 3600 <= onset <= (end - timedelta(hours=2)).timestamp()
    }
    eligible = {"flags": set(measured), "swaps": day.unboosted, "raises": day.boosted_by_day_group}
    decoys = sum(1 for v in run.known if world.video(v).is_decoy)
    print(
        f"world: seed {args.seed}, {args.creators} creators, {len(run.known)} videos ({decoys} decoys), {args.windows}"
        f" windows; {len(measured)} viral onsets measured"
    )
    print("| kind | surge rule | recommendations | precision | recall | lag from onset, median / p90 |")
    print("|---|---|---|---|---|---|")
    figures = []
    for kind in KINDS:
        for tally in day.tallies:
            onsets = {v: o for v, o in measured.items() if v in eligible[kind]}
            figures.append(score(world, kind, tally, onsets))
            print(figures[-1].line())
    if args.pacing_days:
        errors, groups = pacing_errors(args.pacing_days)
        every = [e for hour in errors["flat"] for e in hour]
        print(
            f"pacing: projected vs actual end-of-day spend, MAPE over every hour {100 * sum(every) / len(every):.1f}%"
            f" (flat curve, {groups} ad-group days; benchmarks/pacing.py)"
        )
    print(f"({time.perf_counter() - began:.0f} s)")
    return figures


if __name__ == "__main__":
    main()
