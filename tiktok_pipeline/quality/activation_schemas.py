"""Pandera (Polars API) schemas of the creative swap recommendations and the merchandising feed, per window."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pandera.polars as pa
import polars as pl

from tiktok_pipeline.quality.checks import CheckOutcome, validate_schema
from tiktok_pipeline.windows import WINDOW, utc_naive, window_key

Outcomes = dict[str, dict[str, CheckOutcome]]


def _inside(start: datetime) -> pa.Check:
    lo, hi = utc_naive(start), utc_naive(start + WINDOW)

    def inside(data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("window_start") >= lo) & (pl.col("window_start") < hi))

    return pa.Check(inside, name="window_start_inside_partition", error=f"window_start outside [{lo}, {hi})")


def creative_swap_schema(start: datetime) -> pa.DataFrameSchema:
    """Unique (window, campaign, fading video); ids of digits; the boosted video is not the fading one; the ad's CTR
    in [0, 1] and falling, impressions and momentum positive, at least one candidate, the match a known reason."""

    def another_video(data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("boost_video_id") != pl.col("fading_video_id"))

    digits = pa.Check.str_matches(r"^\d+$")
    return pa.DataFrameSchema(
        {
            "window_start": pa.Column(pl.Datetime("us")),
            "campaign_id": pa.Column(pl.String),
            "fading_video_id": pa.Column(pl.String, digits),
            "boost_video_id": pa.Column(pl.String, digits),
            "ad_ctr": pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0)),
            "ad_ctr_30m_ago": pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0)),
            "ad_ctr_change_30m": pa.Column(pl.Float64, pa.Check.in_range(-1.0, 0.0, include_max=False)),
            "ad_impressions_60m": pa.Column(pl.Float64, pa.Check.gt(0.0)),
            "video_momentum": pa.Column(pl.Float64, pa.Check.gt(0.0)),
            "match": pa.Column(pl.String, pa.Check.isin(["creator", "campaign"])),
            "candidates": pa.Column(pl.Int64, pa.Check.ge(1)),
        },
        checks=[_inside(start), pa.Check(another_video, name="another_video", error="boosts the fading video")],
        unique=["window_start", "campaign_id", "fading_video_id"],
        name="creative_swap_recommendations",
    )


def merchandising_feed_schema(start: datetime) -> pa.DataFrameSchema:
    """Unique SKUs and ranks per window, ranks from 1, at least one promoting video, one feed version."""

    def one_version(data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("feed_version").n_unique() <= 1)

    return pa.DataFrameSchema(
        {
            "window_start": pa.Column(pl.Datetime("us")),
            "rank": pa.Column(pl.Int64, pa.Check.ge(1)),
            "sku": pa.Column(pl.String),
            "momentum": pa.Column(pl.Float64),
            "promoting_videos": pa.Column(pl.Int64, pa.Check.ge(1)),
            "feed_version": pa.Column(pl.String),
        },
        checks=[_inside(start), pa.Check(one_version, name="one_feed_version", error="several feed versions")],
        unique=["window_start", "sku"],
        name="merchandising_feed",
    )


def by_window(
    name: str,
    schema: Callable[[datetime], pa.DataFrameSchema],
    frame: pl.DataFrame,
    starts: list[datetime],
) -> Outcomes:
    """``schema(start)`` (one of the above) validated on each window's rows of ``frame``, under check ``name``."""
    return {
        window_key(start): {
            name: validate_schema(schema(start), frame.filter(pl.col("window_start") == utc_naive(start)))
        }
        for start in starts
    }
