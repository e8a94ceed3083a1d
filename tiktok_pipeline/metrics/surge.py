"""When a video surges (pure): momentum at or above a threshold, optionally held and still rising.

One observation at or above the threshold is today's rule for alerts, swaps and pacing. It cannot tell a true
surge from a burst that fades (a share, a brief feature: views jump for 10-40 minutes, then nothing): the
30-minute momentum of both climbs at first. A burst's 30-minute rate stops rising once the burst ends and falls
30 minutes later; a surge's keeps climbing for an hour or more. :class:`SurgeRule` can therefore ask for
**persistence**: the video's momentum at or above the threshold at every observation for at least
``persist_minutes`` (a *streak*), and **still rising**: its momentum now at least its momentum at the latest
observation ``rising_minutes`` or more before. ``benchmarks/recommendations.py`` measures what each costs in lag
and gains in precision against the simulator's truth (decoys included).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from tiktok_pipeline.metrics.velocity import join_baseline


@dataclass(frozen=True)
class SurgeRule:
    """What counts as surging; ``persist_minutes = 0`` is one observation at or above the threshold."""

    momentum_threshold: float
    persist_minutes: float = 0.0
    rising_minutes: float = 15.0
    """With persistence: momentum now must be at least its value at the latest observation this long before."""

    def with_threshold(self, threshold: float) -> SurgeRule:
        """The same persistence at another threshold (each consumer has its own)."""
        return SurgeRule(threshold, self.persist_minutes, self.rising_minutes)


def surge_flags(history: pl.DataFrame, rule: SurgeRule) -> pl.DataFrame:
    """``history`` (``video_id``, ``observed_at``, ``momentum``; several observations per video) with ``surging``
    (bool) and ``streak_start`` (when the video's current run of observations at or above the threshold began;
    null when below it). A null or NaN momentum is below every threshold and breaks a streak."""
    above = pl.col("momentum").is_not_null() & pl.col("momentum").is_finite()
    above = above & (pl.col("momentum") >= rule.momentum_threshold)
    ordered = (
        history.unique(["video_id", "observed_at"], keep="last")
        .sort("video_id", "observed_at")
        .with_columns(above.fill_null(False).alias("_above"))
        .with_columns((~pl.col("_above")).cast(pl.Int64).cum_sum().over("video_id").alias("_streak"))
        .with_columns(
            pl.when(pl.col("_above"))
            .then(pl.col("observed_at").filter(pl.col("_above")).min().over("video_id", "_streak"))
            .alias("streak_start")
        )
    )
    if rule.persist_minutes <= 0:
        return ordered.with_columns(pl.col("_above").alias("surging")).drop("_above", "_streak")
    earlier = join_baseline(
        ordered.select("video_id", "observed_at"),
        ordered.select("video_id", "observed_at", "momentum"),
        {"momentum": "_momentum_before"},
        observed_alias="_before_at",
        lookback=timedelta(minutes=rule.rising_minutes),
    ).select("video_id", "observed_at", "_momentum_before")
    held = pl.col("observed_at") - pl.col("streak_start") >= timedelta(minutes=rule.persist_minutes)
    rising = pl.col("_momentum_before").is_null() | (pl.col("momentum") >= pl.col("_momentum_before"))
    return (
        ordered.join(earlier, on=["video_id", "observed_at"], how="left")
        .with_columns((pl.col("_above") & held.fill_null(False) & rising).alias("surging"))
        .drop("_above", "_streak", "_momentum_before")
    )


def history_minutes(rule: SurgeRule) -> float:
    """How far before a window its consumer must read momentum for ``rule`` (0: none; the window is enough)."""
    return 0.0 if rule.persist_minutes <= 0 else rule.persist_minutes + rule.rising_minutes


def mark_surging(rows: pl.DataFrame, history: pl.DataFrame, rule: SurgeRule) -> pl.DataFrame:
    """``rows`` (``video_id``, ``observed_at``, ``momentum``, anything else) with ``surging`` under ``rule``, judged
    over ``history`` (earlier observations: ``video_id``, ``observed_at``, ``momentum``) and ``rows`` together."""
    both = pl.concat(
        [history.select("video_id", "observed_at", "momentum"), rows.select("video_id", "observed_at", "momentum")]
    )
    flags = surge_flags(both, rule).select("video_id", "observed_at", "surging")
    return rows.join(flags, on=["video_id", "observed_at"], how="left").with_columns(pl.col("surging").fill_null(False))
