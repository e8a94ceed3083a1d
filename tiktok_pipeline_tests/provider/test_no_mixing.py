"""A delta never mixes two sources' counts: a video seen by the Display API and the analytics provider with
different counts (both backends, through the warehouse as the window step computes it)."""

from datetime import datetime, timedelta

import polars as pl
import pytest

from tiktok_pipeline.ingest.polling.state import compute_polling_state
from tiktok_pipeline.metrics.enrichment import enrich_windows
from tiktok_pipeline.metrics.process import write_enriched_and_velocity
from tiktok_pipeline.warehouse.io import Write, replace_windows
from tiktok_pipeline.warehouse.tables import RAW_VIDEO_SNAPSHOTS
from tiktok_pipeline.windows import utc_naive
from tiktok_pipeline_tests.conftest import T0, open_warehouse

VIDEO = "7000000000000000001"
START = utc_naive(T0)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def observation(window: int, observed: float, views: int, source: str) -> dict:
    return {
        "window_start": at(window),
        "observed_at": at(observed),
        "video_id": VIDEO,
        "creator_username": "sunny_traveler_1",
        "create_time": START - timedelta(hours=2),
        "view_count": views,
        "like_count": views // 10,
        "comment_count": 1,
        "share_count": 1,
        "source": source,
    }


RAW = pl.DataFrame(
    [
        observation(0, 5, 1000, "display_api"),  # the Display API at the window's end
        observation(0, 2, 900, "analytics_provider"),  # the provider's crawl, lower: not chosen (display wins)
        observation(5, 4, 950, "analytics_provider"),  # the provider alone in 10:05
        observation(40, 38, 1200, "analytics_provider"),  # the provider alone in 10:40
        observation(45, 50, 1700, "display_api"),  # the Display API again in 10:45
    ]
)


@pytest.mark.both_backends
def test_velocity_takes_deltas_within_one_source_and_a_window_keeps_one_source(settings):
    end = START + timedelta(minutes=50)
    with open_warehouse(settings, read_only=False) as con:
        for source, rows in RAW.group_by("source"):
            replace_windows(con, START, end, Write(RAW_VIDEO_SNAPSHOTS, rows, {"source": str(source[0])}))
        assert con.execute("SELECT count(*) FROM raw_video_snapshots").fetchone() == (5,)  # each source kept its rows
        enriched = enrich_windows(con, pl.DataFrame(schema=_REGISTRY), START, end)
        velocity = write_enriched_and_velocity(con, START, end, enriched, velocity=True)
        state = compute_polling_state(con, timedelta(days=7))
    by_window = {row["window_start"]: row for row in enriched.iter_rows(named=True)}
    assert by_window[at(0)]["source"] == "display_api" and by_window[at(0)]["view_count"] == 1000
    assert velocity is not None
    rows = {row["window_start"]: row for row in velocity.iter_rows(named=True)}
    provider = rows[at(40)]  # target 10:08: the provider's 10:04 (950), not the Display API's 10:05 (1000)
    assert provider["source"] == "analytics_provider"
    assert provider["baseline_observed_at"] == at(4) and provider["view_delta_30m"] == 250
    assert provider["elapsed_minutes"] == pytest.approx(34.0)  # between the provider's crawls, not our fetches
    display = rows[at(45)]  # target 10:20: the Display API's 10:05 (1000), not the provider's 10:38 or 10:04
    assert display["source"] == "display_api" and display["baseline_observed_at"] == at(5)
    assert display["view_delta_30m"] == 700
    assert state.videos.filter(pl.col("video_id") == VIDEO)["last_polled_at"].to_list() == [at(50)]


_REGISTRY = {
    "creator_username": pl.String,
    "campaign_ids": pl.List(pl.String),
    "product_skus": pl.List(pl.String),
    "audience_tags": pl.List(pl.String),
}
