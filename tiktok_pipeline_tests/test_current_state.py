"""The "now" view: ``video_current_state`` holds each video's latest observation and velocity (the latest wins,
whatever order windows are materialised in), staleness as of the refresh, and the top movers of the last hour."""

from datetime import UTC, datetime

import dagster as dg
import polars as pl
import pytest

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.metrics.current_state import MOVER_HOUR, TOP_MOVERS
from tiktok_pipeline.simulator.world import World, WorldConfig
from tiktok_pipeline.windows import WINDOW, window_key
from tiktok_pipeline_tests.conftest import open_warehouse

from .conftest import T0
from .test_assets import materialize_range, read

pytestmark = pytest.mark.heavy(31)  # seconds of a core, measured alone: started first under pytest-xdist

STATE = "video_current_state"


def refresh(settings, instance) -> dg.AssetMaterialization:
    """Materialise video_current_state on ``instance``; its materialisation."""
    defs = build_definitions(settings)
    result = dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.assets(STATE),
        resources=dict(defs.resources),
        instance=instance,
    )
    assert result.success
    return result.asset_materializations_for_node(STATE)[0]


def expected_state(settings) -> pl.DataFrame:
    """Each video's latest velocity row (by observed_at) with the same window's enriched counts."""
    velocity = read(settings, "video_velocity")
    enriched = read(settings, "enriched_video_metrics").drop("observed_at", "view_count", "engagement_rate")
    joined = velocity.join(enriched, on=["window_start", "video_id", "creator_username"])
    return joined.sort("observed_at", "window_start").group_by("video_id").last().sort("video_id")


def test_the_latest_observation_and_velocity_of_every_video(settings, instance):
    assert materialize_range(settings, T0, T0 + 7 * WINDOW, instance=instance).success
    before = datetime.now(UTC).replace(tzinfo=None)
    meta = refresh(settings, instance).metadata
    after = datetime.now(UTC).replace(tzinfo=None)
    state = read(settings, STATE).sort("video_id")
    expected = expected_state(settings)
    assert state.height == expected.height == read(settings, "video_velocity")["video_id"].n_unique()
    assert state["video_id"].is_unique().all()
    assert (state["window_start"] == (T0 + 7 * WINDOW).replace(tzinfo=None)).all()  # every video seen at 10:35
    columns = ["video_id", "window_start", "observed_at", "view_count", "like_count", "share_count", "momentum"]
    columns += ["views_per_minute", "view_delta_30m", "engagement_rate_change_30m", "campaign_ids", "product_skus"]
    assert state.select(columns).equals(expected.select(columns))
    assert state.filter(pl.col("campaign_ids").list.len() == 0).is_empty()
    world = World(WorldConfig(seed=settings.sim_seed))
    for row in state.sample(n=10, seed=2).iter_rows(named=True):  # counts are the simulator's truth at observed_at
        truth = world.counts(row["video_id"], row["observed_at"].replace(tzinfo=UTC).timestamp())
        assert (row["view_count"], row["comment_count"]) == (truth.view_count, truth.comment_count)
    # staleness is as of the refresh
    refreshed = state["refreshed_at"].unique()
    assert refreshed.len() == 1 and before <= refreshed[0] <= after
    for row in state.iter_rows(named=True):
        assert row["staleness_seconds"] == pytest.approx((row["refreshed_at"] - row["observed_at"]).total_seconds())
    assert meta["rebuilt"].value is True and meta["dagster/row_count"].value == state.height
    assert meta["staleness_max_seconds"].value == pytest.approx(state["staleness_seconds"].max())


