"""Velocity: how fast each video is moving now, against its own recent past.

Videos are not observed every window, so each observation is compared with the latest
observation of the same video at or before 30 minutes earlier (an as-of join on
``observed_at``), and deltas are divided by the real elapsed minutes.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

LOOKBACK = timedelta(minutes=30)
MIN_LIFETIME_RATE = 1.0  # views per minute: keeps tiny videos from producing huge momentum


def compute_velocity(
    current: pl.DataFrame,
    history: pl.DataFrame,
    *,
    lookback: timedelta = LOOKBACK,
    min_lifetime_rate: float = MIN_LIFETIME_RATE,
) -> pl.DataFrame:
    """Velocity rows for ``current`` observations, using ``history`` (which may include ``current``).

    Both frames need ``video_id``, ``observed_at``, ``view_count`` and ``engagement_rate``;
    ``current`` also ``window_start``, ``creator_username`` and ``create_time``.
    """
    baseline = (
        history.select(
            "video_id",
            pl.col("observed_at").alias("baseline_observed_at"),
            pl.col("view_count").alias("baseline_view_count"),
            pl.col("engagement_rate").alias("baseline_engagement_rate"),
        )
        .unique(subset=["video_id", "baseline_observed_at"], keep="last")
        .sort("video_id", "baseline_observed_at")
    )
    probe = current.with_columns((pl.col("observed_at") - lookback).alias("_target")).sort("video_id", "_target")
    joined = probe.join_asof(
        baseline,
        left_on="_target",
        right_on="baseline_observed_at",
        by="video_id",
        strategy="backward",
        check_sortedness=False,
    )
    elapsed = (pl.col("observed_at") - pl.col("baseline_observed_at")).dt.total_seconds() / 60.0
    age_minutes = (pl.col("observed_at") - pl.col("create_time")).dt.total_seconds() / 60.0
    lifetime_rate = pl.max_horizontal(
        pl.when(age_minutes > 0).then(pl.col("view_count") / age_minutes).otherwise(0.0),
        pl.lit(min_lifetime_rate),
    )
    return (
        joined.with_columns(elapsed.alias("elapsed_minutes"))
        .with_columns(
            (pl.col("view_count") - pl.col("baseline_view_count")).alias("view_delta_30m"),
            (pl.col("engagement_rate") - pl.col("baseline_engagement_rate")).alias("engagement_rate_change_30m"),
        )
        .with_columns((pl.col("view_delta_30m") / pl.col("elapsed_minutes")).alias("views_per_minute"))
        .with_columns((pl.col("views_per_minute") / lifetime_rate).alias("momentum"))
        .sort("window_start", "video_id")
    )


def top_movers(velocity: pl.DataFrame, n: int = 10) -> pl.DataFrame:
    """The ``n`` rows with the highest momentum (nulls last)."""
    return velocity.sort("momentum", descending=True, nulls_last=True).head(n)
