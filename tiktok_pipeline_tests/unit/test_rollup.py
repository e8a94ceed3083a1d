"""Daily rollup maths against hand-built window rows."""

from datetime import datetime, timedelta

import polars as pl
import pytest

from tiktok_pipeline.metrics.rollup import creator_days, video_days
from tiktok_pipeline.warehouse.tables import (
    DAILY_CREATOR_METRICS,
    DAILY_VIDEO_METRICS,
    ENRICHED_VIDEO_METRICS,
    VIDEO_VELOCITY,
)

DAY1 = datetime(2026, 11, 20)
DAY2 = datetime(2026, 11, 21)
CREATED = datetime(2026, 11, 19, 8, 0)


def enriched_row(
    window: datetime,
    video: str,
    views: int,
    likes: int = 0,
    comments: int = 0,
    shares: int = 0,
    campaigns: tuple[str, ...] = ("c1",),
    creator: str = "alice",
) -> dict:
    rate = (likes + comments + shares) / views if views else None
    return {
        "window_start": window,
        "observed_at": window + timedelta(minutes=5),
        "video_id": video,
        "creator_username": creator,
        "create_time": CREATED,
        "view_count": views,
        "like_count": likes,
        "comment_count": comments,
        "share_count": shares,
        "engagement_rate": rate,
        "video_age_minutes": 0.0,
        "campaign_ids": list(campaigns),
        "product_skus": ["sku-1"],
        "audience_tags": ["tag"],
    }


def velocity_row(window: datetime, video: str, vpm: float | None, momentum: float | None) -> dict:
    return {
        "window_start": window,
        "observed_at": window + timedelta(minutes=5),
        "video_id": video,
        "creator_username": "alice",
        "views_per_minute": vpm,
        "momentum": momentum,
    }


def frame(spec, rows: list[dict]) -> pl.DataFrame:
    return spec.conform(pl.DataFrame(rows, infer_schema_length=None))


def at(day: datetime, hour: int, minute: int) -> datetime:
    return day + timedelta(hours=hour, minutes=minute)


ENRICHED = frame(
    ENRICHED_VIDEO_METRICS,
    [
        # day 1: the 23:55 window is observed at 00:00 of day 2 but belongs to day 1 (its window_start)
        enriched_row(at(DAY1, 10, 0), "v1", 0),
        enriched_row(at(DAY1, 10, 30), "v1", 1_000, likes=100, comments=10, shares=10),
        enriched_row(at(DAY1, 23, 55), "v1", 5_000, likes=400, comments=50, shares=50, campaigns=("c1", "c2")),
        enriched_row(at(DAY1, 12, 0), "v2", 300, likes=30),
        # day 2
        enriched_row(at(DAY2, 0, 0), "v1", 5_200, likes=410, comments=50, shares=60),
        enriched_row(at(DAY2, 6, 0), "v1", 6_000, likes=500, comments=60, shares=40),
    ],
)
VELOCITY = frame(
    VIDEO_VELOCITY,
    [
        velocity_row(at(DAY1, 10, 0), "v1", None, None),
        velocity_row(at(DAY1, 10, 30), "v1", 33.3, 4.0),
        velocity_row(at(DAY1, 23, 55), "v1", 50.0, 2.5),
        velocity_row(at(DAY2, 0, 0), "v1", 40.0, 1.0),
        velocity_row(at(DAY2, 6, 0), "v1", 2.2, 0.1),
        velocity_row(at(DAY1, 12, 0), "v2", None, None),
    ],
)


def by_key(rolled: pl.DataFrame) -> dict[tuple[datetime, str], dict]:
    return {(row["window_start"], row["video_id"]): row for row in rolled.iter_rows(named=True)}


def test_one_row_per_video_and_day_of_window_start():
    rolled = video_days(ENRICHED, VELOCITY)
    assert sorted(by_key(rolled)) == [(DAY1, "v1"), (DAY1, "v2"), (DAY2, "v1")]
    assert rolled["observations"].sum() == ENRICHED.height


