"""Velocity maths against hand-computed cases."""

from datetime import datetime, timedelta

import polars as pl
import pytest

from tiktok_pipeline.metrics.enrichment import enrich_snapshots
from tiktok_pipeline.metrics.velocity import compute_velocity, top_movers

T0 = datetime(2026, 11, 24, 12, 0)
CREATED = datetime(2026, 11, 24, 0, 0)


def obs(video: str, minutes: float, views: int, likes: int = 0, comments: int = 0, shares: int = 0) -> dict:
    observed = T0 + timedelta(minutes=minutes)
    return {
        "window_start": observed - timedelta(minutes=5),
        "observed_at": observed,
        "video_id": video,
        "creator_username": "alice",
        "create_time": CREATED,
        "view_count": views,
        "like_count": likes,
        "comment_count": comments,
        "share_count": shares,
    }


def enriched(rows: list[dict]) -> pl.DataFrame:
    registry = pl.DataFrame(
        {"creator_username": ["alice"], "campaign_ids": [["c1"]], "product_skus": [["sku"]], "audience_tags": [["t"]]}
    )
    return enrich_snapshots(pl.DataFrame(rows), registry)


def test_regular_polling_uses_observation_exactly_30_minutes_earlier():
    history = enriched([obs("v", 0, 1000), obs("v", 5, 1100), obs("v", 30, 1600)])
    current = history.filter(pl.col("observed_at") == T0 + timedelta(minutes=30))
    row = compute_velocity(current, history).row(0, named=True)
    assert row["baseline_observed_at"] == T0
    assert row["elapsed_minutes"] == 30.0
    assert row["view_delta_30m"] == 600
    assert row["views_per_minute"] == pytest.approx(20.0)


def test_irregular_polling_takes_latest_at_or_before_and_divides_by_real_minutes():
    # observations at 0, 12 and 45 minutes: for 45 the baseline is 12 (<= 15), 33 real minutes earlier
    history = enriched([obs("v", 0, 100), obs("v", 12, 400), obs("v", 45, 1060)])
    current = history.filter(pl.col("observed_at") == T0 + timedelta(minutes=45))
    row = compute_velocity(current, history).row(0, named=True)
    assert row["baseline_observed_at"] == T0 + timedelta(minutes=12)
    assert row["elapsed_minutes"] == pytest.approx(33.0)
    assert row["view_delta_30m"] == 660
    assert row["views_per_minute"] == pytest.approx(20.0)


def test_no_baseline_within_30_minutes_gives_nulls():
    history = enriched([obs("v", 0, 100), obs("v", 20, 400)])
    current = history.filter(pl.col("observed_at") == T0 + timedelta(minutes=20))
    row = compute_velocity(current, history).row(0, named=True)
    assert row["baseline_observed_at"] is None
    assert row["view_delta_30m"] is None and row["views_per_minute"] is None and row["momentum"] is None


def test_zero_views_give_null_engagement_and_null_change():
    history = enriched([obs("v", 0, 0), obs("v", 30, 200, likes=20)])
    assert history["engagement_rate"].to_list() == [None, pytest.approx(0.1)]
    current = history.filter(pl.col("observed_at") == T0 + timedelta(minutes=30))
    row = compute_velocity(current, history).row(0, named=True)
    assert row["engagement_rate_change_30m"] is None
    assert row["view_delta_30m"] == 200


def test_engagement_rate_change_and_momentum():
    # age at 12:30 is 750 minutes; lifetime rate = 9000 / 750 = 12 views/min
    history = enriched([obs("v", 0, 3000, likes=300), obs("v", 30, 9000, likes=450, shares=90)])
    current = history.filter(pl.col("observed_at") == T0 + timedelta(minutes=30))
    row = compute_velocity(current, history).row(0, named=True)
    assert row["engagement_rate_change_30m"] == pytest.approx(540 / 9000 - 0.1)
    assert row["views_per_minute"] == pytest.approx(200.0)
    assert row["momentum"] == pytest.approx(200.0 / 12.0)


def test_momentum_floor_for_tiny_videos():
    # lifetime rate 30 / 750 = 0.04 < 1, so the floor of 1 view/min applies
    history = enriched([obs("v", 0, 0), obs("v", 30, 30)])
    current = history.filter(pl.col("observed_at") == T0 + timedelta(minutes=30))
    assert compute_velocity(current, history)["momentum"][0] == pytest.approx(1.0)


def test_videos_do_not_borrow_each_others_baselines():
    history = enriched([obs("a", 0, 100), obs("b", 30, 500), obs("a", 30, 400)])
    current = history.filter(pl.col("observed_at") == T0 + timedelta(minutes=30))
    result = {r["video_id"]: r for r in compute_velocity(current, history).iter_rows(named=True)}
    assert result["a"]["view_delta_30m"] == 300
    assert result["b"]["view_delta_30m"] is None


def test_untracked_creator_gets_empty_lists_and_age():
    frame = enrich_snapshots(
        pl.DataFrame([obs("v", 0, 10)]).with_columns(pl.lit("bob").alias("creator_username")),
        pl.DataFrame(
            {"creator_username": ["alice"], "campaign_ids": [["c"]], "product_skus": [["s"]], "audience_tags": [["t"]]}
        ),
    )
    row = frame.row(0, named=True)
    assert row["campaign_ids"] == [] and row["product_skus"] == [] and row["audience_tags"] == []
    assert row["video_age_minutes"] == pytest.approx(720.0)


def test_top_movers_orders_by_momentum_with_nulls_last():
    frame = pl.DataFrame({"video_id": ["a", "b", "c"], "momentum": [None, 3.0, 5.0]})
    assert top_movers(frame, 3)["video_id"].to_list() == ["c", "b", "a"]
