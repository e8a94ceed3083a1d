"""Window arithmetic: one module decides what a window is."""

from datetime import UTC, datetime, timedelta, timezone

import duckdb
import pytest

from tiktok_pipeline.windows import (
    WINDOW,
    latest_closed_window,
    on_boundary,
    sql_window_end,
    window_containing,
    window_end,
    window_from_key,
    window_key,
    window_starts,
)

T = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_containing_and_latest_closed():
    assert window_containing(T + timedelta(minutes=4, seconds=59)) == T
    assert window_containing(T + WINDOW) == T + WINDOW
    assert latest_closed_window(T + timedelta(minutes=7)) == T
    assert latest_closed_window(T + WINDOW) == T
    plus_one = timezone(timedelta(hours=1))
    assert window_containing(datetime(2026, 11, 20, 11, 3, tzinfo=plus_one)) == T


def test_boundaries_and_keys():
    assert on_boundary(T) and not on_boundary(T + timedelta(minutes=1)) and not on_boundary(T + timedelta(seconds=1))
    assert window_from_key(window_key(T)) == T and window_key(T) == "2026-11-20-10:00"
    assert list(window_starts(T, T + 3 * WINDOW)) == [T, T + WINDOW, T + 2 * WINDOW]
    with pytest.raises(ValueError, match="5-minute boundary"):
        list(window_starts(T + timedelta(minutes=2), T + WINDOW))
    with pytest.raises(ValueError, match="YYYY-MM-DD-HH:MM"):
        window_from_key("2026-11-20 10:00")


def test_sql_window_end_matches_python():
    naive = T.replace(tzinfo=None)
    ((end,),) = duckdb.sql(f"SELECT {sql_window_end('w')} FROM (SELECT ?::TIMESTAMP AS w)", params=[naive]).fetchall()
    assert end == window_end(naive)
