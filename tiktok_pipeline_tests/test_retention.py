"""Daily rollups and retention through Dagster: a few windows either side of midnight on a temporary
warehouse, rolled up with ``materialize(...)``, then pruned by ``window_retention_job``."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.defs.partitions import daily_partitions
from tiktok_pipeline.simulator.world import World, WorldConfig
from tiktok_pipeline.windows import WINDOW
from tiktok_pipeline_tests.conftest import open_warehouse

from .test_assets import materialize_range, read

pytestmark = pytest.mark.heavy(29)  # seconds of a core, measured alone: started first under pytest-xdist

UTC = UTC
EVENING = datetime(2026, 11, 19, 23, 50, tzinfo=UTC)  # windows 23:50, 23:55 (the 19th), 00:00, 00:05 (the 20th)
WINDOW_TABLES = ("raw_video_snapshots", "raw_creator_snapshots", "enriched_video_metrics", "video_velocity")
KEPT_TABLES = (
    "display_api_quarantine",
    "quarantined_records",
    "poll_telemetry",
    "daily_video_metrics",
    "daily_creator_metrics",
)


@pytest.fixture
def short_retention(settings):
    """Two days of retention: the 19th and 20th of November 2026 are past it (the tests run later)."""
    return settings.replace(retention__retention_days=2)


def roll_up(settings, instance, first: str, last: str | None = None) -> dg.ExecuteInProcessResult:
    """Materialise the daily rollups for days ``first`` .. ``last`` as one run."""
    defs = build_definitions(settings)
    return dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.groups("retain"),
        resources=dict(defs.resources),
        instance=instance,
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last or first},
    )


def prune(settings, instance, dry_run: bool = False) -> dict:
    """Run window_retention_job; returns its op's output metadata (plain values)."""
    job = build_definitions(settings).get_job_def("window_retention_job")
    result = job.execute_in_process(
        instance=instance, run_config={"ops": {"prune_window_rows": {"config": {"dry_run": dry_run}}}}
    )
    assert result.success
    output = next(e for e in result.all_events if e.event_type_value == "STEP_OUTPUT")
    return {key: value.value for key, value in output.step_output_data.metadata.items()}


def rows_by_day(settings, table: str) -> dict[str, int]:
    with open_warehouse(settings) as con:
        rows = con.execute(f"SELECT strftime(window_start, '%Y-%m-%d'), count(*) FROM {table} GROUP BY 1").fetchall()
    return dict(rows)


@pytest.mark.both_backends
def test_daily_rollup_matches_the_windows_and_ground_truth(settings, instance):
    assert materialize_range(settings, EVENING, EVENING + 3 * WINDOW, instance=instance).success
    assert roll_up(settings, instance, "2026-11-19", "2026-11-20").success  # two days, one run

    enriched = read(settings, "enriched_video_metrics")
    daily = read(settings, "daily_video_metrics")
    day = pl.col("window_start").dt.truncate("1d")
    expected = enriched.group_by(day.alias("window_start"), "video_id").len().sort("window_start", "video_id")
    assert (
        daily.select("window_start", "video_id", pl.col("observations").cast(pl.UInt32).alias("len"))
        .sort("window_start", "video_id")
        .equals(expected)
    )
    assert set(daily["window_start"].dt.strftime("%Y-%m-%d")) == {"2026-11-19", "2026-11-20"}

    world = World(WorldConfig(seed=settings.sim_seed))
    twice = daily.filter(pl.col("observations") == 2)
    assert twice.height > 0
    for row in twice.iter_rows(named=True):
        first = world.counts(row["video_id"], row["first_observed_at"].replace(tzinfo=UTC).timestamp())
        last = world.counts(row["video_id"], row["last_observed_at"].replace(tzinfo=UTC).timestamp())
        assert row["last_observed_at"] - row["first_observed_at"] == WINDOW
        assert (row["first_view_count"], row["last_view_count"]) == (first.view_count, last.view_count)
        assert row["views_gained"] == last.view_count - first.view_count
        assert (row["like_count"], row["share_count"]) == (last.like_count, last.share_count)
        assert row["campaign_ids"], "the tracking registry's campaigns travel into the rollup"
    # the 23:55 window is observed at midnight and still belongs to the 19th
    evening = daily.filter(pl.col("window_start") == datetime(2026, 11, 19))
    assert evening["last_observed_at"].max() == datetime(2026, 11, 20)

    creators = read(settings, "daily_creator_metrics")
    raw_creators = read(settings, "raw_creator_snapshots")
    assert creators.height == 2 * raw_creators["creator_username"].n_unique()
    assert creators["observations"].sum() == raw_creators.height


