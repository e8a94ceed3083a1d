"""The surge rule (pure): one observation, or a streak held for a while and still rising."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from tiktok_pipeline.metrics.surge import SurgeRule, history_minutes, mark_surging, surge_flags
from tiktok_pipeline.metrics.swaps import SwapPolicy, surging_videos

T = datetime(2026, 11, 18, 12, 0)


def history(series: dict[str, list[float | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"video_id": v, "observed_at": T + timedelta(minutes=5 * i), "momentum": m}
            for v, values in series.items()
            for i, m in enumerate(values)
        ],
        schema={"video_id": pl.String, "observed_at": pl.Datetime("us"), "momentum": pl.Float64},
    )


def surging_at(frame: pl.DataFrame, video: str) -> list[bool]:
    return frame.filter(pl.col("video_id") == video).sort("observed_at")["surging"].to_list()


def test_one_observation_is_todays_rule():
    flags = surge_flags(history({"a": [1.0, 3.0, None, 3.5, float("nan")]}), SurgeRule(3.0))
    assert surging_at(flags, "a") == [False, True, False, True, False]


def test_a_burst_that_fades_is_not_held_long_enough_a_surge_that_keeps_rising_is():
    burst = [1.0, 4.0, 6.0, 7.0, 7.0, 6.0, 5.0, 4.0, 3.0, 1.0]  # rises 15 minutes, then falls
    surge = [1.0, 3.0, 4.0, 6.0, 9.0, 14.0, 20.0, 30.0, 45.0, 60.0]
    flags = surge_flags(history({"burst": burst, "surge": surge}), SurgeRule(3.0, persist_minutes=30))
    assert not any(surging_at(flags, "burst"))
    assert surging_at(flags, "surge") == [False] * 7 + [True] * 3  # held 30 minutes from 12:05, then on
    row = flags.filter((pl.col("video_id") == "surge") & pl.col("surging")).row(0, named=True)
    assert row["streak_start"] == T + timedelta(minutes=5)


def test_a_break_restarts_the_streak_and_falling_momentum_is_not_surging():
    values = [4.0, 5.0, 1.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 5.0]
    flags = surge_flags(history({"v": values}), SurgeRule(3.0, persist_minutes=20, rising_minutes=15))
    # the streak restarts at 12:15; held 20 minutes at 12:35; at 12:45 momentum fell below its 12:30 value
    assert surging_at(flags, "v") == [False] * 7 + [True, True, False]


def test_mark_surging_judges_a_windows_rows_against_their_history_and_swaps_honour_it():
    frame = history({"held": [3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], "burst": [1.0] * 7 + [12.0]})
    now = frame["observed_at"].max()
    rows = frame.filter(pl.col("observed_at") == now).with_columns(pl.lit(0).alias("active_ads"))
    rule = SurgeRule(2.0, persist_minutes=30)
    assert history_minutes(rule) == 45.0 and history_minutes(SurgeRule(2.0)) == 0.0
    marked = mark_surging(rows, frame.filter(pl.col("observed_at") < now), rule)
    assert dict(zip(marked["video_id"], marked["surging"], strict=True)) == {"held": True, "burst": False}
    policy = SwapPolicy(-0.002, 1000.0, 2.0, persist_minutes=30)
    assert surging_videos(marked, policy)["video_id"].to_list() == ["held"]
    assert sorted(surging_videos(rows, policy)["video_id"]) == ["burst", "held"]  # no judgement: one observation
