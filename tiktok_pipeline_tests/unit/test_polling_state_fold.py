"""The polling state folded window by window is the state rebuilt from the day, which is the original query's.

``compute_polling_state`` with the previous run's fold reads only the rows written since (or, given the window's
rows in memory and nothing else written since, aggregates those); without one it rebuilds from a day of
observations. All must give, after every window, exactly what the original single query (kept below as the
reference) gives: across more than a day (observations and velocity figures expire), null velocity figures,
baselines that come and go, raw windows landed before their velocity runs, and a fold written to disk and read
back between runs.
"""

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiktok_pipeline.ingest.polling import state as state_module
from tiktok_pipeline.ingest.polling.plan import CREATOR_STATE_SCHEMA, VIDEO_STATE_SCHEMA
from tiktok_pipeline.ingest.polling.state import (
    WindowRows,
    compute_polling_state,
    read_fold,
    write_polling_state,
)
from tiktok_pipeline.warehouse.io import Write, connect, read_frame, replace_windows
from tiktok_pipeline.warehouse.tables import RAW_CREATOR_SNAPSHOTS, RAW_VIDEO_SNAPSHOTS, VIDEO_VELOCITY
from tiktok_pipeline.windows import WINDOW

pytestmark = pytest.mark.heavy(30)  # seconds of a core, measured alone: started first under pytest-xdist

DAY = datetime(2026, 11, 20)
HORIZON = timedelta(hours=30)
CREATED = [DAY - timedelta(hours=h) for h in (1, 6, 20, 29)]

REFERENCE = """
WITH bounds AS (SELECT max(observed_at) AS newest, max(observed_at) - INTERVAL 1 DAY AS since FROM raw_video_snapshots),
     last AS (SELECT video_id, arg_max(creator_username, observed_at) AS creator_username,
                     max(observed_at) AS last_polled_at, max(create_time) AS create_time
              FROM raw_video_snapshots WHERE observed_at >= (SELECT since FROM bounds) GROUP BY video_id),
     velocity AS (SELECT video_id,
                   arg_max(views_per_minute, observed_at) FILTER (WHERE views_per_minute IS NOT NULL) AS views_per_minute,
                   arg_max(momentum, observed_at) FILTER (WHERE momentum IS NOT NULL) AS momentum,
                   bool_or(baseline_observed_at IS NOT NULL) AS has_history
            FROM video_velocity WHERE observed_at >= (SELECT since FROM bounds) GROUP BY video_id)
SELECT last.video_id, creator_username, last_polled_at, views_per_minute, momentum,
       coalesce(has_history, false) AS has_history, create_time
FROM last LEFT JOIN velocity USING (video_id)
WHERE create_time >= (SELECT newest FROM bounds) - $horizon
ORDER BY video_id
"""
"""The polling state's query before the fold (rebuilt from the day every run): the definition of the state."""

# One observation: (video, views_per_minute or None, momentum or None, has a baseline)
observation = st.tuples(
    st.integers(0, 3),
    st.none() | st.floats(0, 1e4, allow_nan=False),
    st.none() | st.floats(0, 50, allow_nan=False),
    st.booleans(),
)
# Windows: a gap before each (5 minutes to 25 hours, so figures and videos expire) and the window's observations
window = st.tuples(
    st.sampled_from([1, 2, 6, 60, 150, 250, 300]), st.lists(observation, max_size=4, unique_by=lambda o: o[0])
)


def _write_window(connection, start: datetime, rows: list[tuple], *, velocity: bool) -> WindowRows:
    """Raw (and, with ``velocity``, velocity) rows of one window; creators discovered when their video was seen.
    Returns them as a velocity run holds them in memory."""
    observed = start + WINDOW
    raw = pl.DataFrame(
        {
            "window_start": [start] * len(rows),
            "observed_at": [observed] * len(rows),
            "video_id": [f"v{v}" for v, *_ in rows],
            "creator_username": [f"c{v % 3}" for v, *_ in rows],
            "create_time": [CREATED[v % len(CREATED)] for v, *_ in rows],
            "view_count": [1] * len(rows),
        },
        schema_overrides={"window_start": pl.Datetime("us"), "observed_at": pl.Datetime("us")},
    )
    writes = [Write(RAW_VIDEO_SNAPSHOTS, raw), Write(RAW_CREATOR_SNAPSHOTS, raw.unique("creator_username"))]
    if velocity:
        figures = raw.with_columns(
            pl.Series("views_per_minute", [r[1] for r in rows], dtype=pl.Float64),
            pl.Series("momentum", [r[2] for r in rows], dtype=pl.Float64),
            pl.Series(
                "baseline_observed_at",
                [observed - timedelta(minutes=30) if r[3] else None for r in rows],
                dtype=pl.Datetime("us"),
            ),
        )
        writes.append(Write(VIDEO_VELOCITY, figures))
    replace_windows(connection, start, start + WINDOW, *writes)
    return WindowRows(start, start + WINDOW, raw, figures if velocity else raw.clear())


def _reference(connection) -> pl.DataFrame:
    frame = read_frame(connection, REFERENCE, {"horizon": HORIZON})
    return frame.cast(pl.Schema(VIDEO_STATE_SCHEMA))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(windows=st.lists(window, min_size=1, max_size=8), early_raw=st.booleans(), in_memory=st.booleans())