@pytest.mark.both_backends
def test_retention_prunes_only_rolled_up_days_and_is_idempotent(short_retention, instance):
    settings = short_retention
    assert materialize_range(settings, EVENING, EVENING + 3 * WINDOW, instance=instance).success
    assert roll_up(settings, instance, "2026-11-20").success  # the 19th is not rolled up
    before = {table: rows_by_day(settings, table) for table in (*WINDOW_TABLES, *KEPT_TABLES)}
    assert all(set(before[table]) == {"2026-11-19", "2026-11-20"} for table in WINDOW_TABLES)

    report = prune(settings, instance)

    assert report["days_pruned"] == 1 and report["days_kept"] == 1
    assert "| 2026-11-20 | deleted" in report["days"] and "| 2026-11-19 | kept" in report["days"]
    for table in WINDOW_TABLES:
        assert rows_by_day(settings, table) == {"2026-11-19": before[table]["2026-11-19"]}, table
        assert report[f"rows_deleted_{table}"] == before[table]["2026-11-20"]
    for table in KEPT_TABLES:
        assert rows_by_day(settings, table) == before[table], table
    assert "daily_video_metrics has no rows for 2026-11-19" in report["days"]
    observation = instance.fetch_observations(dg.AssetKey("raw_video_snapshots"), limit=1).records[0]
    assert observation.asset_observation.metadata["rows_deleted"].value == before["raw_video_snapshots"]["2026-11-20"]

    # idempotent: nothing more goes, the un-rolled day stays
    again = prune(settings, instance)
    assert again["days_pruned"] == 0 and again["rows_deleted"] == 0 and again["days_kept"] == 1
    assert rows_by_day(settings, "raw_video_snapshots") == {"2026-11-19": before["raw_video_snapshots"]["2026-11-19"]}

    # re-materialising a pruned day's rollup keeps it: there is nothing left to roll up
    daily_before = read(settings, "daily_video_metrics").sort(pl.all())
    assert roll_up(settings, instance, "2026-11-20").success
    assert read(settings, "daily_video_metrics").sort(pl.all()).equals(daily_before)


def test_a_window_rematerialised_after_its_rollup_keeps_the_day(short_retention, instance):
    settings = short_retention
    assert materialize_range(settings, EVENING, EVENING + WINDOW, instance=instance).success  # the 19th only
    assert roll_up(settings, instance, "2026-11-19").success
    assert materialize_range(settings, EVENING + WINDOW, EVENING + WINDOW, instance=instance).success  # re-parsed
    rows = rows_by_day(settings, "raw_video_snapshots")

    stale = prune(settings, instance)
    assert stale["days_pruned"] == 0
    assert "re-materialised after daily_video_metrics 2026-11-19" in stale["days"]
    assert "re-materialised after daily_creator_metrics 2026-11-19" in stale["days"]
    assert rows_by_day(settings, "raw_video_snapshots") == rows

    assert roll_up(settings, instance, "2026-11-19").success
    dry = prune(settings, instance, dry_run=True)
    assert dry["days_pruned"] == 0 and dry["rows_deleted"] == 0 and dry["days_rolled_up_past_cutoff"] == 1
    assert "would delete (dry run)" in dry["days"]
    assert rows_by_day(settings, "raw_video_snapshots") == rows

    done = prune(settings, instance)
    assert done["days_pruned"] == 1 and done["rows_deleted_raw_video_snapshots"] == rows["2026-11-19"]
    assert all(rows_by_day(settings, table) == {} for table in WINDOW_TABLES)
    assert rows_by_day(settings, "poll_telemetry") == {"2026-11-19": 2}