def test_first_last_and_gained_counts_of_the_day():
    row = by_key(video_days(ENRICHED, VELOCITY))[(DAY1, "v1")]
    assert row["observations"] == 3
    assert row["first_observed_at"] == at(DAY1, 10, 5)
    assert row["last_observed_at"] == at(DAY2, 0, 0)  # the 23:55 window ends at midnight
    assert (row["first_view_count"], row["last_view_count"], row["max_view_count"]) == (0, 5_000, 5_000)
    assert row["views_gained"] == 5_000
    assert (row["like_count"], row["comment_count"], row["share_count"]) == (400, 50, 50)
    assert row["engagement_rate"] == pytest.approx(500 / 5_000)
    # the 0-view observation has no engagement rate and does not drag the mean down
    assert row["mean_engagement_rate"] == pytest.approx((120 / 1_000 + 500 / 5_000) / 2)
    assert row["campaign_ids"] == ["c1", "c2"]  # as tracked at the day's last observation
    assert row["creator_username"] == "alice" and row["create_time"] == CREATED

    second = by_key(video_days(ENRICHED, VELOCITY))[(DAY2, "v1")]
    assert (second["first_view_count"], second["last_view_count"], second["views_gained"]) == (5_200, 6_000, 800)


def test_speed_figures_come_from_velocity_and_ignore_missing_baselines():
    rows = by_key(video_days(ENRICHED, VELOCITY))
    day1 = rows[(DAY1, "v1")]
    assert day1["max_views_per_minute"] == pytest.approx(50.0)
    assert day1["max_momentum"] == pytest.approx(4.0)
    assert day1["max_momentum_at"] == at(DAY1, 10, 35)
    assert day1["observations_with_baseline"] == 2
    no_baseline = rows[(DAY1, "v2")]
    assert no_baseline["max_views_per_minute"] is None and no_baseline["max_momentum"] is None
    assert no_baseline["max_momentum_at"] is None and no_baseline["observations_with_baseline"] == 0


def test_a_video_without_velocity_rows_still_gets_its_counts():
    rolled = by_key(video_days(ENRICHED, VELOCITY.filter(pl.col("video_id") != "v2")))
    assert rolled[(DAY1, "v2")]["last_view_count"] == 300
    assert rolled[(DAY1, "v2")]["observations_with_baseline"] == 0


def test_row_order_does_not_matter():
    expected = video_days(ENRICHED, VELOCITY)
    shuffled = video_days(ENRICHED.sample(fraction=1.0, shuffle=True, seed=3), VELOCITY.reverse())
    assert shuffled.equals(expected)


def test_result_matches_the_table_spec():
    rolled = video_days(ENRICHED, VELOCITY)
    assert set(rolled.columns) == set(DAILY_VIDEO_METRICS.column_names)
    assert DAILY_VIDEO_METRICS.conform(rolled).height == rolled.height
    empty = video_days(ENRICHED.clear(), VELOCITY.clear())
    assert empty.is_empty() and set(empty.columns) == set(DAILY_VIDEO_METRICS.column_names)


def creator_row(window: datetime, followers: int, likes: int, videos: int, name: str = "Alice") -> dict:
    return {
        "window_start": window,
        "observed_at": window + timedelta(minutes=5),
        "creator_username": "alice",
        "open_id": "open-alice",
        "display_name": name,
        "follower_count": followers,
        "following_count": 12,
        "likes_count": likes,
        "video_count": videos,
        "landing_file": "display_api/x.jsonl.gz",
    }


def test_creator_days_first_last_and_followers_gained():
    creators = pl.DataFrame(
        [
            creator_row(at(DAY1, 23, 55), 980, 5_500, 11, name="Alice B"),
            creator_row(at(DAY1, 0, 0), 1_000, 5_000, 10),
            creator_row(at(DAY1, 12, 0), 1_050, 5_200, 10),
            creator_row(at(DAY2, 0, 0), 990, 5_600, 11),
        ]
    )
    rolled = creator_days(creators)
    assert set(rolled.columns) == set(DAILY_CREATOR_METRICS.column_names)
    day1 = rolled.filter(pl.col("window_start") == DAY1).row(0, named=True)
    assert day1["observations"] == 3
    assert (day1["first_follower_count"], day1["last_follower_count"], day1["followers_gained"]) == (1_000, 980, -20)
    assert (day1["likes_count"], day1["video_count"], day1["display_name"]) == (5_500, 11, "Alice B")
    assert (day1["first_observed_at"], day1["last_observed_at"]) == (at(DAY1, 0, 5), at(DAY2, 0, 0))
    assert rolled.filter(pl.col("window_start") == DAY2)["observations"].to_list() == [1]
