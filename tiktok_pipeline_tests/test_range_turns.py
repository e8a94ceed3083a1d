"""A range run takes the warehouse in turns (issue 13, "Freshness"), with the same result.

It reads an hour of windows at a time and writes in turns of at least an hour and ``TURN_ROWS`` rows. With the
turns cut at the hour, a velocity row after the cut has its 30-minute baseline in the turn before. Checked against
the simulator's ground truth, like ``test_assets.py``.
"""

from contextlib import contextmanager
from datetime import timedelta

import polars as pl
import pytest

from tiktok_pipeline.simulator.world import World, WorldConfig
from tiktok_pipeline.warehouse import turns as turns_module
from tiktok_pipeline.warehouse.turns import TURN, turn_connections, turns, turns_by_rows
from tiktok_pipeline.windows import WINDOW, utc_naive, window_starts

from .conftest import T0
from .test_assets import materialize_range, read


def test_turns_cover_the_range_in_order_an_hour_at_most():
    day = turns(T0, T0 + timedelta(days=1))
    assert len(day) == 24 and day[0][0] == T0 and day[-1][1] == T0 + timedelta(days=1)
    assert all(hi - lo == TURN for lo, hi in day) and all(a[1] == b[0] for a, b in zip(day, day[1:], strict=False))
    assert turns(T0, T0 + WINDOW) == [(T0, T0 + WINDOW)] and turns(T0, T0) == []
    assert turns(T0, T0 + 13 * WINDOW) == [(T0, T0 + TURN), (T0 + TURN, T0 + 13 * WINDOW)]


def test_write_turns_hold_at_least_an_hour_and_the_rows_asked_for_the_last_aside():
    day = T0 + timedelta(days=1)
    every = {utc_naive(s): 3_000 for s in window_starts(T0, day)}  # 10,000 videos: 36,000 rows an hour
    spans = turns_by_rows(T0, day, every, rows=250_000)
    assert [hi - lo for lo, hi in spans] == [7 * TURN, 7 * TURN, 7 * TURN, 3 * TURN]
    assert (
        spans[0][0] == T0 and spans[-1][1] == day and all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    )
    big = {utc_naive(s): 100_000 for s in window_starts(T0, day)}  # an hour holds more than asked: hourly turns
    assert turns_by_rows(T0, day, big, rows=250_000) == turns(T0, day)
    assert turns_by_rows(T0, day, {}, rows=250_000) == [(T0, day)]  # no rows: one turn
    assert turns_by_rows(T0, day, every, rows=0) == turns(T0, day)
    assert turns_by_rows(T0, T0, every) == []
    burst = {utc_naive(T0 + 13 * WINDOW): 300_000}  # rows in one window of the second hour
    assert turns_by_rows(T0, day, burst, rows=250_000) == [(T0, T0 + 14 * WINDOW), (T0 + 14 * WINDOW, day)]


def test_a_range_of_more_than_a_turn_gives_every_window_its_true_velocity(settings, monkeypatch):
    monkeypatch.setattr(turns_module, "TURN_ROWS", 0)  # the simulator's few videos: written an hour at a time too
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


class _Connections:
    """Connections that say when they were opened and closed."""

    def __init__(self) -> None:
        self.log: list[str] = []

    @contextmanager
    def connect(self):
        number = sum(entry.startswith("open") for entry in self.log) + 1
        self.log.append(f"open {number}")
        try:
            yield number
        finally:
            self.log.append(f"close {number}")


def test_a_range_keeps_its_connection_from_turn_to_turn_while_no_live_window_waits():
    spans, connections = turns(T0, T0 + timedelta(hours=3)), _Connections()
    with turn_connections(spans, connections.connect, lambda: False) as each_turn:
        used = [connection for _, connection in each_turn]
    assert used == [1, 1, 1] and connections.log == ["open 1", "close 1"]


def test_a_range_lets_go_of_the_warehouse_between_turns_when_a_live_window_waits():
    spans, connections = turns(T0, T0 + timedelta(hours=3)), _Connections()
    waiting = iter([True, False])  # asked before the second and the third turn
    with turn_connections(spans, connections.connect, lambda: next(waiting)) as each_turn:
        used = [connection for _, connection in each_turn]
    assert used == [1, 2, 2] and connections.log == ["open 1", "close 1", "open 2", "close 2"]


def test_a_failing_turn_closes_its_connection():
    connections = _Connections()
    with (
        pytest.raises(RuntimeError),
        turn_connections(turns(T0, T0 + timedelta(hours=2)), connections.connect, lambda: False) as each_turn,
    ):
        for _ in each_turn:
            raise RuntimeError("a check failed")
    assert connections.log == ["open 1", "close 1"]


@pytest.mark.parametrize(("turn_rows", "writes"), [(0, 2), (None, 1)])
def test_a_range_writes_in_turns_of_at_least_turn_rows(settings, monkeypatch, turn_rows, writes):
    """Two hours of the simulator's few videos: read an hour at a time, written in one turn (fewer rows than
    TURN_ROWS), or an hour at a time when any row count will do; every window written either way."""
    from tiktok_pipeline.defs.videos import process

    if turn_rows is not None:
        monkeypatch.setattr(turns_module, "TURN_ROWS", turn_rows)
    spans = []
    real = process.write_enriched_and_velocity

    def spied(connection, lo, hi, *args, **kwargs):
        spans.append((lo, hi))
        return real(connection, lo, hi, *args, **kwargs)

    monkeypatch.setattr(process, "write_enriched_and_velocity", spied)
    last = T0 + 2 * TURN - WINDOW
    assert materialize_range(settings, T0, last).success
    assert len(spans) == writes and spans[0][0] == T0 and spans[-1][1] == last + WINDOW
    raw, velocity = read(settings, "raw_video_snapshots"), read(settings, "video_velocity")
    assert read(settings, "enriched_video_metrics").height == raw.height == velocity.height
    assert velocity["window_start"].n_unique() == 24
