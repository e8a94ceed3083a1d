"""A range run takes the warehouse in turns of an hour of windows (issue 13, "Freshness"), with the same result.

The turns are cut at the hour: a velocity row after the cut has its 30-minute baseline in the turn before, read
from the warehouse the earlier turn wrote. Checked against the simulator's ground truth, like ``test_assets.py``.
"""

import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from tiktok_pipeline.defs.videos import process
from tiktok_pipeline.defs.videos.process import _let_go
from tiktok_pipeline.simulator.world import World, WorldConfig
from tiktok_pipeline.warehouse.lock import _process_lock, lock_path
from tiktok_pipeline.warehouse.turns import TURN, turn_connections, turns
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


def test_a_handed_over_connection_is_closed_by_its_new_holder_not_by_the_block():
    spans, connections = turns(T0, T0 + timedelta(hours=2)), _Connections()
    with turn_connections(spans, connections.connect, lambda: False) as each_turn:
        for _ in each_turn:
            pass
        handed = each_turn.hand_over()
    assert connections.log == ["open 1"]
    handed.close()
    assert connections.log == ["open 1", "close 1"]


class _Closing:
    """A connection whose closing is logged (and fails when told to)."""

    def __init__(self, log: list[str], error: Exception | None = None) -> None:
        self.log, self.error = log, error

    def close(self) -> None:
        self.log.append("connection closed")
        if self.error is not None:
            raise self.error


def _holding(log: list[str]) -> ExitStack:
    held = ExitStack()
    held.callback(log.append, "lock let go")
    return held


def test_the_last_connection_closes_then_the_lock_waits_for_the_polling_state():
    log: list[str] = []
    written: Future = Future()
    with ThreadPoolExecutor(1) as closer:
        closed = closer.submit(_let_go, _Closing(log), written, _holding(log))
        for _ in range(500):
            if log:
                break
            time.sleep(0.01)
        time.sleep(0.05)
        assert log == ["connection closed"]  # the lock stays until the polling state is written under it
        log.append("polling state written")
        written.set_result(None)
        closed.result(timeout=10)
    assert log == ["connection closed", "polling state written", "lock let go"]


def test_a_failed_close_lets_go_of_the_lock_and_fails_with_its_error():
    log: list[str] = []
    written: Future = Future()
    written.set_exception(OSError("the polling state could not be written"))  # the step raises that one itself
    with pytest.raises(duckdb.IOException, match="checkpoint"):
        _let_go(_Closing(log, duckdb.IOException("checkpoint failed: disk full")), written, _holding(log))
    assert log == ["connection closed", "lock let go"]


def test_a_range_step_ends_with_its_warehouse_checkpointed_and_its_lock_gone(settings, monkeypatch):
    def slow_let_go(*args):  # a closing that takes longer than the step's reporting: the step still waits for it
        time.sleep(1.0)
        _let_go(*args)

    monkeypatch.setattr(process, "_let_go", slow_let_go)
    result = materialize_range(settings, T0, T0 + 15 * WINDOW)  # two turns: the last one's connection handed over
    assert result.success, result.all_events
    path = settings.warehouse_path
    assert not Path(f"{path}.wal").exists()  # closed (its WAL checkpointed into the file) before the step ended
    assert not _process_lock(lock_path(path)).is_locked
    assert (Path(settings.polling_state_dir) / "videos.parquet").exists()


def test_a_range_step_whose_last_close_fails_fails_and_lets_go_of_the_lock(settings, monkeypatch):
    def failing_close(connection, written, held):  # the checkpoint fails (a full disk); the connection still closes
        _let_go(_Closing([], duckdb.IOException("checkpoint failed: disk full")), written, held)

    monkeypatch.setattr(process, "_let_go", failing_close)
    result = materialize_range(settings, T0, T0 + 15 * WINDOW)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert any("checkpoint failed: disk full" in str(e.event_specific_data.error) for e in failures)
    assert not _process_lock(lock_path(settings.warehouse_path)).is_locked
