"""What the UI shows per window is true for the ads and conversions assets: a range run's per-window figures
are each window's own rows, range totals are labelled ``range_...``, and check evaluations target their own
run's materialisation and carry their window."""

from datetime import timedelta

import dagster as dg
import polars as pl
import pytest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.business.shop import sample_orders, write_orders
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.windows import WINDOW, window_key

from .business_api.test_events_end_to_end import materialize as materialize_outbox
from .conftest import T0
from .test_ad_assets import W
from .test_assets import read
from .test_window_truth import evaluation, per_window_metadata

CHECKS = {
    "raw_ad_metrics": ["raw_ad_metrics_schema", "campaigns_in_registry"],
    "ad_velocity": ["ad_velocity_schema"],
}
FIRST = W + 3 * WINDOW  # 10:50 .. 11:05: 10:50's lookback (to its end) is 04:00-10:00, the others' 05:00-11:00
KEYS = [window_key(FIRST + i * WINDOW) for i in range(4)]


def run_ads(settings, instance, first, last):
    defs = build_definitions(settings)
    return dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.groups("ads"),
        resources=dict(defs.resources),
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": window_key(first),
            "dagster/asset_partition_range_end": window_key(last),
        },
    )


def test_a_range_run_of_the_ads_reports_each_windows_own_rows(settings, instance):
    result = run_ads(settings, instance, FIRST, FIRST + 3 * WINDOW)
    assert result.success

    raw = read(settings, "raw_ad_metrics")
    meta = per_window_metadata(instance, "raw_ad_metrics")
    assert sorted(meta) == KEYS
    for key, figures in meta.items():
        mine = raw.filter(pl.col("fetched_in_window").map_elements(window_key, return_dtype=pl.String) == key)
        assert figures["dagster/row_count"] == mine.height, key
        assert figures["ads"] == mine["ad_id"].n_unique(), key
        assert figures["spend_total"] == pytest.approx(mine["spend"].sum(), abs=0.01), key
        assert figures["clicks_total"] == mine["clicks"].sum(), key
        assert figures["hours_replaced"] >= mine["stat_time_hour"].n_unique(), key  # an hour may hold no rows
        assert figures["fetched"] is True and figures["quarantined_records"] == 0
        assert "requests" not in figures  # the client's counters are the run's, not a window's
        assert figures["range_row_count"] == raw.height and figures["range_windows"] == 4
        assert figures["range_requests"] > 0 and figures["range_windows_fetched"] == 4
    assert sum(meta[k]["hours_replaced"] for k in KEYS) == meta[KEYS[0]]["range_hours_replaced"]
    counts = [meta[k]["dagster/row_count"] for k in KEYS]
    assert sum(counts) == raw.height and len(set(counts)) > 1  # not the range's figure on every window
    # 10:50 alone covers 04:00; every later hour is taken from the newest window of the run, 11:05
    assert counts[0] > 0 and counts[1] == counts[2] == 0 and counts[3] > 0
    assert meta[KEYS[1]]["hours_taken_by_newer_window"] == meta[KEYS[1]]["hours_covered"]

    velocity = read(settings, "ad_velocity")
    meta = per_window_metadata(instance, "ad_velocity")
    assert sorted(meta) == KEYS
    for key, figures in meta.items():
        mine = velocity.filter(pl.col("window_start").map_elements(window_key, return_dtype=pl.String) == key)
        boosted = mine.filter(pl.col("active_ads") > 0)
        assert figures["dagster/row_count"] == mine.height > 0, key
        assert figures["boosted_videos"] == boosted["video_id"].n_unique(), key
        assert figures["mean_ctr"] == pytest.approx(boosted["ctr"].mean() or 0.0), key
        assert figures["range_row_count"] == velocity.height

    for asset, checks in CHECKS.items():
        for check in checks:
            key = dg.AssetCheckKey(dg.AssetKey(asset), check)
            history = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
            assert sorted(r.partition for r in history) == KEYS, check  # one per window, none left planned
            assert {r.status for r in history} == {AssetCheckExecutionRecordStatus.SUCCEEDED}, check
            for record in history:
                target = evaluation(record).target_materialization_data
                assert target is not None and target.run_id == result.run_id
                assert evaluation(record).partition == record.partition


def test_ads_checks_target_their_own_runs_materialisation_and_name_the_window(settings, instance):
    first = run_ads(settings, instance, W, W)
    second = run_ads(settings, instance, W, W)
    assert first.success and second.success
    for asset, checks in CHECKS.items():
        mine = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[window_key(W)]), limit=1
        ).records[0]
        assert mine.run_id == second.run_id
        assert "range_row_count" not in mine.asset_materialization.metadata  # one window: no range figures
        for check in checks:
            key = dg.AssetCheckKey(dg.AssetKey(asset), check)
            latest = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
            assert latest.run_id == second.run_id and latest.partition == window_key(W), check
            target = evaluation(latest).target_materialization_data
            assert target is not None and target.run_id == second.run_id and target.storage_id == mine.storage_id
            assert evaluation(latest).partition == window_key(W)
    raw = per_window_metadata(instance, "raw_ad_metrics")[window_key(W)]
    assert raw["fetched"] is False and raw["requests"] == 0  # re-parsed: a one-window run's counters are its window's


def test_a_range_run_of_the_outbox_reports_each_windows_own_events(settings, tmp_path, instance):
    orders = sample_orders(T0, T0 + 4 * WINDOW, seed=5, per_hour=150)
    write_orders(tmp_path / "incoming" / "export.jsonl", orders)
    simulator = Simulator(clock=lambda: (T0 + timedelta(hours=2)).timestamp())
    with serve_in_thread(simulator, timeout_seconds=0.2) as url:
        served = settings.replace(
            display__api_base_url=url,
            display__api_is_simulator=True,
            conversions__conversions_dir=tmp_path / "incoming",
        )
        defs = build_definitions(served)
        early = materialize_outbox(defs, instance, T0)  # one window: its own figures are the run's
        assert early.success
        result = materialize_outbox(defs, instance, T0, T0 + 3 * WINDOW)
        assert result.success

    outbox = read(settings, "conversion_outbox")
    meta = per_window_metadata(instance, "conversion_outbox")
    keys = [window_key(T0 + i * WINDOW) for i in range(4)]
    assert sorted(meta) == keys
    records = instance.fetch_materializations(dg.AssetKey("conversion_outbox"), limit=10).records
    latest = {r.partition_key: r for r in sorted(records, key=lambda r: r.storage_id)}
    assert {r.run_id for r in latest.values()} == {result.run_id}
    for key, figures in meta.items():
        rows = outbox.filter(pl.col("window_start").map_elements(window_key, return_dtype=pl.String) == key)
        assert figures["dagster/row_count"] == rows.height == figures["orders_in_window"], key
        assert figures["outbox_by_status"] == {"sent": rows.height}, key
        sent_now = rows.filter(pl.col("run_id") == result.run_id).height
        if key == keys[0]:  # sent by the first run: skipped, never queued or sent again
            assert figures["sent"] == 0 == figures["queued"] and figures["already_sent_or_rejected"] == rows.height
        else:
            assert figures["sent"] == sent_now == figures["queued"] == rows.height > 0, key
        assert figures["range_sent"] == outbox.height - meta[keys[0]]["dagster/row_count"]
        assert figures["range_requests"] == 1 and figures["range_windows"] == 4
        assert "requests" not in figures and "relayed_from_other_windows" not in figures
    assert len({f["dagster/row_count"] for f in meta.values()}) > 1
