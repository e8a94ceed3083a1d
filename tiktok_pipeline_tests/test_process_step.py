"""enriched_video_metrics and video_velocity: one step, one transaction for both tables; each still selectable alone."""

import dagster as dg

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.ingest.polling import state
from tiktok_pipeline.metrics import process
from tiktok_pipeline.windows import WINDOW, utc_naive, window_key

from .conftest import T0, open_warehouse
from .test_assets import materialize_range

LAST = T0 + 3 * WINDOW


def rows(settings, table: str, window) -> list[tuple]:
    with open_warehouse(settings) as con:
        return con.execute(f"SELECT * FROM {table} WHERE window_start = ? ORDER BY ALL", [utc_naive(window)]).fetchall()


def delete(settings, table: str, window) -> None:
    with open_warehouse(settings, read_only=False) as con:
        con.execute(f"DELETE FROM {table} WHERE window_start = ?", [utc_naive(window)])


def materialize(settings, *selection: str) -> dg.ExecuteInProcessResult:
    defs = build_definitions(settings)
    return dg.materialize(
        list(defs.assets),
        resources=dict(defs.resources),
        selection=list(selection),
        partition_key=window_key(LAST),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.all_events if e.is_step_materialization}


def test_both_tables_in_one_step_and_each_alone_writes_only_its_own(settings):
    result = materialize_range(settings, T0, LAST)
    assert result.success
    steps = {e.step_key: e for e in result.all_events if e.is_step_materialization}
    assert "enriched_and_velocity" in steps and "enriched_video_metrics" not in steps
    by_step = {(e.step_key, e.asset_key.to_user_string()) for e in result.all_events if e.is_step_materialization}
    assert {("enriched_and_velocity", "enriched_video_metrics"), ("enriched_and_velocity", "video_velocity")} <= by_step
    enriched, velocity = rows(settings, "enriched_video_metrics", LAST), rows(settings, "video_velocity", LAST)
    assert enriched and velocity

    delete(settings, "video_velocity", LAST)
    alone = materialize(settings, "enriched_video_metrics")
    assert alone.success and materialized(alone) == {"enriched_video_metrics"}
    assert rows(settings, "enriched_video_metrics", LAST) == enriched
    assert rows(settings, "video_velocity", LAST) == []  # not written: not selected

    alone = materialize(settings, "video_velocity")
    assert alone.success and materialized(alone) == {"video_velocity"}
    assert rows(settings, "video_velocity", LAST) == velocity
    checked = {e.asset_check_key.name for e in alone.get_asset_check_evaluations()}
    assert checked == {"velocity_schema"}


def test_a_velocity_failure_rolls_back_the_enriched_rows_too(settings, monkeypatch):
    assert materialize_range(settings, T0, LAST).success
    delete(settings, "enriched_video_metrics", LAST)
    delete(settings, "video_velocity", LAST)

    def broken(*args, **kwargs):
        raise RuntimeError("velocity failed mid-transaction")

    monkeypatch.setattr(process, "velocity_in_warehouse", broken)
    result = materialize(settings, "enriched_video_metrics", "video_velocity")
    assert not result.success
    assert rows(settings, "enriched_video_metrics", LAST) == []  # one transaction: nothing of the window committed
    assert rows(settings, "enriched_video_metrics", LAST - WINDOW)  # earlier windows untouched


def test_window_by_window_the_polling_state_is_the_state_rebuilt_from_the_warehouse(settings, monkeypatch):
    """Live windows, each its own run: the step folds the window's rows it holds in memory into the last fold (no
    query of the tables for them), in a thread while its connection closes; what it writes is the state rebuilt."""
    in_memory = []
    aggregate = state.aggregate_rows

    def spied(observed, velocity):
        in_memory.append(observed.height)
        return aggregate(observed, velocity)

    monkeypatch.setattr(state, "aggregate_rows", spied)
    horizon = settings.display.horizon
    for k in range(4):
        window = T0 + k * WINDOW
        result = materialize_range(settings, window, window)
        assert result.success
        with open_warehouse(settings) as con:
            rebuilt = state.compute_polling_state(con, horizon)
        written = state.read_polling_state(settings.polling_state_dir)
        assert written.videos.height and written.videos.equals(rebuilt.videos), k
        assert written.creators.equals(rebuilt.creators)
    assert len(in_memory) == 3 and all(in_memory)  # every window after the first (which rebuilds: no fold yet)
