"""What the UI shows per window is true: checks target their own run's materialisation and carry their window,
a range run's per-window figures are each window's own, and an empty registry or a total collection failure
is a failure with the reason, never a green run with 0 rows."""

import dagster as dg
import polars as pl
import pytest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.ingest.collect.display import PAGINATION_STOPS
from tiktok_pipeline.windows import WINDOW, utc_naive, window_key
from tiktok_pipeline_tests.conftest import open_warehouse

from .conftest import T0
from .test_assets import materialize_range, read

CHECKS = {
    "raw_video_snapshots": "raw_video_schema",
    "enriched_video_metrics": "enriched_schema",
    "video_velocity": "velocity_schema",
}


def evaluation(record) -> dg.AssetCheckEvaluation:
    return record.event.dagster_event.event_specific_data


def test_a_check_targets_the_materialisation_of_its_own_run_and_names_its_window(settings, instance):
    first = materialize_range(settings, T0, T0, instance=instance)
    second = materialize_range(settings, T0, T0, instance=instance)
    assert first.success and second.success
    for asset, check in CHECKS.items():
        key = dg.AssetCheckKey(dg.AssetKey(asset), check)
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
        assert latest.run_id == second.run_id and latest.partition == window_key(T0), asset
        target = evaluation(latest).target_materialization_data
        assert target is not None and target.run_id == second.run_id, asset
        mine = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[window_key(T0)]), limit=1
        ).records[0]
        assert mine.run_id == second.run_id and target.storage_id == mine.storage_id
        assert evaluation(latest).partition == window_key(T0)


def test_a_range_run_evaluates_every_check_once_per_window(settings, instance):
    result = materialize_range(settings, T0, T0 + 2 * WINDOW, instance=instance)
    assert result.success
    keys = [window_key(T0 + i * WINDOW) for i in range(3)]
    for asset, check in CHECKS.items():
        key = dg.AssetCheckKey(dg.AssetKey(asset), check)
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
        assert sorted(r.partition for r in history) == keys, asset  # one row per window, none left planned
        assert {r.status for r in history} == {AssetCheckExecutionRecordStatus.SUCCEEDED}
        for record in history:
            target = evaluation(record).target_materialization_data
            assert target.run_id == result.run_id and evaluation(record).partition == record.partition


def per_window_metadata(instance, asset: str) -> dict[str, dict]:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=100).records
    return {
        r.partition_key: {k: v.value for k, v in r.asset_materialization.metadata.items()}
        for r in sorted(records, key=lambda r: r.storage_id)
    }