def test_top_movers_of_the_last_hour(settings, instance):
    # 14 windows: 10:00 .. 11:05; videos observed within the hour before the newest observation
    assert materialize_range(settings, T0, T0 + 13 * WINDOW, instance=instance).success
    meta = refresh(settings, instance).metadata
    velocity = read(settings, "video_velocity")
    newest = velocity["observed_at"].max()
    latest = velocity.sort("observed_at").group_by("video_id").last()
    expected = (
        latest.filter((pl.col("observed_at") >= newest - MOVER_HOUR) & pl.col("momentum").is_not_null())
        .sort(["momentum", "views_per_minute", "video_id"], descending=[True, True, False])
        .head(TOP_MOVERS)
    )
    with open_warehouse(settings) as con:
        movers = pl.from_arrow(con.sql("SELECT * FROM top_movers_last_hour").to_arrow_table())
    assert movers["video_id"].to_list() == expected["video_id"].to_list()
    assert movers["mover_rank"].to_list() == list(range(1, expected.height + 1))
    assert movers["momentum"].to_list() == expected["momentum"].to_list()
    table = meta["top_movers"].value
    assert expected["video_id"][0] in table and f"| 1 | {expected['video_id'][0]} |" in table
    assert meta["top_mover_momentum"].value == pytest.approx(expected["momentum"][0])
    hour = latest.filter(pl.col("observed_at") >= newest - MOVER_HOUR)
    assert meta["movers_last_hour"].value == hour.filter(pl.col("momentum") > 1).height
    assert meta["max_momentum_last_hour"].value == pytest.approx(hour["momentum"].max())


@pytest.mark.both_backends
def test_re_materialising_or_backfilling_an_old_window_never_regresses_a_video(settings, instance):
    assert materialize_range(settings, T0 + 3 * WINDOW, T0 + 7 * WINDOW, instance=instance).success
    refresh(settings, instance)
    first = read(settings, STATE).drop("refreshed_at", "staleness_seconds").sort("video_id")
    # an old window re-materialised, then a backfill of the windows before: only those windows are read
    assert materialize_range(settings, T0 + 4 * WINDOW, T0 + 4 * WINDOW, instance=instance).success
    meta = refresh(settings, instance).metadata
    assert meta["rebuilt"].value is False and meta["windows_read"].value == 1 and meta["rows_applied"].value == 0
    assert materialize_range(settings, T0, T0 + 2 * WINDOW, instance=instance).success
    meta = refresh(settings, instance).metadata
    assert meta["windows_read"].value == 3 and meta["rows_applied"].value == 0
    assert read(settings, STATE).drop("refreshed_at", "staleness_seconds").sort("video_id").equals(first)
    # idempotent: a refresh with nothing new reads nothing and changes nothing but the staleness
    meta = refresh(settings, instance).metadata
    assert meta["windows_read"].value == 0 and meta["rows_read"].value == 0
    assert read(settings, STATE).drop("refreshed_at", "staleness_seconds").sort("video_id").equals(first)


def test_a_newer_window_or_a_corrected_latest_window_replaces_the_row(settings, instance):
    assert materialize_range(settings, T0, T0 + 5 * WINDOW, instance=instance).success
    refresh(settings, instance)
    assert materialize_range(settings, T0 + 6 * WINDOW, T0 + 6 * WINDOW, instance=instance).success
    refresh(settings, instance)
    state = read(settings, STATE)
    assert (state["window_start"] == (T0 + 6 * WINDOW).replace(tzinfo=None)).all()
    assert state.sort("video_id")["view_count"].equals(expected_state(settings)["view_count"])
    # the 10:30 window's velocity corrected in place (as a re-materialisation would): the state follows
    latest = (T0 + 6 * WINDOW).replace(tzinfo=None)
    video = state["video_id"][0]
    with open_warehouse(settings, read_only=False) as con:
        con.execute(
            "UPDATE video_velocity SET momentum = 99.5 WHERE window_start = ? AND video_id = ?", [latest, video]
        )
    instance.report_runless_asset_event(dg.AssetMaterialization("video_velocity", partition=window_key(latest)))
    meta = refresh(settings, instance).metadata
    assert meta["windows_read"].value == 1
    assert read(settings, STATE).filter(pl.col("video_id") == video)["momentum"].to_list() == [99.5]
    assert meta["top_mover_momentum"].value == 99.5


@pytest.mark.both_backends
def test_a_missing_table_is_rebuilt_from_every_window(settings, instance):
    assert materialize_range(settings, T0, T0 + 2 * WINDOW, instance=instance).success
    refresh(settings, instance)
    with open_warehouse(settings, read_only=False) as con:
        con.execute("DROP VIEW top_movers_last_hour")
        con.execute("DROP TABLE video_current_state")
    meta = refresh(settings, instance).metadata
    assert meta["rebuilt"].value is True
    assert read(settings, STATE).height == expected_state(settings).height
