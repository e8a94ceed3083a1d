"""CTR maths: pro-rating hourly rows into a trailing hour, nulls and zeros, the 30-minute change, organic proxies."""

from datetime import datetime, timedelta

import polars as pl
import pytest

from tiktok_pipeline.metrics.ctr import ad_rates, ad_velocity, organic_rates, ratio, trailing_totals

H = datetime(2026, 11, 20, 9)
MIN = timedelta(minutes=1)
HOURLY_SCHEMA = {
    "ad_id": pl.String,
    "video_id": pl.String,
    "campaign_name": pl.String,
    "stat_time_hour": pl.Datetime("us"),
    "fetched_at": pl.Datetime("us"),
    "impressions": pl.Int64,
    "clicks": pl.Int64,
    "spend": pl.Float64,
    "video_play_actions": pl.Int64,
    "video_watched_2s": pl.Int64,
    "profile_visits": pl.Int64,
}


def hourly(*rows: dict) -> pl.DataFrame:
    defaults = {
        "ad_id": "1",
        "video_id": "77",
        "campaign_name": "cmp-a",
        "fetched_at": H + timedelta(hours=3),
        "impressions": 1000,
        "clicks": 10,
        "spend": 5.0,
        "video_play_actions": 900,
        "video_watched_2s": 300,
        "profile_visits": 2,
    }
    return pl.DataFrame([{**defaults, **row} for row in rows], schema=HOURLY_SCHEMA)


def at(reference: datetime) -> pl.DataFrame:
    return pl.DataFrame({"window_start": [reference - 5 * MIN], "reference_at": [reference]})


def test_ratio_is_null_for_zero_or_null_denominators():
    frame = pl.DataFrame({"n": [1, 1, None, 3], "d": [0, None, 5, 4]})
    assert frame.select(ratio(pl.col("n"), pl.col("d")))["n"].to_list() == [None, None, None, 0.75]


def test_a_complete_hour_inside_the_span_counts_whole():
    totals = trailing_totals(hourly({"stat_time_hour": H}), at(H + 60 * MIN)).row(0, named=True)
    assert totals["impressions_60m"] == pytest.approx(1000)
    assert totals["clicks_60m"] == pytest.approx(10)
    assert totals["ctr"] == pytest.approx(0.01)
    assert totals["watched_2s_rate"] == pytest.approx(300 / 900)
    assert totals["profile_visit_rate"] == pytest.approx(2 / 1000)
    assert totals["active_ads"] == 1 and totals["ad_ids"] == ["1"] and totals["ad_campaign_names"] == ["cmp-a"]


def test_hours_are_pro_rated_over_the_part_they_cover():
    rows = hourly(
        {"stat_time_hour": H, "impressions": 600, "clicks": 6},
        # the current hour: fetched 20 minutes into it, so its numbers cover [10:00, 10:20)
        {"stat_time_hour": H + timedelta(hours=1), "fetched_at": H + 80 * MIN, "impressions": 400, "clicks": 12},
    )
    totals = trailing_totals(rows, at(H + 80 * MIN)).row(0, named=True)
    # span [09:20, 10:20): 40/60 of the 09:00 row and all of the 10:00 row
    assert totals["impressions_60m"] == pytest.approx(400 + 400)
    assert totals["clicks_60m"] == pytest.approx(4 + 12)
    assert totals["ctr"] == pytest.approx(16 / 800)


def test_a_later_fetch_of_the_current_hour_only_counts_its_part_before_the_reference():
    # the 10:00 row was fetched at 11:00 (complete); at 10:30 only its first half is in the span
    rows = hourly({"stat_time_hour": H + timedelta(hours=1), "fetched_at": H + timedelta(hours=2), "impressions": 600})
    totals = trailing_totals(rows, at(H + 90 * MIN)).row(0, named=True)
    assert totals["impressions_60m"] == pytest.approx(300)


def test_zero_impressions_give_a_null_ctr_not_a_division_error():
    rows = hourly({"stat_time_hour": H, "impressions": 0, "clicks": 0, "video_play_actions": 0, "profile_visits": 0})
    totals = trailing_totals(rows, at(H + 60 * MIN)).row(0, named=True)
    assert totals["ctr"] is None and totals["watched_2s_rate"] is None and totals["profile_visit_rate"] is None
    assert totals["impressions_60m"] == 0


def test_dash_values_are_left_out_of_their_ratios_only():
    rows = hourly(
        {"ad_id": "1", "stat_time_hour": H, "impressions": 1000, "clicks": 10, "video_watched_2s": None},
        {"ad_id": "2", "stat_time_hour": H, "impressions": None, "clicks": 50, "video_watched_2s": 450},
    )
    totals = trailing_totals(rows, at(H + 60 * MIN)).row(0, named=True)
    assert totals["ctr"] == pytest.approx(10 / 1000)  # ad 2 has no impressions: its clicks are not paired
    assert totals["watched_2s_rate"] == pytest.approx(450 / 900)  # ad 1 has no 2s views
    assert totals["impressions_60m"] == pytest.approx(1000) and totals["clicks_60m"] == pytest.approx(60)
    assert totals["active_ads"] == 2


def test_all_null_volumes_stay_null():
    rows = hourly({"stat_time_hour": H, "impressions": None, "clicks": None, "spend": None})
    totals = trailing_totals(rows, at(H + 60 * MIN)).row(0, named=True)
    assert totals["impressions_60m"] is None and totals["spend_60m"] is None and totals["ctr"] is None