def test_days_before_the_partitions_start_are_kept_with_the_reason(short_retention, instance):
    assert materialize_range(short_retention, EVENING, EVENING, instance=instance).success
    moved = short_retention.replace(partitions_start=datetime(2026, 11, 21, tzinfo=UTC))
    report = prune(moved, instance)
    assert report["days_pruned"] == 0 and report["days_kept"] == 1
    assert "no daily partition covers the day" in report["days"]
    assert rows_by_day(moved, "raw_video_snapshots")["2026-11-19"] > 0


def test_definitions_wire_rollups_retention_and_schedules(settings):
    defs = build_definitions(settings)
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    for name in ("daily_video_metrics", "daily_creator_metrics"):
        node = graph.get(dg.AssetKey(name))
        assert node.description and node.group_name == "retain"
        assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition)
        assert node.partitions_def.get_first_partition_key() == "2026-11-01"
        assert all(c.description for c in node.metadata["dagster/column_schema"].columns)
    windows = graph.get_parent_partition_keys_for_child(
        "2026-11-20", dg.AssetKey("video_velocity"), dg.AssetKey("daily_video_metrics")
    ).partitions_subset.get_partition_keys()
    assert len(windows) == 288 and min(windows) == "2026-11-20-00:00" and max(windows) == "2026-11-20-23:55"
    assert graph.get(dg.AssetKey("daily_creator_metrics")).parent_keys == {dg.AssetKey("raw_creator_snapshots")}
    for job in ("daily_rollup_job", "window_retention_job"):
        assert repo.get_job(job).description
    retention = repo.get_schedule_def("window_retention_schedule")
    assert retention.cron_schedule == "0 1 * * *" and retention.description
    # the rollups are declarative (tiktok_pipeline_tests/test_automation.py): no schedule of their own
    # (creator_consent_schedule refreshes the consent table: tiktok_pipeline_tests/test_consent_purge.py)
    assert sorted(s.name for s in repo.schedule_defs) == ["creator_consent_schedule", "window_retention_schedule"]
    assert repo.get_job("window_pipeline_job").asset_layer.executable_asset_keys.isdisjoint(
        {dg.AssetKey("daily_video_metrics"), dg.AssetKey("daily_creator_metrics")}
    )


def test_daily_partitions_start_at_the_first_whole_day_of_windows():
    assert daily_partitions(datetime(2026, 11, 1, 6, 0, tzinfo=UTC)).get_first_partition_key() == "2026-11-02"
    assert daily_partitions(datetime(2026, 11, 1, 0, 0, tzinfo=UTC)).get_first_partition_key() == "2026-11-01"


LOAD_ROLLUPS = """
import logging, sys
logging.basicConfig(stream=sys.stdout, level=logging.WARNING)
from tiktok_pipeline.defs.rollups.assets import daily_video_metrics
print("DESCRIPTION", daily_video_metrics.specs_by_key[daily_video_metrics.key].description)
"""


