"""The analytics provider's video rows in the daily rollup and in retention: daily_video_metrics is per (video, day,
source), so views_gained never takes its first count from one source and its last from the other; retention
compares like with like (per source; raw_video_snapshots counted as the rows enrichment keeps), so a day both sources
observed is pruned once rolled up and kept while it is not (both backends)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import duckdb
import polars as pl
import pytest

from tiktok_pipeline.governance.pruning import prune_windows
from tiktok_pipeline.metrics.enrichment import enrich_snapshots, one_source_per_video
from tiktok_pipeline.metrics.rollup import roll_up_days, video_days
from tiktok_pipeline.warehouse.io import Write, replace_windows
from tiktok_pipeline.warehouse.tables import (
    DAILY_VIDEO_METRICS,
    ENRICHED_VIDEO_METRICS,
    RAW_VIDEO_SNAPSHOTS,
    VIDEO_VELOCITY,
)
from tiktok_pipeline.windows import DAY, utc_naive
from tiktok_pipeline_tests.conftest import T0, open_warehouse
from tiktok_pipeline_tests.provider.test_no_mixing import _REGISTRY, observation

START = utc_naive(T0)
DAY_START = START.replace(hour=0, minute=0)
KEY = f"{DAY_START:%Y-%m-%d}"
REGISTRY = pl.DataFrame(schema=_REGISTRY)


# One video both sources observe in windows 0 and 60; in window 120 only the provider (its counts far ahead).
RAW = pl.DataFrame(
    [
        observation(0, 5, 1000, "display_api"),
        observation(0, 1, 50_000, "analytics_provider"),
        observation(60, 65, 1100, "display_api"),
        observation(60, 61, 50_500, "analytics_provider"),
        observation(120, 118, 51_000, "analytics_provider"),
    ]
)


def enriched(raw: pl.DataFrame) -> pl.DataFrame:
    return enrich_snapshots(one_source_per_video(raw), REGISTRY)


def velocity(rows: pl.DataFrame) -> pl.DataFrame:
    return VIDEO_VELOCITY.conform(rows)  # no 30-minute baseline in these rows: speeds are null


def test_views_gained_is_the_difference_of_one_sources_counts():
    rows = enriched(RAW)
    assert rows["source"].to_list() == ["display_api", "display_api", "analytics_provider"]
    rolled = video_days(rows, velocity(rows))
    by_source = {row["source"]: row for row in rolled.iter_rows(named=True)}
    assert set(by_source) == {"display_api", "analytics_provider"}
    assert by_source["display_api"]["views_gained"] == 100  # 1000 -> 1100, never 1000 -> 51,000
    assert by_source["display_api"]["observations"] == 2
    assert by_source["analytics_provider"]["views_gained"] == 0 and by_source["analytics_provider"]["observations"] == 1
    assert by_source["analytics_provider"]["observations_with_baseline"] == 0


def test_rows_written_before_sources_were_recorded_roll_up_as_the_display_apis():
    rows = enriched(RAW.filter(pl.col("source") == "display_api")).with_columns(pl.lit(None, pl.String).alias("source"))
    rolled = video_days(rows, velocity(rows))
    assert rolled["source"].to_list() == ["display_api"] and rolled["views_gained"].to_list() == [100]


def write_windows(con: Any, raw: pl.DataFrame) -> None:
    for (source,), frame in raw.group_by("source"):
        replace_windows(con, START, START + DAY, Write(RAW_VIDEO_SNAPSHOTS, frame, {"source": str(source)}))
    rows = enriched(raw)
    replace_windows(con, START, START + DAY, Write(ENRICHED_VIDEO_METRICS, rows))
    replace_windows(con, START, START + DAY, Write(VIDEO_VELOCITY, velocity(rows)))


def prune(con: Any) -> Any:
    marks = {
        "daily_video_metrics": 50,
        "daily_creator_metrics": 50,
        "raw_video_snapshots": 10,
        "provider_video_snapshots": 11,
        "enriched_video_metrics": 12,
        "video_velocity": 13,
    }
    return prune_windows(
        con,
        now=T0 + timedelta(days=60),
        retention_days=35,
        partitions_start=T0 - timedelta(days=1),
        latest_by_day=lambda asset: {KEY: marks[asset]} if asset in marks else {},
    )


def roll_up(con: Any) -> None:
    roll_up_days(
        con, DAY_START, DAY_START + DAY, DAILY_VIDEO_METRICS, (ENRICHED_VIDEO_METRICS, VIDEO_VELOCITY), video_days
    )


@pytest.mark.both_backends
def test_a_day_both_sources_observed_is_pruned_once_rolled_up(settings):
    with open_warehouse(settings, read_only=False) as con:
        write_windows(con, RAW)
        roll_up(con)
        run = prune(con)
        left = con.execute("SELECT count(*) FROM raw_video_snapshots").fetchone()
    (decision,) = run.decisions
    assert decision.prune, decision.reasons
    assert run.deleted[KEY] == {"raw_video_snapshots": 5, "enriched_video_metrics": 3, "video_velocity": 3}
    assert left == (0,)


@pytest.mark.both_backends
def test_a_day_whose_provider_rows_came_after_the_rollup_is_kept(settings):
    """Rolled up when only the Display API's rows were there; the provider's rows (and their enrichment) came later:
    the rollup holds as many observations as raw has Display API rows, but not the provider's window 120."""
    with open_warehouse(settings, read_only=False) as con:
        write_windows(con, RAW.filter(pl.col("source") == "display_api"))
        roll_up(con)
        write_windows(con, RAW)
        run = prune(con)
        left = con.execute("SELECT count(*) FROM raw_video_snapshots").fetchone()
    (decision,) = run.decisions
    assert not decision.prune and left == (5,)
    (reason,) = decision.reasons
    assert reason.startswith(f"daily_video_metrics rolled up 2 observations for {KEY}")
    assert reason.endswith(
        "(display_api 2) but the window tables hold, per source (raw_video_snapshots: the rows enrichment keeps):"
        " raw_video_snapshots analytics_provider 1, display_api 2, enriched_video_metrics analytics_provider 1,"
        " display_api 2, video_velocity analytics_provider 1, display_api 2"
    )


def test_a_provider_rerun_after_the_video_rollup_keeps_the_day():
    """The provider's step writes raw_video_snapshots too: its re-run after the day's rollup makes it stale."""
    marks = {"daily_video_metrics": 10, "raw_video_snapshots": 5, "enriched_video_metrics": 6, "video_velocity": 7}
    marks["provider_video_snapshots"] = 20
    with duckdb.connect() as con:
        write_windows(con, RAW)
        roll_up(con)
        run = prune_windows(
            con,
            now=T0 + timedelta(days=60),
            retention_days=35,
            partitions_start=T0 - timedelta(days=1),
            latest_by_day=lambda asset: {KEY: marks[asset]} if asset in marks else {},
            dry_run=True,
        )
    (decision,) = run.decisions
    assert decision.reasons == (
        f"raw_video_snapshots re-materialised after daily_video_metrics {KEY}: re-materialise daily_video_metrics"
        f" partition {KEY}",
    )
