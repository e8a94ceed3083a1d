"""Per window and LIVE stream: comments, gifts, likes, follows, shares and peak viewers (pure Polars).

The rows come from the unofficial source ``live_events`` and say so (``source_terms``).
"""

from __future__ import annotations

import polars as pl

from tiktok_pipeline.warehouse.tables.live import LIVE_STREAM_METRICS, UNOFFICIAL


def _of(kind: str) -> pl.Expr:
    return (pl.col("event_type") == kind).sum().cast(pl.Int64)


def stream_metrics(events: pl.DataFrame) -> pl.DataFrame:
    """``live_stream_metrics`` rows of ``live_events_raw`` rows: one per window, room and creator."""
    if events.is_empty():
        return LIVE_STREAM_METRICS.empty()
    metrics = (
        events.group_by("window_start", "room_id", "creator")
        .agg(
            pl.len().cast(pl.Int64).alias("events"),
            _of("comment").alias("comments"),
            pl.col("gifts_counted").sum().cast(pl.Int64).alias("gifts"),
            (pl.col("gifts_counted") * pl.col("diamond_count")).sum().cast(pl.Int64).alias("gift_diamonds"),
            pl.col("like_count").sum().cast(pl.Int64).alias("likes"),
            _of("follow").alias("follows"),
            _of("share").alias("shares"),
            pl.col("viewer_count").max().alias("peak_viewers"),
            pl.col("event_at").min().alias("first_event_at"),
            pl.col("event_at").max().alias("last_event_at"),
        )
        .with_columns(pl.lit(UNOFFICIAL).alias("source_terms"))
        .sort("window_start", "room_id", "creator")
    )
    return LIVE_STREAM_METRICS.conform(metrics)


def stream_figures(metrics: pl.DataFrame) -> dict[str, int]:
    """A window's figures for its materialisation: streams, events, comments, gifts, likes, highest peak viewers."""
    peak = metrics["peak_viewers"].max() if metrics.height else None
    return {
        "streams": metrics.height,
        "events": int(metrics["events"].sum()),
        "comments": int(metrics["comments"].sum()),
        "gifts": int(metrics["gifts"].sum()),
        "likes": int(metrics["likes"].sum()),
        "peak_viewers": int(peak) if peak is not None else 0,  # type: ignore[arg-type]
    }
