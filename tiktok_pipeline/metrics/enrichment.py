"""Snapshots joined with the tracking registry, plus engagement rate and age."""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from tiktok_pipeline.warehouse.io import read_frame
from tiktok_pipeline.warehouse.tables import RAW_VIDEO_SNAPSHOTS
from tiktok_pipeline.windows import utc_naive

SNAPSHOT_COLUMNS = (
    "window_start",
    "observed_at",
    "video_id",
    "creator_username",
    "create_time",
    "view_count",
    "like_count",
    "comment_count",
    "share_count",
    "source",
)
"""The raw snapshot columns enriched metrics carry (the rest of a raw row is provenance: title, landing file, log id)."""
PREFERRED_SOURCE = "display_api"
"""The source whose row a window keeps when several sources observed one video in it (TikTok's own counts)."""


def one_source_per_video(snapshots: pl.DataFrame) -> pl.DataFrame:
    """The rows of one source per (window, video): the Display API's when it observed the video in the window, else
    the first other source's by name. Rows of one source are kept whole (a duplicate of one source stays, for the
    checks to see): counts of two sources are never combined or chosen between field by field."""
    if snapshots.is_empty() or "source" not in snapshots.columns:
        return snapshots
    source = pl.col("source").fill_null(PREFERRED_SOURCE)  # rows written before sources were recorded
    rank = pl.when(source == PREFERRED_SOURCE).then(0).otherwise(1)
    ranked = snapshots.with_columns(source, rank.alias("_rank"))
    best = pl.col("source").filter(pl.col("_rank") == pl.col("_rank").min()).min().over("window_start", "video_id")
    return ranked.filter(pl.col("source") == best).drop("_rank")


def engagement_rate() -> pl.Expr:
    """(likes + comments + shares) / views; null when views are 0."""
    interactions = pl.col("like_count") + pl.col("comment_count") + pl.col("share_count")
    return (
        pl.when(pl.col("view_count") > 0)
        .then(interactions.cast(pl.Float64) / pl.col("view_count").cast(pl.Float64))
        .otherwise(None)
        .alias("engagement_rate")
    )


def enrich_snapshots(snapshots: pl.DataFrame, registry: pl.DataFrame) -> pl.DataFrame:
    """Each snapshot with its creator's campaigns, SKUs and audience tags (empty lists when untracked)."""
    empty = pl.lit([], dtype=pl.List(pl.String))
    return snapshots.join(registry, on="creator_username", how="left").with_columns(
        engagement_rate(),
        ((pl.col("observed_at") - pl.col("create_time")).dt.total_seconds() / 60.0).alias("video_age_minutes"),
        pl.col("campaign_ids").fill_null(empty),
        pl.col("product_skus").fill_null(empty),
        pl.col("audience_tags").fill_null(empty),
    )


def enrich_windows(
    connection: duckdb.DuckDBPyConnection, registry: pl.DataFrame, start: datetime, end: datetime
) -> pl.DataFrame:
    """Enriched rows of the windows ``[start, end)``, from ``raw_video_snapshots`` (one source per video and window:
    :func:`one_source_per_video`)."""
    snapshots = read_frame(
        connection,
        f"SELECT {', '.join(SNAPSHOT_COLUMNS)} FROM {RAW_VIDEO_SNAPSHOTS.name} WHERE window_start >= ? AND window_start < ?",
        [utc_naive(start), utc_naive(end)],
    )
    return enrich_snapshots(one_source_per_video(snapshots), registry)
