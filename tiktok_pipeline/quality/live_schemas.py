"""Pandera (Polars API) schemas of the LIVE tables (unofficial source ``live_events``), checked per window."""

from __future__ import annotations

from datetime import datetime

import pandera.polars as pa
import polars as pl

from tiktok_pipeline.quality.checks import CheckOutcome, validate_schema
from tiktok_pipeline.warehouse.tables.live import UNOFFICIAL
from tiktok_pipeline.windows import utc_naive, window_key

EVENT_TYPES = ["comment", "gift", "like", "viewer_count", "follow", "share"]


def _count(nullable: bool = True) -> pa.Column:
    return pa.Column(pl.Int64, pa.Check.ge(0), nullable=nullable)


def _labelled() -> pa.Column:
    return pa.Column(pl.String, pa.Check.isin([UNOFFICIAL]), title="source_terms is 'unofficial' on every row")


def live_events_schema() -> pa.DataFrameSchema:
    """Known event types, non-empty stream and creator ids, non-negative counts, one row per intake line, and
    every row labelled unofficial."""
    return pa.DataFrameSchema(
        {
            "window_start": pa.Column(pl.Datetime("us")),
            "event_type": pa.Column(pl.String, pa.Check.isin(EVENT_TYPES)),
            "room_id": pa.Column(pl.String, pa.Check.str_length(min_value=1)),
            "creator": pa.Column(pl.String, pa.Check.str_length(min_value=1)),
            "event_at": pa.Column(pl.Datetime("us")),
            "viewer_sha256": pa.Column(pl.String, pa.Check.str_matches(r"^[0-9a-f]{64}$"), nullable=True),
            **{
                name: _count()
                for name in ("repeat_count", "gifts_counted", "diamond_count", "like_count", "viewer_count")
            },
            "intake_file": pa.Column(pl.String),
            "line_start": _count(nullable=False),
            "source_terms": _labelled(),
        },
        unique=["intake_file", "line_start"],
        name="live_events_raw",
    )


def live_metrics_schema() -> pa.DataFrameSchema:
    """One row per window and stream, non-negative figures, every row labelled unofficial."""
    return pa.DataFrameSchema(
        {
            "window_start": pa.Column(pl.Datetime("us")),
            "room_id": pa.Column(pl.String),
            "creator": pa.Column(pl.String),
            **{name: _count(nullable=False) for name in ("events", "comments", "gifts", "likes", "follows", "shares")},
            "peak_viewers": _count(),
            "source_terms": _labelled(),
        },
        unique=["window_start", "room_id", "creator"],
        name="live_stream_metrics",
    )


def by_window(
    name: str, schema: pa.DataFrameSchema, frame: pl.DataFrame, starts: list[datetime]
) -> dict[str, dict[str, CheckOutcome]]:
    """``schema`` validated on each window's rows of ``frame`` (window key → {name: outcome})."""
    return {
        window_key(start): {name: validate_schema(schema, frame.filter(pl.col("window_start") == utc_naive(start)))}
        for start in starts
    }