def test_ads_of_one_video_are_summed_and_rows_without_video_dropped():
    rows = hourly(
        {"ad_id": "1", "campaign_name": "cmp-b", "stat_time_hour": H, "impressions": 1000, "clicks": 10},
        {"ad_id": "2", "campaign_name": "cmp-a", "stat_time_hour": H, "impressions": 3000, "clicks": 90},
        {"ad_id": "3", "video_id": None, "stat_time_hour": H, "impressions": 5000, "clicks": 500},
    )
    [row] = trailing_totals(rows, at(H + 60 * MIN)).to_dicts()
    assert row["ctr"] == pytest.approx(100 / 4000)  # the clicks-weighted CTR, not the mean of CTRs
    assert row["ad_ids"] == ["1", "2"] and row["ad_campaign_names"] == ["cmp-a", "cmp-b"]


def test_ctr_change_is_now_minus_thirty_minutes_earlier():
    rows = hourly(
        {"stat_time_hour": H, "impressions": 1200, "clicks": 12},
        {"stat_time_hour": H + timedelta(hours=1), "fetched_at": H + 90 * MIN, "impressions": 600, "clicks": 30},
    )
    [row] = ad_rates(rows, [H + 85 * MIN]).to_dicts()  # window 10:25-10:30
    # now: [09:30, 10:30) = half of 09:00 (600 / 6) + all of 10:00 so far (600 / 30) -> 36 / 1200
    # 30 minutes earlier: [09:00, 10:00) = 1200 / 12; the 10:00 row starts at the span's end
    assert row["ctr"] == pytest.approx(36 / 1200)
    assert row["ctr_30m_ago"] == pytest.approx(12 / 1200)
    assert row["ctr_change_30m"] == pytest.approx(36 / 1200 - 0.01)


def test_ctr_change_is_null_when_the_ad_started_in_the_last_half_hour():
    rows = hourly(
        {"stat_time_hour": H + timedelta(hours=1), "fetched_at": H + 90 * MIN, "impressions": 600, "clicks": 6}
    )
    [row] = ad_rates(rows, [H + 85 * MIN]).to_dicts()
    assert row["ctr"] == pytest.approx(0.01) and row["ctr_30m_ago"] is None and row["ctr_change_30m"] is None


def observations(*rows: dict) -> pl.DataFrame:
    schema = {
        "window_start": pl.Datetime("us"),
        "observed_at": pl.Datetime("us"),
        "video_id": pl.String,
        "creator_username": pl.String,
        "campaign_ids": pl.List(pl.String),
        "view_count": pl.Int64,
        "like_count": pl.Int64,
        "comment_count": pl.Int64,
        "share_count": pl.Int64,
    }
    defaults = {
        "video_id": "77",
        "creator_username": "c",
        "campaign_ids": ["cmp-a"],
        "like_count": 0,
        "comment_count": 0,
    }
    return pl.DataFrame(
        [{**defaults, **row, "window_start": row["observed_at"] - 5 * MIN} for row in rows], schema=schema
    )


def test_organic_rates_and_the_thirty_minute_share_rate():
    history = observations(
        {"observed_at": H, "view_count": 1000, "share_count": 10},
        {"observed_at": H + 20 * MIN, "view_count": 1500, "share_count": 20},
    )
    current = observations(
        {"observed_at": H + 35 * MIN, "view_count": 2000, "share_count": 40, "like_count": 100, "comment_count": 8}
    )
    [row] = organic_rates(current, pl.concat([history, current])).to_dicts()
    assert row["like_rate"] == pytest.approx(0.05) and row["comment_rate"] == pytest.approx(0.004)
    assert row["share_rate"] == pytest.approx(0.02)
    # baseline: the latest observation at or before 09:05, i.e. 09:00
    assert row["organic_baseline_observed_at"] == H
    assert row["share_rate_30m"] == pytest.approx(30 / 1000)


def test_organic_rates_are_null_at_zero_views_and_without_growth_or_baseline():
    current = observations(
        {"video_id": "1", "observed_at": H + 35 * MIN, "view_count": 0, "share_count": 0},
        {"video_id": "2", "observed_at": H + 35 * MIN, "view_count": 500, "share_count": 5},
        {"video_id": "3", "observed_at": H + 35 * MIN, "view_count": 900, "share_count": 9},
    )
    history = observations({"video_id": "2", "observed_at": H, "view_count": 500, "share_count": 4})
    rows = {r["video_id"]: r for r in organic_rates(current, pl.concat([history, current])).to_dicts()}
    assert rows["1"]["share_rate"] is None and rows["1"]["like_rate"] is None
    assert rows["2"]["share_rate_30m"] is None  # views did not grow
    assert rows["3"]["share_rate_30m"] is None and rows["3"]["organic_baseline_observed_at"] is None


def test_ad_velocity_keeps_boosted_unobserved_and_observed_unboosted_videos():
    paid = ad_rates(hourly({"video_id": "boosted", "stat_time_hour": H}), [H + 55 * MIN])
    organic = organic_rates(
        observations({"video_id": "organic", "observed_at": H + 60 * MIN, "view_count": 100, "share_count": 3}),
        pl.DataFrame(
            schema={
                "video_id": pl.String,
                "observed_at": pl.Datetime("us"),
                "view_count": pl.Int64,
                "share_count": pl.Int64,
            }
        ),
    )
    rows = {r["video_id"]: r for r in ad_velocity(paid, organic).to_dicts()}
    assert rows["boosted"]["observed_at"] == H + 60 * MIN and rows["boosted"]["share_rate"] is None
    assert rows["boosted"]["ctr"] == pytest.approx(0.01) and rows["boosted"]["active_ads"] == 1
    assert rows["organic"]["active_ads"] == 0 and rows["organic"]["ctr"] is None
    assert rows["organic"]["share_rate"] == pytest.approx(0.03)
