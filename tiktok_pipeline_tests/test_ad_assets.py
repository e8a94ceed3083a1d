"""The ads assets through ``materialize(...)`` on a temporary warehouse, against the simulator's ground truth:
lookback replacement with revised hours, stale re-runs, failed fetches, CTR beside organic proxies."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.ingest.collect.ads import LANDING_SOURCE
from tiktok_pipeline.ingest.landing import landing_path, read_landing
from tiktok_pipeline.settings import Settings
from tiktok_pipeline.simulator.business.ads import AdAccount
from tiktok_pipeline.simulator.world import World, WorldConfig
from tiktok_pipeline.windows import window_key
from tiktok_pipeline_tests.conftest import open_warehouse

from .test_assets import materialize_range, read

W = datetime(2026, 11, 20, 10, 35, tzinfo=UTC)
HOUR = timedelta(hours=1)


def materialize_ads(
    settings: Settings, first: datetime, last: datetime | None = None, run_config=None
) -> dg.ExecuteInProcessResult:
    """``raw_ad_metrics`` and ``ad_velocity`` for windows ``first`` .. ``last`` as one run."""
    defs = build_definitions(settings)
    return dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.groups("ads"),
        resources=dict(defs.resources),
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": window_key(first),
            "dagster/asset_partition_range_end": window_key(last or first),
        },
        run_config=run_config,
        raise_on_error=False,
    )


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset)
    return {key: value.value for key, value in event.materialization.metadata.items()}


def truth(settings: Settings, as_of: datetime, hours: list[datetime]) -> dict[tuple[str, datetime], tuple]:
    """(ad, hour) → (impressions, clicks, conversion, video id) that the simulator reports as of ``as_of``."""
    account = AdAccount(World(WorldConfig(seed=settings.sim_seed)))
    expected = {}
    for ad in account.ads_between(hours[0].timestamp(), as_of.timestamp()):
        for hour in hours:
            reported = account.reported(ad, int(hour.timestamp()), as_of.timestamp())
            if reported is not None:
                expected[(ad.id, hour.replace(tzinfo=None))] = (
                    reported.impressions,
                    reported.clicks,
                    reported.conversion,
                    ad.video.id,
                )
    return expected


def stored(settings: Settings) -> dict[tuple[str, datetime], tuple]:
    table = read(settings, "raw_ad_metrics")
    assert table.select("ad_id", "stat_time_hour").is_duplicated().sum() == 0
    return {
        (r["ad_id"], r["stat_time_hour"]): (r["impressions"], r["clicks"], r["conversion"], r["video_id"])
        for r in table.iter_rows(named=True)
    }


def hours(first: datetime, last: datetime) -> list[datetime]:
    return [first + i * HOUR for i in range(int((last - first) / HOUR) + 1)]


@pytest.mark.both_backends
def test_lookback_replaces_revised_hours_instead_of_adding_them(settings):
    h = lambda hour: datetime(2026, 11, 20, hour, tzinfo=UTC)  # noqa: E731
    first = materialize_ads(settings, W)
    assert first.success, first.all_events
    assert stored(settings) == truth(settings, W + timedelta(minutes=5), hours(h(4), h(10)))
    assert metadata(first, "raw_ad_metrics")["new_hours"] == 7
    with open_warehouse(settings) as con:  # api_call_log: the window's calls, for the advertiser
        calls = con.execute("SELECT DISTINCT source, purpose, subject, window_start, http_status FROM api_call_log")
        assert calls.fetchall() == [
            ("business_reporting", "ad report", settings.ads.advertiser_id, W.replace(tzinfo=None), 200)
        ]
        scopes = dict(con.execute("SELECT DISTINCT endpoint, scope FROM api_call_log").fetchall())
    # each call under the permission the declarations give its endpoint (SOURCES["business_reporting"].scopes)
    assert scopes.get("/open_api/v1.3/report/integrated/get/") == "Reporting"
    assert set(scopes.values()) <= {"Reporting", "Ads Management", "Ad Account Management"}

    later = W + HOUR  # an hour later: attribution has revised 08:00-10:00, 10:00 has filled up
    second = materialize_ads(settings, later)
    assert second.success, second.all_events
    now_true = truth(settings, later + timedelta(minutes=5), hours(h(5), h(11)))
    table = stored(settings)
    # every re-fetched hour holds exactly the newer numbers: corrected, not double-counted
    assert {k: v for k, v in table.items() if k[1] >= datetime(2026, 11, 20, 5)} == now_true
    # 04:00 left the lookback and keeps the numbers of the first fetch
    assert {k: v for k, v in table.items() if k[1] < datetime(2026, 11, 20, 5)} == {
        k: v for k, v in truth(settings, W + timedelta(minutes=5), [h(4)]).items()
    }
    info = metadata(second, "raw_ad_metrics")
    assert info["hours_replaced"] == 7 and info["new_hours"] == 1 and info["revised_hours"] >= 3
    assert info["clicks_revised"] > 0 and info["conversions_revised"] > 0
    clicks_09 = sum(v[1] for k, v in table.items() if k[1] == datetime(2026, 11, 20, 9))
    assert clicks_09 == sum(v[1] for k, v in now_true.items() if k[1] == datetime(2026, 11, 20, 9))
    assert info["spend_total"] == pytest.approx(
        read(settings, "raw_ad_metrics").filter(pl.col("stat_time_hour") >= datetime(2026, 11, 20, 5))["spend"].sum(),
        abs=0.01,
    )

    # re-running the old window (re-parsed from its landing file, or fetched again as of its end) never
    # brings back its staler numbers for the hours the newer fetch replaced
    for run_config in (None, {"ops": {"raw_ad_metrics": {"config": {"refetch": True}}}}):
        rerun = materialize_ads(settings, W, run_config=run_config)
        assert rerun.success
        info = metadata(rerun, "raw_ad_metrics")
        assert info["hours_kept_newer"] == 6 and info["hours_replaced"] == 1  # only 04:00 was its own
        assert stored(settings) == table
    assert landing_path(settings.landing_dir, LANDING_SOURCE, W).exists()


def test_a_backfill_takes_each_hour_from_its_newest_window(settings):
    result = materialize_ads(settings, W - timedelta(minutes=25), W)  # six windows, overlapping lookbacks
    assert result.success
    info = metadata(result, "raw_ad_metrics")
    assert info["range_windows"] == 6 and info["range_windows_fetched"] == 6
    windows = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "raw_ad_metrics"]
    counts = [e.materialization.metadata["quarantined_records"].value for e in windows]
    assert len(counts) == 6 and sum(counts) == info["range_quarantined_records"]  # each window its own count
    h = lambda hour: datetime(2026, 11, 20, hour, tzinfo=UTC)  # noqa: E731
    expected = truth(settings, W + timedelta(minutes=5), hours(h(4), h(10)))
    table = read(settings, "raw_ad_metrics")
    assert set(table["fetched_in_window"].unique().to_list()) == {W.replace(tzinfo=None)}
    assert stored(settings) == expected


@pytest.mark.both_backends
def test_a_failed_fetch_writes_nothing_and_is_fetched_again_next_time(settings, monkeypatch):
    monkeypatch.setenv("TIKTOK_BUSINESS_ACCESS_TOKEN", "revoked-token")
    failed = materialize_ads(settings, W)
    assert not failed.success
    failure = next(e for e in failed.all_events if e.is_step_failure)
    assert "40105" in failure.event_specific_data.error.message
    records = read_landing(landing_path(settings.landing_dir, LANDING_SOURCE, W))
    assert records[-1]["code"] == 40105 and records[-1]["request_id"] and "revoked-token" not in str(records)
    with pytest.raises(Exception):
        read(settings, "raw_ad_metrics")  # nothing was written

    monkeypatch.delenv("TIKTOK_BUSINESS_ACCESS_TOKEN")
    retried = materialize_ads(settings, W)
    assert retried.success
    assert metadata(retried, "raw_ad_metrics")["fetched"] is True  # not re-parsed from the failed file
    assert read(settings, "raw_ad_metrics").height > 0


def test_ad_velocity_puts_ctr_beside_organic_proxies_and_links_campaigns(settings):
    first, last = W - timedelta(minutes=35), W
    assert materialize_range(settings, first, last).success
    result = materialize_ads(settings, first, last)
    assert result.success, result.all_events
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"raw_ad_metrics_schema": True, "campaigns_in_registry": True, "ad_velocity_schema": True}

    velocity = read(settings, "ad_velocity")
    enriched = read(settings, "enriched_video_metrics")
    assert velocity.select("window_start", "video_id").is_duplicated().sum() == 0
    latest = velocity.filter(pl.col("window_start") == W.replace(tzinfo=None))
    boosted = latest.filter(pl.col("active_ads") > 0)
    organic = latest.filter(pl.col("active_ads") == 0)
    assert boosted.height > 3 and organic.height > 3
    assert organic["ctr"].null_count() == organic.height and organic["share_rate"].null_count() == 0
    # every observed video of the window is there
    assert set(enriched.filter(pl.col("window_start") == W.replace(tzinfo=None))["video_id"]) <= set(latest["video_id"])
    # the ads' campaigns are the campaigns the creator is tracked under in the registry
    for row in boosted.filter(pl.col("creator_username").is_not_null()).iter_rows(named=True):
        assert set(row["ad_campaign_names"]) <= set(row["campaign_ids"]), row
    assert boosted["ctr_change_30m"].drop_nulls().len() > 0

    # CTR at 10:40 recomputed by hand from the stored hours: [09:40, 10:40) is 20/60 of the 09:00 row
    # (complete) and all of the 10:00 row (it covers 10:00-10:40, the fetch instant)
    video = boosted.sort("impressions_60m", descending=True).row(0, named=True)
    raw = read(settings, "raw_ad_metrics").filter(pl.col("video_id") == video["video_id"])
    h9 = raw.filter(pl.col("stat_time_hour") == datetime(2026, 11, 20, 9)).select("clicks", "impressions").sum().row(0)
    h10 = (
        raw.filter(pl.col("stat_time_hour") == datetime(2026, 11, 20, 10)).select("clicks", "impressions").sum().row(0)
    )
    assert video["impressions_60m"] == pytest.approx(h9[1] / 3 + h10[1])
    assert video["ctr"] == pytest.approx((h9[0] / 3 + h10[0]) / (h9[1] / 3 + h10[1]))


def test_ad_checks_target_the_materialisation_of_their_own_run(settings, instance):
    """Check results travel inside the MaterializeResult: run 2's evaluations point at run 2's materialisation."""
    defs = build_definitions(settings)
    runs = [
        dg.materialize(
            list(defs.assets),
            selection=dg.AssetSelection.groups("ads"),
            resources=dict(defs.resources),
            instance=instance,
            partition_key=window_key(W),
        )
        for _ in range(2)
    ]
    for run in runs:
        assert run.success
        evaluations = run.get_asset_check_evaluations()
        assert {e.check_name for e in evaluations} == {
            "raw_ad_metrics_schema",
            "campaigns_in_registry",
            "ad_velocity_schema",
        }
        assert {e.target_materialization_data.run_id for e in evaluations} == {run.run_id}
