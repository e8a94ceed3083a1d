"""Pandera (Polars API) schemas of the ad tables and the registry link check."""

from __future__ import annotations

from datetime import datetime

import pandera.polars as pa
import polars as pl

from tiktok_pipeline.quality.checks import CheckOutcome, validate_schema
from tiktok_pipeline.sources.business_api.reporting import COUNTS
from tiktok_pipeline.windows import WINDOW, utc_naive, window_key


def _count(name: str) -> pa.Column:
    return pa.Column(pl.Int64, pa.Check.ge(0), nullable=True, title=name)


def raw_ad_metrics_schema() -> pa.DataFrameSchema:
    """Types, ids of digits, non-negative counts and spend (null only for '-'), unique (ad, hour),
    hours starting on a quarter hour (the UTC start of a local hour: every zone's offset is whole quarter hours,
    e.g. 05:30 UTC for Asia/Kolkata), and numbers fetched after their hour began."""

    def on_the_hour(data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("stat_time_hour").dt.truncate("15m") == pl.col("stat_time_hour"))

    def fetched_after_hour_began(data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("fetched_at") > pl.col("stat_time_hour"))

    return pa.DataFrameSchema(
        {
            "stat_time_hour": pa.Column(pl.Datetime("us")),
            "ad_id": pa.Column(pl.String, pa.Check.str_matches(r"^\d+$")),
            "video_id": pa.Column(pl.String, pa.Check.str_matches(r"^\d+$"), nullable=True),
            "spend": pa.Column(pl.Float64, pa.Check.ge(0.0), nullable=True),
            **{name: _count(name) for name in COUNTS},
            "fetched_at": pa.Column(pl.Datetime("us")),
            "fetched_in_window": pa.Column(pl.Datetime("us")),
        },
        checks=[
            pa.Check(
                on_the_hour,
                name="stat_time_hour_on_the_hour",
                error="stat_time_hour is not the start of a local hour (a quarter hour in UTC)",
            ),
            pa.Check(
                fetched_after_hour_began,
                name="fetched_after_hour_began",
                error="numbers fetched before their hour began",
            ),
        ],
        unique=["ad_id", "stat_time_hour"],
        name="raw_ad_metrics",
    )


def ad_velocity_schema(start: datetime, end: datetime) -> pa.DataFrameSchema:
    """Unique (video, window), windows inside the partition range, every rate in [0, 1]."""
    lo, hi = utc_naive(start), utc_naive(end)

    def inside(data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("window_start") >= lo) & (pl.col("window_start") < hi))

    def rate(name: str) -> pa.Column:
        return pa.Column(pl.Float64, pa.Check.in_range(0.0, 1.0), nullable=True, title=name)

    return pa.DataFrameSchema(
        {
            "window_start": pa.Column(pl.Datetime("us")),
            "video_id": pa.Column(pl.String),
            "active_ads": pa.Column(pl.Int64, pa.Check.ge(0)),
            **{
                name: rate(name)
                for name in (
                    "ctr",
                    "ctr_30m_ago",
                    "watched_2s_rate",
                    "profile_visit_rate",
                    "like_rate",
                    "comment_rate",
                    "share_rate",
                )
            },
            "ctr_change_30m": pa.Column(pl.Float64, pa.Check.in_range(-1.0, 1.0), nullable=True),
        },
        checks=[pa.Check(inside, name="window_start_inside_partition", error=f"window_start outside [{lo}, {hi})")],
        unique=["video_id", "window_start"],
        name="ad_velocity",
    )


def campaigns_in_registry(rows: pl.DataFrame, registry_campaigns: set[str]) -> CheckOutcome:
    """Ad rows whose campaign_name is not a campaign id of the tracking registry (the link is broken)."""
    unknown = rows.filter(
        pl.col("campaign_name").is_null() | ~pl.col("campaign_name").is_in(sorted(registry_campaigns))
    )
    sample = (
        unknown.group_by("campaign_name").agg(pl.len().alias("rows"), pl.col("ad_id").n_unique().alias("ads")).head(10)
    )
    return CheckOutcome(
        passed=unknown.is_empty(),
        failed_rows=unknown.height,
        sample=sample,
        figures={"campaigns_unknown": float(sample.height)},
        description=(
            "every ad's campaign is a registry campaign"
            if unknown.is_empty()
            else f"{unknown.height} ad rows in campaigns missing from the tracking registry"
        ),
    )


Outcomes = dict[str, dict[str, CheckOutcome]]
"""Window key → check name → outcome."""


def _of_window(frame: pl.DataFrame, column: str, window_start: datetime) -> pl.DataFrame:
    return frame.filter(pl.col(column) == utc_naive(window_start))


def raw_ad_by_window(written: pl.DataFrame, starts: list[datetime], registry_campaigns: set[str]) -> Outcomes:
    """The checks of ``raw_ad_metrics`` for each window of a run, on the rows that window's fetch wrote
    (``fetched_in_window`` = the window: the hours of its lookback no newer fetch took over)."""
    outcomes: Outcomes = {}
    for start in starts:
        rows = _of_window(written, "fetched_in_window", start)
        outcomes[window_key(start)] = {
            "raw_ad_metrics_schema": validate_schema(raw_ad_metrics_schema(), rows),
            "campaigns_in_registry": campaigns_in_registry(rows, registry_campaigns),
        }
    return outcomes


def ad_velocity_by_window(velocity: pl.DataFrame, starts: list[datetime]) -> Outcomes:
    """``ad_velocity_schema`` for each window of a run, on the rows of that window (``window_start``)."""
    return {
        window_key(start): {
            "ad_velocity_schema": validate_schema(
                ad_velocity_schema(start, start + WINDOW), _of_window(velocity, "window_start", start)
            )
        }
        for start in starts
    }