def test_a_range_run_reports_each_windows_own_figures(settings, instance):
    first, last = T0 + WINDOW, T0 + 7 * WINDOW  # 7 windows, like the first catch-up run
    assert materialize_range(settings, first, last, instance=instance).success

    velocity = read(settings, "video_velocity")
    counts = velocity.group_by("window_start").agg(
        pl.len().alias("rows"), pl.col("baseline_observed_at").is_not_null().sum().alias("with_baseline")
    )
    meta = per_window_metadata(instance, "video_velocity")
    assert len(meta) == 7
    for row in counts.iter_rows(named=True):
        figures = meta[window_key(row["window_start"])]
        assert figures["dagster/row_count"] == row["rows"] and figures["rows_with_baseline"] == row["with_baseline"]
        assert figures["range_row_count"] == velocity.height and figures["range_windows"] == 7
    assert {f["rows_with_baseline"] for f in meta.values()} != {velocity["baseline_observed_at"].is_not_null().sum()}
    with_baseline = pl.col("baseline_observed_at").is_not_null()
    numbers = velocity.group_by("window_start").agg(
        pl.col("momentum").max().alias("max"), pl.col("views_per_minute").filter(with_baseline).median().alias("median")
    )
    for row in numbers.iter_rows(named=True):
        figures = meta[window_key(row["window_start"])]
        assert figures["max_momentum"] == pytest.approx(row["max"] or 0.0)
        assert figures["median_views_per_minute"] == pytest.approx(row["median"] or 0.0)
    # the top-movers table only on the newest window of the range, listing that window's own movers
    newest = window_key(last)
    assert [key for key, f in meta.items() if "top_movers" in f] == [newest]
    window = velocity.filter(pl.col("window_start") == utc_naive(last))
    top = window.filter(pl.col("momentum") >= window["momentum"].sort(descending=True, nulls_last=True)[9])
    table = meta[newest]["top_movers"]
    assert len(table.splitlines()) == 2 + 10 and sum(video in table for video in top["video_id"]) == 10

    enriched = read(settings, "enriched_video_metrics")
    meta = per_window_metadata(instance, "enriched_video_metrics")
    own = enriched.group_by("window_start").agg(
        pl.len().alias("rows"),
        pl.col("creator_username").n_unique().alias("creators"),
        pl.col("engagement_rate").mean().alias("mean"),
    )
    for row in own.iter_rows(named=True):
        figures = meta[window_key(row["window_start"])]
        assert (figures["dagster/row_count"], figures["creators"]) == (row["rows"], row["creators"])
        assert figures["mean_engagement_rate"] == pytest.approx(row["mean"])

    telemetry = read(settings, "poll_telemetry")
    meta = per_window_metadata(instance, "poll_telemetry")
    for row in telemetry.iter_rows(named=True):
        figures = meta[window_key(row["window_start"])]
        assert figures["landed_seconds_after_close"] == pytest.approx(row["landed_seconds_after_close"])
        assert figures["requests"] == row["requests"]
        stops = [f"pagination_stop_{reason}" for reason in PAGINATION_STOPS] + ["pagination_stops_abnormal"]
        assert {c: figures[c] for c in stops} == {c: row[c] for c in stops}  # counted per window and reason
        assert sum(row[c] for c in stops[:-1]) > 0 and figures["timeouts"] == row["timeouts"]
    assert len({f["landed_seconds_after_close"] for f in meta.values()}) > 1  # every window its own

    raw = read(settings, "raw_video_snapshots").group_by("window_start").len()
    meta = per_window_metadata(instance, "raw_video_snapshots")
    assert {window_key(w): n for w, n in raw.iter_rows()} == {k: f["dagster/row_count"] for k, f in meta.items()}


def test_velocity_writes_only_its_warehouse_wait_into_poll_telemetry(settings, instance):
    defs = build_definitions(settings)

    def run(group: str):
        return dg.materialize(
            list(defs.assets),
            selection=dg.AssetSelection.groups(group),
            resources=dict(defs.resources),
            instance=instance,
            partition_key=window_key(T0),
        )

    assert run("collect").success
    before = read(settings, "poll_telemetry")
    assert run("process").success
    after = read(settings, "poll_telemetry")
    # one writer per table, but for the total wait for the warehouse, which the velocity step completes with its own
    assert after.drop("warehouse_wait_seconds").equals(before.drop("warehouse_wait_seconds"))
    assert after["warehouse_wait_seconds"][0] >= before["warehouse_wait_seconds"][0]


def test_an_empty_registry_fails_the_run_naming_the_file(settings, tmp_path):
    registry = tmp_path / "empty_registry.json"
    registry.write_text('{"creators": []}')
    result = materialize_range(settings.replace(registry_path=registry), T0, T0)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.user_failure_data.description
    assert str(registry) in message and "TIKTOK_REGISTRY_PATH" in message and "no creators" in message
    assert not settings.warehouse_path.exists() or "raw_video_snapshots" not in _tables(settings)


def _tables(settings) -> set[str]:
    with open_warehouse(settings) as con:
        return {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def test_every_creator_failing_fails_the_run_with_the_reasons(settings):
    unreachable = settings.replace(
        display__api_base_url="http://127.0.0.1:9", display__api_is_simulator=True, display__max_attempts=1
    )
    result = materialize_range(unreachable, T0, T0)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.user_failure_data.description
    assert "every creator failed" in message and window_key(T0) in message
    assert any(name in message for name in ("ConnectError", "failed", "refused"))
    materialized = {e.asset_key.to_user_string() for e in result.all_events if e.is_step_materialization}
    assert not materialized  # no green materialisation with 0 rows