def test_folded_state_is_the_rebuilt_state_and_the_original_query(tmp_path_factory, windows, early_raw, in_memory):
    folder = tmp_path_factory.mktemp("fold")
    state_dir = folder / "polling_state"
    starts, moment = [], DAY
    for gap, _ in windows:
        moment += gap * WINDOW
        starts.append(moment)
    # an in-memory DuckDB: the same engine and SQL as the warehouse file (which backend holds the rows is not what
    # this proves; the fold's own files still go to disk), without a file's commits in every window of every example
    with duckdb.connect(":memory:") as connection:
        connection.execute("SET TimeZone = 'UTC'")  # as warehouse.io.connect sets it
        for i, (start, (_, rows)) in enumerate(zip(starts, windows, strict=True)):
            written = _write_window(connection, start, rows, velocity=True)
            if early_raw and i + 1 < len(windows):  # the next window's raw rows land before this velocity run
                _write_window(connection, starts[i + 1], windows[i + 1][1], velocity=False)
            previous = read_fold(state_dir)
            folded = compute_polling_state(
                connection, HORIZON, previous=previous, window_start=start, rows=written if in_memory else None
            )
            rebuilt = compute_polling_state(connection, HORIZON)
            expected = _reference(connection)
            assert folded.videos.equals(expected), (i, folded.videos, expected)
            assert rebuilt.videos.equals(expected)
            assert folded.creators.equals(rebuilt.creators)
            assert folded.creators.schema == pl.Schema(CREATOR_STATE_SCHEMA)
            write_polling_state(folded, state_dir)


def test_a_backfilled_window_rebuilds_instead_of_folding(tmp_path: Path):
    """Velocity rewritten for a window the fold already read: the state is rebuilt (a fold would keep the old rows)."""
    state_dir = tmp_path / "polling_state"
    with connect(tmp_path / "warehouse.duckdb") as connection:
        for k, vpm in enumerate([10.0, 20.0]):
            _write_window(connection, DAY + k * WINDOW, [(0, vpm, 1.0, True)], velocity=True)
            state = compute_polling_state(
                connection, HORIZON, previous=read_fold(state_dir), window_start=DAY + k * WINDOW
            )
            write_polling_state(state, state_dir)
        assert state.videos["views_per_minute"].to_list() == [20.0]
        # the latest window re-run with another figure: not after what was folded, so rebuilt
        _write_window(connection, DAY + WINDOW, [(0, 5.0, 1.0, True)], velocity=True)
        again = compute_polling_state(connection, HORIZON, previous=read_fold(state_dir), window_start=DAY + WINDOW)
        assert again.videos["views_per_minute"].to_list() == [5.0]
        assert again.videos.equals(_reference(connection))


def test_figures_older_than_a_day_expire_from_the_folded_state(tmp_path: Path):
    """A velocity figure or baseline seen more than a day ago is not the video's state, even if the video was seen since."""
    state_dir = tmp_path / "polling_state"
    late = DAY + 290 * WINDOW  # 24 h 10 min later
    with connect(tmp_path / "warehouse.duckdb") as connection:
        for start, row in [(DAY, (0, 10.0, 2.0, True)), (late, (0, None, None, False))]:
            _write_window(connection, start, [row], velocity=True)
            state = compute_polling_state(connection, HORIZON, previous=read_fold(state_dir), window_start=start)
            write_polling_state(state, state_dir)
        assert state.videos.select("views_per_minute", "momentum", "has_history").row(0) == (None, None, False)
        assert state.videos.equals(_reference(connection))


def test_an_unreadable_fold_is_rebuilt_from_the_day(tmp_path: Path):
    state_dir = tmp_path / "polling_state"
    state_dir.mkdir()
    (state_dir / "fold.json").write_text("{not json")
    assert read_fold(state_dir) is None
    with connect(tmp_path / "warehouse.duckdb") as connection:
        _write_window(connection, DAY, [(1, 3.0, None, False)], velocity=True)
        state = compute_polling_state(connection, HORIZON, previous=read_fold(state_dir), window_start=DAY)
        assert state.videos.equals(_reference(connection))


def test_the_windows_rows_in_memory_are_folded_without_a_query_of_the_tables(tmp_path: Path, monkeypatch):
    """A live window's run: only its own rows were written since the fold, and it holds them: the fold aggregates
    them (the one remaining read is the creators'), to the same state as the query's. A raw window landed after it
    is not in memory: then the tables are read."""
    state_dir = tmp_path / "polling_state"
    reads: list[str] = []
    real_read = state_module.read_frame

    def counted(connection, sql, params=None):
        reads.append(sql)
        return real_read(connection, sql, params)

    with connect(tmp_path / "warehouse.duckdb") as connection:
        first = _write_window(connection, DAY, [(0, 10.0, 2.0, True), (1, None, None, False)], velocity=True)
        write_polling_state(compute_polling_state(connection, HORIZON, rows=first), state_dir)
        second = _write_window(connection, DAY + WINDOW, [(0, 12.0, None, True), (2, 1.0, 1.0, True)], velocity=True)
        monkeypatch.setattr(state_module, "read_frame", counted)
        state = compute_polling_state(
            connection, HORIZON, previous=read_fold(state_dir), window_start=DAY + WINDOW, rows=second
        )
        assert len(reads) == 1 and "last_discovered_at" in reads[0]
        assert state.videos.equals(_reference(connection))
        write_polling_state(state, state_dir)

        third = _write_window(connection, DAY + 2 * WINDOW, [(1, 3.0, 1.0, True)], velocity=True)
        _write_window(connection, DAY + 3 * WINDOW, [(2, None, None, False)], velocity=False)  # landed early
        reads.clear()
        state = compute_polling_state(
            connection, HORIZON, previous=read_fold(state_dir), window_start=DAY + 2 * WINDOW, rows=third
        )
        assert len(reads) == 2  # the rows written since, from the tables; the creators
        assert state.videos.equals(_reference(connection))
        assert state.videos.filter(pl.col("video_id") == "v2")["last_polled_at"].item() == DAY + 4 * WINDOW
