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
    checks to see): counts of two sources are never combined or chosen between field by field. Rows keep their order.

    Rows without a source (written before sources were recorded) are the Display API's. When every row is the Display
    API's (the analytics provider off: every window of most installations) nothing is chosen; otherwise only the
    other sources' rows are compared, by an anti-join on the Display API's keys (a window function over every row
    cost 108 ms a window at 100,000 videos; issue 13)."""
    if snapshots.is_empty() or "source" not in snapshots.columns:
        return snapshots
    if snapshots["source"].null_count():
        snapshots = snapshots.with_columns(pl.col("source").fill_null(PREFERRED_SOURCE))
    preferred = snapshots["source"] == PREFERRED_SOURCE
    if preferred.all():
        return snapshots
    keys = ["window_start", "video_id"]
    indexed = snapshots.with_row_index("_row")
    kept = indexed.filter(preferred)
    others = indexed.filter(~preferred).join(kept.select(keys).unique(), on=keys, how="anti", nulls_equal=True)
    first = others.group_by(keys).agg(pl.col("source").min().alias("_first"))
    chosen = others.join(first, on=keys, nulls_equal=True).filter(pl.col("source") == pl.col("_first"))
    return pl.concat([kept, chosen.drop("_first")]).sort("_row").drop("_row")


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
