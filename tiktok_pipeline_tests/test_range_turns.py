"""A range run takes the warehouse in turns of an hour of windows (issue 13, "Freshness"), with the same result.

The turns are cut at the hour: a velocity row after the cut has its 30-minute baseline in the turn before, read
from the warehouse the earlier turn wrote. Checked against the simulator's ground truth, like ``test_assets.py``.
"""

from datetime import timedelta

import polars as pl

from tiktok_pipeline.simulator.world import World, WorldConfig
from tiktok_pipeline.warehouse.turns import TURN, turns
from tiktok_pipeline.windows import WINDOW

from .conftest import T0
from .test_assets import materialize_range, read


def test_turns_cover_the_range_in_order_an_hour_at_most():
    day = turns(T0, T0 + timedelta(days=1))
    assert len(day) == 24 and day[0][0] == T0 and day[-1][1] == T0 + timedelta(days=1)
    assert all(hi - lo == TURN for lo, hi in day) and all(a[1] == b[0] for a, b in zip(day, day[1:], strict=False))
    assert turns(T0, T0 + WINDOW) == [(T0, T0 + WINDOW)] and turns(T0, T0) == []
    assert turns(T0, T0 + 13 * WINDOW) == [(T0, T0 + TURN), (T0 + TURN, T0 + 13 * WINDOW)]


def test_a_range_of_more_than_a_turn_gives_every_window_its_true_velocity(settings):
    last = T0 + 15 * WINDOW  # 10:00 .. 11:15: two turns, cut at 11:00
    result = materialize_range(settings, T0, last)
    assert result.success, result.all_events
    raw, enriched = read(settings, "raw_video_snapshots"), read(settings, "enriched_video_metrics")
    assert enriched.height == raw.height and enriched["window_start"].n_unique() == 16
    velocity = read(settings, "video_velocity")
    assert velocity.height == raw.height
    world = World(WorldConfig(seed=settings.sim_seed))
    after_the_cut = velocity.filter(pl.col("window_start") >= (T0 + TURN).replace(tzinfo=None))
    with_baseline = after_the_cut.filter(pl.col("baseline_observed_at").is_not_null())
    assert with_baseline.height > 0
    for row in with_baseline.iter_rows(named=True):
        end = row["observed_at"].replace(tzinfo=T0.tzinfo)
        assert row["baseline_observed_at"] == row["observed_at"] - timedelta(minutes=30)  # in the turn before
        expected = (
            world.counts(row["video_id"], end.timestamp()).view_count
            - world.counts(row["video_id"], (end - timedelta(minutes=30)).timestamp()).view_count
        )
        assert row["view_delta_30m"] == expected
