"""Daily rollups: one day of 5-minute window rows summarised into one row per video (or creator), day and source.

The rollups are what remains of a day once retention has pruned its window rows, so they keep
what analysts look back at: where each video stood at the day's first and last observation, what it
gained, its peak speed, and what it was tracked under. A row belongs to the day of its
``window_start`` (UTC), exactly like the daily partition that maps onto those windows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import polars as pl

from tiktok_pipeline.warehouse.io import Write, read_frame, replace_windows, table_exists
from tiktok_pipeline.warehouse.tables import TableSpec
from tiktok_pipeline.windows import DAY, utc_naive

DISPLAY_SOURCE = "display_api"
"""The source of rows written before sources were recorded (null ``source``): the Display API, the only one then."""
_DAY = pl.col("window_start").dt.truncate("1d").alias("window_start")
_ORDER = ["observed_at", "window_start"]


def _first(name: str) -> pl.Expr:
    return pl.col(name).sort_by(_ORDER).first()


def _last(name: str) -> pl.Expr:
    return pl.col(name).sort_by(_ORDER).last()


def _with_source(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its ``source`` (rows before sources were recorded, with a null or no source: the Display API's)."""
    source = pl.col("source").fill_null(DISPLAY_SOURCE) if "source" in frame.columns else pl.lit(DISPLAY_SOURCE)
    return frame.with_columns(source.alias("source"))


def video_days(enriched: pl.DataFrame, velocity: pl.DataFrame) -> pl.DataFrame:
    """One row per (day, video, source) from ``enriched_video_metrics`` and ``video_velocity`` rows.

    ``window_start`` of the result is the day's start (midnight UTC). ``views_gained`` is
    ``last_view_count - first_view_count`` within the day and the source: the views between the day's first and
    last observation (what happened between the previous day's last observation and this day's
    first one is counted by neither day). Enrichment keeps one source per (window, video), but a video the Display
    API observed in some windows and only the analytics provider in others has a row of each source, so a delta is
    never the difference of two sources' counts. Speed figures ignore windows without a 30-minute baseline.
    """
    keys = ["window_start", "video_id", "source"]
    counts = (
        _with_source(enriched)
        .group_by(_DAY, "video_id", "source")
        .agg(
            _last("creator_username").alias("creator_username"),
            _last("create_time").alias("create_time"),
            _last("campaign_ids").alias("campaign_ids"),
            _last("product_skus").alias("product_skus"),
            _last("audience_tags").alias("audience_tags"),
            pl.len().cast(pl.Int64).alias("observations"),
            pl.col("observed_at").min().alias("first_observed_at"),
            pl.col("observed_at").max().alias("last_observed_at"),
            _first("view_count").alias("first_view_count"),
            _last("view_count").alias("last_view_count"),
            pl.col("view_count").max().alias("max_view_count"),
            _last("like_count").alias("like_count"),
            _last("comment_count").alias("comment_count"),
            _last("share_count").alias("share_count"),
            _last("engagement_rate").alias("engagement_rate"),
            pl.col("engagement_rate").mean().alias("mean_engagement_rate"),
        )
    )
    peak = pl.col("momentum") == pl.col("momentum").max()
    speed = (
        _with_source(velocity)
        .group_by(_DAY, "video_id", "source")
        .agg(
            pl.col("views_per_minute").max().alias("max_views_per_minute"),
            pl.col("momentum").max().alias("max_momentum"),
            pl.col("observed_at").filter(peak).min().alias("max_momentum_at"),
            pl.col("views_per_minute").is_not_null().sum().cast(pl.Int64).alias("observations_with_baseline"),
        )
    )
    return (
        counts.join(speed, on=keys, how="left")
        .with_columns(
            (pl.col("last_view_count") - pl.col("first_view_count")).alias("views_gained"),
            pl.col("observations_with_baseline").fill_null(0),
        )
        .sort(keys)
    )


def creator_days(creators: pl.DataFrame) -> pl.DataFrame:
    """One row per (day, creator, source) from ``raw_creator_snapshots`` rows: the day's first and last totals of each
    source. A creator both the Display API and the analytics provider observed has a row of each: its
    ``followers_gained`` is always the difference of two counts of ONE source (rows before sources were recorded,
    with a null source, are the Display API's)."""
    return (
        _with_source(creators)
        .group_by(_DAY, "creator_username", "source")
        .agg(
            _last("open_id").alias("open_id"),
            _last("display_name").alias("display_name"),
            pl.len().cast(pl.Int64).alias("observations"),
            pl.col("observed_at").min().alias("first_observed_at"),
            pl.col("observed_at").max().alias("last_observed_at"),
            _first("follower_count").alias("first_follower_count"),
            _last("follower_count").alias("last_follower_count"),
            _last("following_count").alias("following_count"),
            _last("likes_count").alias("likes_count"),
            _last("video_count").alias("video_count"),
        )
        .with_columns((pl.col("last_follower_count") - pl.col("first_follower_count")).alias("followers_gained"))
        .sort("window_start", "creator_username", "source")
    )


@dataclass
class RolledDays:
    """What rolling a range of days wrote: the rows, the days kept unchanged (pruned), the windows read."""

    frame: pl.DataFrame
    kept: list[str] = field(default_factory=list)
    windows: int = 0


def _read_day(connection: duckdb.DuckDBPyConnection, spec: TableSpec, day: datetime) -> pl.DataFrame:
    if not table_exists(connection, spec.name):
        return spec.empty()
    return read_frame(
        connection,
        f'SELECT * FROM "{spec.name}" WHERE window_start >= ? AND window_start < ?',
        [utc_naive(day), utc_naive(day + DAY)],
    )


def _has_rows(connection: duckdb.DuckDBPyConnection, spec: TableSpec, day: datetime) -> bool:
    if not table_exists(connection, spec.name):
        return False
    return bool(
        connection.execute(f'SELECT 1 FROM "{spec.name}" WHERE window_start = ? LIMIT 1', [utc_naive(day)]).fetchall()
    )


def roll_up_days(
    connection: duckdb.DuckDBPyConnection,
    start: datetime,
    end: datetime,
    target: TableSpec,
    sources: tuple[TableSpec, ...],
    rollup: Callable[..., pl.DataFrame],
) -> RolledDays:
    """Roll up each day of ``[start, end)`` from ``sources`` into ``target`` with ``rollup``, one transaction per day.

    A day whose window rows are gone (pruned) while ``target`` still holds its rollup is left alone
    (listed in ``kept``): rolling up nothing would replace the only remaining record of that day with nothing.
    """
    written: list[pl.DataFrame] = []
    result = RolledDays(target.empty())
    day = start
    while day < end:
        frames = [_read_day(connection, spec, day) for spec in sources]
        if frames[0].is_empty() and _has_rows(connection, target, day):
            result.kept.append(f"{day:%Y-%m-%d}")
        else:
            result.windows += frames[0]["window_start"].n_unique()
            rolled = rollup(*frames)
            replace_windows(connection, day, day + DAY, Write(target, rolled))
            written.append(target.conform(rolled))
        day += DAY
    if written:
        result.frame = pl.concat(written)
    return result
