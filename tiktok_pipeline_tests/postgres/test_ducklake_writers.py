"""A writer that is not a window replacement (the current state's merge), on a DuckLake with a second writer
committing in the middle of its transaction: the commit that conflicts is re-run whole (``write_transaction``), so
neither writer's rows are lost.

The second writer is made to commit at a fixed point (inside the first one's transaction, before its COMMIT), on a
connection of its own, as another process's would: no timing involved.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tiktok_pipeline.metrics import current_state
from tiktok_pipeline.warehouse.io import connect, read_frame
from tiktok_pipeline_tests.conftest import lake_settings
from tiktok_pipeline_tests.pg import Lake

W0 = datetime(2026, 11, 20, 10, 0)


def _rival_once(rival: Callable[[], None], original: Callable[..., str]) -> Callable[..., str]:
    """``original``, which on its first call first runs ``rival`` (another connection's write, committed)."""
    calls: list[int] = []

    def wrapped(*args, **kwargs) -> str:
        calls.append(1)
        if len(calls) == 1:
            rival()
        return original(*args, **kwargs)

    return wrapped


def _state(video: str, momentum: float) -> pl.DataFrame:
    return pl.DataFrame(
        {"video_id": [video], "window_start": [W0], "observed_at": [W0 + timedelta(minutes=5)], "momentum": [momentum]}
    )


def test_a_current_state_merge_that_conflicts_is_rerun(tmp_path: Path, lake: Lake, monkeypatch: pytest.MonkeyPatch):
    """Two merges of ``video_current_state`` overlap (both delete from and update the table): DuckLake refuses the
    later commit; its whole merge is re-run against the other's rows, and both videos are in the table."""
    target = lake_settings(tmp_path, lake).warehouse
    with connect(target) as connection:
        current_state.merge_current_state(connection, _state("seed", 0.5), datetime.now(UTC))
    ran: list[str] = []
    view_sql = current_state.top_movers_view_sql

    def rival() -> None:
        with connect(target) as other:
            current_state.merge_current_state(other, _state("b", 2.0), datetime.now(UTC))

    def counted(*args, **kwargs) -> str:
        ran.append("merge")
        return view_sql(*args, **kwargs)

    monkeypatch.setattr(current_state, "top_movers_view_sql", _rival_once(rival, counted))
    with connect(target) as connection:
        merged = current_state.merge_current_state(connection, _state("a", 1.0), datetime.now(UTC))
    assert len(ran) == 3, "the rival's merge, then this one twice: its first commit conflicted"
    assert merged.rows == 3
    with connect(target) as connection:
        rows = read_frame(connection, "SELECT video_id, momentum FROM video_current_state ORDER BY 1").rows()
    assert rows == [("a", 1.0), ("b", 2.0), ("seed", 0.5)]
