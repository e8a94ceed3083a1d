"""Pandera (Polars API) schemas of the window tables, bound to the windows being checked."""

from __future__ import annotations

from datetime import datetime

import pandera.polars as pa
import polars as pl

from tiktok_pipeline.settings import QualitySettings
from tiktok_pipeline.windows import WINDOW, utc_naive


class QualityPolicy(QualitySettings):
    """Thresholds of the quality checks: the ``TIKTOK_QUALITY_*`` settings."""


def _non_negative(name: str) -> pa.Column:
    return pa.Column(pl.Int64, pa.Check.ge(0), nullable=False, title=name)


def _in_windows(start: datetime, end: datetime, policy: QualityPolicy) -> list[pa.Check]:
    lo, hi = utc_naive(start), utc_naive(end)

    def window_start_inside(data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("window_start") >= lo) & (pl.col("window_start") < hi))

    def observed_in_window(data: pa.PolarsData) -> pl.LazyFrame:
        # a provider row's observed_at is the provider's own updated_at (its last crawl): at most the window's end,
        # and possibly before the window; only the Display API's rows are observed at the window's end
        end_of_window = pl.col("window_start") + WINDOW
        provider = (
            pl.col("source").fill_null("display_api") != "display_api"
            if "source" in data.lazyframe.collect_schema().names()
            else pl.lit(False)
        )
        return data.lazyframe.select(
            ((pl.col("observed_at") >= end_of_window) | provider)
            & (pl.col("observed_at") <= end_of_window + policy.max_observation_delay)
        )

    return [
        pa.Check(window_start_inside, name="window_start_inside_partition", error=f"window_start outside [{lo}, {hi})"),
        pa.Check(observed_in_window, name="observed_at_at_window_end", error="observed_at not at the window's end"),
    ]


def _created_before_observed(data: pa.PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(pl.col("create_time") <= pl.col("observed_at"))


def raw_video_schema(start: datetime, end: datetime, policy: QualityPolicy) -> pa.DataFrameSchema:
    """Types, non-negative counts, unique (video, window), create_time ≤ observed_at, timestamps in the windows."""
    return pa.DataFrameSchema(
        {
            "window_start": pa.Column(pl.Datetime("us")),
            "observed_at": pa.Column(pl.Datetime("us")),
            "video_id": pa.Column(pl.String, pa.Check.str_matches(r"^\d+$")),
            "creator_username": pa.Column(pl.String),
            "create_time": pa.Column(pl.Datetime("us")),
            "view_count": _non_negative("view_count"),
            "like_count": _non_negative("like_count"),
            "comment_count": _non_negative("comment_count"),
            "share_count": _non_negative("share_count"),
        },
        checks=[
            *_in_windows(start, end, policy),
            pa.Check(_created_before_observed, name="create_time_not_after_observed_at"),
        ],
        unique=["video_id", "window_start"],
        name="raw_video_snapshots",
    )


def _engagement_rate() -> pa.Column:
    """Structure only: a non-negative rate (counts are non-negative). No upper bound here: TikTok's counters update
    separately, so a young video can briefly show more likes, comments and shares than views; such a rate is
    true to what TikTok reported and is flagged by the non-blocking ``engagement_rate_plausible`` check instead
    of stopping the velocity of every window in the run."""
    return pa.Column(pl.Float64, pa.Check.ge(0.0), nullable=True)


def enriched_schema(start: datetime, end: datetime, policy: QualityPolicy) -> pa.DataFrameSchema:
    """The raw rules plus a non-negative engagement rate, null only at 0 views."""
    raw = raw_video_schema(start, end, policy)

    def null_only_at_zero_views(data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("engagement_rate").is_not_null() | (pl.col("view_count") == 0))

    columns = {
        **raw.columns,
        "engagement_rate": _engagement_rate(),
    }
    return pa.DataFrameSchema(
        columns,
        checks=[*raw.checks, pa.Check(null_only_at_zero_views, name="engagement_rate_null_only_at_zero_views")],
        unique=["video_id", "window_start"],
        name="enriched_video_metrics",
    )


def velocity_schema(start: datetime, end: datetime, policy: QualityPolicy) -> pa.DataFrameSchema:
    """Unique (video, window), timestamps in the windows, a baseline strictly before its observation."""

    def baseline_before(data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col("baseline_observed_at").is_null() | (pl.col("baseline_observed_at") < pl.col("observed_at"))
        )

    return pa.DataFrameSchema(
        {
            "window_start": pa.Column(pl.Datetime("us")),
            "observed_at": pa.Column(pl.Datetime("us")),
            "video_id": pa.Column(pl.String),
            "view_count": _non_negative("view_count"),
            "elapsed_minutes": pa.Column(pl.Float64, pa.Check.ge(30.0), nullable=True),
            "engagement_rate": _engagement_rate(),
            "momentum": pa.Column(pl.Float64, nullable=True),
        },
        checks=[*_in_windows(start, end, policy), pa.Check(baseline_before, name="baseline_before_observation")],
        unique=["video_id", "window_start"],
        name="video_velocity",
    )
