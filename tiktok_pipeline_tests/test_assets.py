"""The window assets through ``materialize(...)`` on a temporary warehouse, against ground truth."""

from datetime import timedelta

import dagster as dg
import polars as pl
import pytest

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.settings import Settings
from tiktok_pipeline.simulator.world import World, WorldConfig
from tiktok_pipeline.windows import WINDOW, window_key
from tiktok_pipeline_tests.conftest import open_warehouse

from .conftest import T0

TABLES = ("raw_video_snapshots", "raw_creator_snapshots", "enriched_video_metrics", "video_velocity")


def materialize_range(settings: Settings, first, last, run_config=None, instance=None) -> dg.ExecuteInProcessResult:
    """``materialize(...)`` every window asset for windows ``first`` .. ``last`` (inclusive) as one run."""
    defs = build_definitions(settings)
    return dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.groups("collect", "process"),  # the window job's assets
        resources=dict(defs.resources),
        instance=instance or dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": window_key(first),
            "dagster/asset_partition_range_end": window_key(last),
        },
        run_config=run_config,
        raise_on_error=False,
    )


def read(settings: Settings, table: str) -> pl.DataFrame:
    with open_warehouse(settings) as con:
        return pl.from_arrow(con.sql(f"SELECT * FROM {table}").to_arrow_table())


@pytest.mark.both_backends
def test_consecutive_windows_match_ground_truth(settings):
    last = T0 + 7 * WINDOW  # 8 windows: 10:00 .. 10:35
    result = materialize_range(settings, T0, last)
    assert result.success, result.all_events
    raw = read(settings, "raw_video_snapshots")
    world = World(WorldConfig(seed=settings.sim_seed))
    assert raw["window_start"].n_unique() == 8
    assert raw.height > 8 * 5, "expected several videos per window"
    for row in raw.sample(n=40, seed=1).iter_rows(named=True):
        truth = world.counts(row["video_id"], row["observed_at"].replace(tzinfo=T0.tzinfo).timestamp())
        assert row["observed_at"] == row["window_start"] + WINDOW
        assert (row["view_count"], row["like_count"], row["comment_count"], row["share_count"]) == (
            truth.view_count,
            truth.like_count,
            truth.comment_count,
            truth.share_count,
        )
    registry = {c["username"] for c in __import__("json").loads(settings.registry_path.read_text())["creators"]}
    assert set(raw["creator_username"]) == registry
    assert read(settings, "raw_creator_snapshots").height == 8 * len(registry)

    enriched = read(settings, "enriched_video_metrics")
    assert enriched.height == raw.height
    assert enriched.filter(pl.col("campaign_ids").list.len() == 0).is_empty()

    velocity = read(settings, "video_velocity")
    last_window = last.replace(tzinfo=None)
    latest = velocity.filter(pl.col("window_start") == last_window)
    with_baseline = latest.filter(pl.col("baseline_observed_at").is_not_null())
    # videos seen at 10:05 have a baseline exactly 30 minutes before 10:40
    assert with_baseline.height > 0
    for row in with_baseline.iter_rows(named=True):
        end = row["observed_at"].replace(tzinfo=T0.tzinfo)
        assert row["baseline_observed_at"] == row["observed_at"] - timedelta(minutes=30)
        expected = (
            world.counts(row["video_id"], end.timestamp()).view_count
            - world.counts(row["video_id"], (end - timedelta(minutes=30)).timestamp()).view_count
        )
        assert row["view_delta_30m"] == expected
        assert row["views_per_minute"] == pytest.approx(expected / 30)
    # the first windows have no 30-minute history yet
    assert velocity.filter(pl.col("window_start") == T0.replace(tzinfo=None))["baseline_observed_at"].null_count() > 0


@pytest.mark.both_backends
def test_materialising_a_window_twice_leaves_identical_tables(settings):
    assert materialize_range(settings, T0, T0 + 6 * WINDOW).success
    before = {t: read(settings, t).sort(pl.all()) for t in TABLES}
    # re-parsed from the landing zone: every table identical
    assert materialize_range(settings, T0 + 6 * WINDOW, T0 + 6 * WINDOW).success
    for table in TABLES:
        assert read(settings, table).sort(pl.all()).equals(before[table]), table
    # collected afresh from the simulator: identical but for the new responses' log_ids
    recollect = {"ops": {"raw_snapshots": {"config": {"recollect": True}}}}
    assert materialize_range(settings, T0 + 6 * WINDOW, T0 + 6 * WINDOW, recollect).success
    for table in TABLES:
        after = read(settings, table).sort(pl.all())
        assert after.drop("log_id", strict=False).equals(before[table].drop("log_id", strict=False)), table


def test_raw_responses_are_landed_before_parsing(settings):
    assert materialize_range(settings, T0, T0).success
    files = list(settings.landing_dir.rglob("*.jsonl.gz"))
    assert [f.relative_to(settings.landing_dir).as_posix() for f in files] == ["display_api/2026-11-20/1000.jsonl.gz"]
    assert set(read(settings, "raw_video_snapshots")["landing_file"]) == {"display_api/2026-11-20/1000.jsonl.gz"}


def test_real_host_refuses_a_long_past_window(settings, monkeypatch):
    monkeypatch.setenv("TIKTOK_CLIENT_SECRET", "not-used")
    real = settings.replace(display__api_base_url="http://127.0.0.1:9", display__api_is_simulator=False)
    result = materialize_range(real, T0, T0)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "2026-11-20-10:00" in message and "present-day counts" in message
