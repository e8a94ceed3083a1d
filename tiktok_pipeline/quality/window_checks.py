"""The video tables' checks, evaluated window by window so every result is true for the window it names."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import duckdb
import pandera.polars as pa
import polars as pl

from tiktok_pipeline.ingest.snapshots import ObservedRange
from tiktok_pipeline.quality.checks import (
    CheckOutcome,
    bad_record_share,
    counts_never_decrease,
    duplicate_observations,
    engagement_rate_plausible,
    landed_matches_parsed,
    landed_video_records,
    silent_creators,
    validate_schema,
    views_jump,
)
from tiktok_pipeline.quality.schemas import QualityPolicy, enriched_schema, raw_video_schema
from tiktok_pipeline.warehouse.io import read_frame, table_exists
from tiktok_pipeline.warehouse.tables import RAW_VIDEO_SNAPSHOTS
from tiktok_pipeline.windows import WINDOW, utc_naive, window_key, window_starts

SchemaFactory = Callable[[datetime, datetime, QualityPolicy], pa.DataFrameSchema]
Outcomes = dict[str, dict[str, CheckOutcome]]
"""Window key → check name → outcome."""


Windows = dict[datetime, pl.DataFrame]
"""Window start → the frame's rows of that window."""


def _by_window(frame: pl.DataFrame, starts: list[datetime]) -> Windows:
    """``frame``'s rows of each window in ``starts`` (one pass over the frame; empty for windows without rows). A
    one-window run's frame whose rows are all of its window is that window's rows as it is, not copied."""
    if len(starts) == 1 and frame.height:
        column = frame.get_column("window_start")
        if column.null_count() == 0 and column.min() == column.max() == utc_naive(starts[0]):
            return {starts[0]: frame}
    parts = {key[0]: part for key, part in frame.partition_by("window_start", as_dict=True).items()}
    return {s: parts.get(utc_naive(s), frame.clear()) for s in starts}


def schema_by_window(
    name: str,
    schema: SchemaFactory,
    frame: pl.DataFrame,
    start: datetime,
    end: datetime,
    quality: QualityPolicy,
    windows: Windows | None = None,
) -> Outcomes:
    """A Pandera schema per window: validated once over the range, window by window only when that fails
    (``windows``: the frame's rows by window, when the caller has them already)."""
    windows = windows if windows is not None else _by_window(frame, list(window_starts(start, end)))
    if validate_schema(schema(start, end, quality), frame).passed:
        return {
            window_key(s): {name: CheckOutcome(passed=True, description=f"{rows.height} rows conform")}
            for s, rows in windows.items()
        }
    return {window_key(s): {name: validate_schema(schema(s, s + WINDOW, quality), rows)} for s, rows in windows.items()}


def enriched_by_window(enriched: pl.DataFrame, start: datetime, end: datetime, quality: QualityPolicy) -> Outcomes:
    """The checks of ``enriched_video_metrics`` for each window: its structure (blocking) and plausible engagement."""
    windows = _by_window(enriched, list(window_starts(start, end)))
    outcomes = schema_by_window("enriched_schema", enriched_schema, enriched, start, end, quality, windows)
    for s, rows in windows.items():
        outcomes[window_key(s)]["engagement_rate_plausible"] = engagement_rate_plausible(
            rows, quality.max_engagement_rate
        )
    return outcomes


def observation_history(
    connection: duckdb.DuckDBPyConnection, start: datetime, end: datetime, silence: timedelta
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Earlier Display API observations (a day back) for the count checks, and when each creator was seen (for
    silence); the analytics provider's rows are another source's counts and never compared with them."""
    if not table_exists(connection, RAW_VIDEO_SNAPSHOTS.name):
        empty = pl.DataFrame(
            schema={
                "video_id": pl.String,
                "observed_at": pl.Datetime("us"),
                "view_count": pl.Int64,
                "like_count": pl.Int64,
            }
        )
        return empty, pl.DataFrame(schema={"creator_username": pl.String, "observed_at": pl.Datetime("us")})
    lo, hi = utc_naive(start), utc_naive(end) + WINDOW
    previous = read_frame(
        connection,
        f"""SELECT video_id, observed_at, view_count, like_count FROM {RAW_VIDEO_SNAPSHOTS.name}
            WHERE observed_at >= ? AND observed_at <= ? AND coalesce(source, 'display_api') = 'display_api'""",
        [lo - timedelta(days=1), hi],
    )
    sightings = read_frame(
        connection,
        f"""SELECT DISTINCT creator_username, observed_at FROM {RAW_VIDEO_SNAPSHOTS.name}
            WHERE observed_at >= ? AND observed_at <= ? AND coalesce(source, 'display_api') = 'display_api'""",
        [lo - silence - WINDOW, hi],
    )
    return previous, sightings


def raw_by_window(
    observed: ObservedRange,
    previous: pl.DataFrame,
    sightings: pl.DataFrame,
    tracked: list[str],
    quality: QualityPolicy,
) -> Outcomes:
    """The checks of ``raw_video_snapshots`` for each window just parsed."""
    silence = timedelta(minutes=quality.creator_silence_minutes)
    outcomes: Outcomes = {}
    for window in observed.windows:
        start = window.landed.window_start
        videos, quarantine = window.parsed.videos, window.parsed.quarantine
        video_quarantine = quarantine.filter(pl.col("source").str.starts_with("video/"))
        as_of = utc_naive(start) + 2 * WINDOW
        seen = sightings.filter(pl.col("observed_at") <= as_of).group_by("creator_username").agg(pl.max("observed_at"))
        outcomes[window.key] = {
            "raw_video_schema": validate_schema(raw_video_schema(start, start + WINDOW, quality), videos),
            "counts_never_decrease": counts_never_decrease(videos, previous),
            "views_jump": views_jump(videos, previous, quality.max_view_jump_factor),
            "creators_reporting": silent_creators(tracked, dict(seen.iter_rows()), as_of, silence),
            "no_duplicate_observations": duplicate_observations(quarantine),
            "landed_matches_parsed": landed_matches_parsed(
                landed_video_records(window.landed.records), videos.height, video_quarantine.height
            ),
            "bad_record_share": bad_record_share(videos.height, video_quarantine.height, quality.max_bad_record_share),
        }
    return outcomes
