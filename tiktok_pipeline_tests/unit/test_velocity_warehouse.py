"""The as-of join inside DuckDB (what the velocity asset runs) gives exactly what the Polars one gives."""

import random
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tiktok_pipeline.metrics.enrichment import enrich_snapshots
from tiktok_pipeline.metrics.velocity import LOOKBACK, compute_velocity, velocity_in_warehouse
from tiktok_pipeline.warehouse.io import Write, connect, replace_windows
from tiktok_pipeline.warehouse.tables import ENRICHED_VIDEO_METRICS
from tiktok_pipeline.windows import WINDOW

DAY = datetime(2026, 11, 20)
LIMIT = timedelta(hours=3)
REGISTRY = pl.DataFrame(
    {"creator_username": ["alice"], "campaign_ids": [["c1"]], "product_skus": [["sku"]], "audience_tags": [["t"]]}
)


def observations(seed: int, videos: int = 30, windows: int = 96, delay_seconds: int = 0) -> pl.DataFrame:
    """Irregular polling over 8 hours: gaps, bursts, zero-view videos and resets, observations late in the window."""
    rng = random.Random(seed)
    rows = []
    for v in range(videos):
        created = DAY - timedelta(minutes=rng.randint(0, 600))
        every = rng.choice([1, 1, 2, 3, 6, 13, 40])
        views = 0
        for w in range(rng.randint(0, 5), windows, every):
            if rng.random() < 0.15:
                continue  # a missed poll
            start = DAY + w * WINDOW
            observed = start + WINDOW + timedelta(seconds=rng.randint(0, delay_seconds))
            if observed < created:
                continue
            views += 0 if v % 7 == 0 else rng.randint(0, 500)
            if v % 7 == 1 and rng.random() < 0.3:
                views = 0  # a count reset: a null engagement rate after non-null ones
            rows.append(
                {
                    "window_start": start,
                    "observed_at": observed,
                    "video_id": str(10**18 + v),
                    "creator_username": "alice",
                    "create_time": created,
                    "view_count": views,
                    "like_count": views // 10,
                    "comment_count": views // 50,
                    "share_count": views // 90,
                }
            )
    return enrich_snapshots(pl.DataFrame(rows), REGISTRY)


def in_warehouse(path: Path, enriched: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    with connect(path) as connection:
        replace_windows(connection, DAY, DAY + timedelta(days=1), Write(ENRICHED_VIDEO_METRICS, enriched))
        return velocity_in_warehouse(connection, ENRICHED_VIDEO_METRICS.name, start, end, history_limit=LIMIT)


def in_polars(enriched: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    current = enriched.filter((pl.col("window_start") >= start) & (pl.col("window_start") < end))
    history = enriched.filter((pl.col("observed_at") >= start - LOOKBACK - LIMIT) & (pl.col("observed_at") < end))
    return compute_velocity(current, history, history_limit=LIMIT)


COLUMNS = ENRICHED_VIDEO_METRICS.column_names[:5] + [
    "view_count",
    "baseline_observed_at",
    "elapsed_minutes",
    "view_delta_30m",
    "views_per_minute",
    "engagement_rate",
    "engagement_rate_change_30m",
    "momentum",
]


@pytest.mark.parametrize(
    ("seed", "first", "windows", "delay"),
    [
        (1, 60, 1, 0),  # one window, 5 hours of history, some of it beyond the 3-hour limit
        (2, 80, 1, 240),  # observed up to 4 minutes after the window's end (a real host)
        (3, 0, 96, 0),  # a range: the whole 8 hours in one run (a backfill), first windows without history
        (4, 50, 12, 90),  # an hour's range, late observations
    ],
)
def test_duckdb_as_of_join_matches_polars(tmp_path, seed, first, windows, delay):
    enriched = observations(seed, delay_seconds=delay)
    start, end = DAY + first * WINDOW, DAY + (first + windows) * WINDOW
    expected = in_polars(enriched, start, end).select(COLUMNS)
    actual = in_warehouse(tmp_path / "w.duckdb", enriched, start, end).select(COLUMNS)
    assert expected.height > 0
    assert expected["baseline_observed_at"].null_count() < expected.height, "some rows must have a baseline"
    assert actual.equals(expected)


def test_empty_windows_give_an_empty_frame(tmp_path):
    enriched = observations(5)
    start = DAY + timedelta(days=2)
    assert in_warehouse(tmp_path / "w.duckdb", enriched, start, start + WINDOW).is_empty()


@pytest.mark.parametrize(("seed", "first", "windows", "delay"), [(6, 0, 96, 0), (7, 30, 40, 240), (8, 90, 1, 60)])
def test_a_windows_velocity_does_not_depend_on_the_range_it_is_computed_in(tmp_path, seed, first, windows, delay):
    """Each window of a range gets what a run of that window alone gets: a baseline older than the history limit
    before the row's own window is none, wherever the range starts (3 hours here, so 8 hours of windows cross it)."""
    enriched = observations(seed, delay_seconds=delay)
    start, end = DAY + first * WINDOW, DAY + (first + windows) * WINDOW
    whole = in_warehouse(tmp_path / "w.duckdb", enriched, start, end).select(COLUMNS)
    with connect(tmp_path / "w.duckdb") as connection:
        alone = [
            velocity_in_warehouse(
                connection, ENRICHED_VIDEO_METRICS.name, DAY + w * WINDOW, DAY + (w + 1) * WINDOW, history_limit=LIMIT
            ).select(COLUMNS)
            for w in range(first, first + windows)
        ]
    assert whole.equals(pl.concat(alone))


@pytest.mark.parametrize(("seed", "first", "windows", "delay"), [(9, 0, 96, 0), (10, 40, 24, 240), (11, 60, 1, 0)])
def test_velocity_of_rows_about_to_be_written_is_theirs_once_written(tmp_path, seed, first, windows, delay):
    """A range step computes velocity once from its enriched rows, before its turns write them: the same rows as
    reading them back once written. The table still holds other rows for those windows (an earlier run on other
    raw data), which must not count."""
    enriched = observations(seed, delay_seconds=delay)
    start, end = DAY + first * WINDOW, DAY + (first + windows) * WINDOW
    in_range = (pl.col("window_start") >= start) & (pl.col("window_start") < end)
    stale = enriched.with_columns(
        pl.when(in_range).then(pl.col("view_count") * 3 + 7).otherwise(pl.col("view_count")).alias("view_count")
    )
    with connect(tmp_path / "w.duckdb") as connection:
        replace_windows(connection, DAY, DAY + timedelta(days=1), Write(ENRICHED_VIDEO_METRICS, stale))
        before = velocity_in_warehouse(
            connection, ENRICHED_VIDEO_METRICS.name, start, end, history_limit=LIMIT, rows=enriched.filter(in_range)
        )
        replace_windows(connection, start, end, Write(ENRICHED_VIDEO_METRICS, enriched.filter(in_range)))
        after = velocity_in_warehouse(connection, ENRICHED_VIDEO_METRICS.name, start, end, history_limit=LIMIT)
    assert before.height > 0 and before["baseline_observed_at"].null_count() < before.height
    assert before.equals(after)