def load_rollups(partitions_start: datetime) -> str:
    """What loading the rollups prints in a fresh process whose TIKTOK_PARTITIONS_START is ``partitions_start``."""
    env = {**os.environ, "TIKTOK_PARTITIONS_START": partitions_start.strftime("%Y-%m-%dT%H:%M:00Z")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", LOAD_ROLLUPS], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_partition_budget_warns_at_load_without_failing():
    old = load_rollups((datetime.now(UTC) - timedelta(days=340)).replace(minute=0, second=0, microsecond=0))
    warning, description = old.split("DESCRIPTION", 1)
    assert "TIKTOK_PARTITIONS_START" in warning and "100,000" in warning
    assert "Partition budget" in description
    fresh = load_rollups((datetime.now(UTC) - timedelta(days=30)).replace(minute=0, second=0, microsecond=0))
    assert "TIKTOK_PARTITIONS_START" not in fresh.split("DESCRIPTION", 1)[0]
    assert "Partition budget" not in fresh


def _insert(settings, spec, frame: pl.DataFrame) -> None:
    from tiktok_pipeline.warehouse.io import create_or_extend

    with open_warehouse(settings, read_only=False) as con:
        create_or_extend(con, spec)
        con.register("_rows", spec.conform(frame).to_arrow())
        con.execute(f'INSERT INTO "{spec.name}" BY NAME SELECT * FROM _rows')


def _count(settings, sql: str) -> int:
    with open_warehouse(settings) as con:
        return con.execute(sql).fetchone()[0]


@pytest.mark.both_backends
def test_retention_deletes_old_landing_files_call_log_and_quarantine_rows_and_reports_them(short_retention, instance):
    from tiktok_pipeline.warehouse.tables import API_CALL_LOG, DISPLAY_API_QUARANTINE

    settings = short_retention.replace(
        retention__landing_retention_days=2,
        retention__call_log_retention_days=3,
        retention__quarantine_retention_days=3,
    )
    assert materialize_range(settings, EVENING, EVENING + 3 * WINDOW, instance=instance).success
    assert roll_up(settings, instance, "2026-11-19", "2026-11-20").success
    landed = sorted(settings.landing_dir.rglob("*.jsonl.gz"))
    assert len(landed) == 4
    unparsed = landed[-1].with_name("0100.jsonl.gz")  # landed, but its window was never materialised
    unparsed.write_bytes(landed[-1].read_bytes())
    week_ago = (datetime.now(UTC) - timedelta(days=7)).timestamp()
    for path in (*landed, unparsed):
        os.utime(path, (week_ago, week_ago))
    old_call = {"called_at": [datetime(2026, 11, 19, 12), datetime(2026, 11, 20, 8)], "source": ["display_api"] * 2}
    _insert(settings, API_CALL_LOG, pl.DataFrame(old_call))
    _insert(settings, DISPLAY_API_QUARANTINE, pl.DataFrame({"window_start": [datetime(2026, 11, 19, 23, 55)]}))
    calls_now = _count(settings, "SELECT count(*) FROM api_call_log WHERE called_at >= '2026-12-01'")
    quarantined = _count(settings, "SELECT count(*) FROM display_api_quarantine")
    assert calls_now > 0 and quarantined >= 1

    job = build_definitions(settings).get_job_def("window_retention_job")
    result = job.execute_in_process(instance=instance)
    assert result.success
    output = next(e for e in result.all_events if e.event_type_value == "STEP_OUTPUT")
    report = {key: value.value for key, value in output.step_output_data.metadata.items()}

    assert report["days_pruned"] == 2  # the window rows go first, so their landing files may go in the same run
    assert report["rows_deleted_api_call_log"] == 2 and report["rows_deleted_display_api_quarantine"] == quarantined
    assert _count(settings, "SELECT count(*) FROM api_call_log") == calls_now  # this run's own calls are recent
    assert _count(settings, "SELECT count(*) FROM display_api_quarantine") == 0
    assert report["landing_files_deleted"] == 4 and report["landing_files_kept"] == 1
    assert report["landing_mb_deleted"] > 0
    assert sorted(settings.landing_dir.rglob("*.jsonl.gz")) == [unparsed]
    assert not (settings.landing_dir / "display_api" / "2026-11-19").exists()
    assert "| display_api/2026-11-19 | 2 |" in report["landing"]
    assert "window 2026-11-20-01:00 was never parsed into raw_video_snapshots" in report["landing"]
    logs = " ".join(entry.message or "" for entry in instance.all_logs(result.run_id))
    assert "retention deleted: window rows" in logs and "api_call_log 2 rows" in logs and "landing 4 files" in logs
    assert "landing display_api/2026-11-20: deleted 2 files, kept 1" in logs
