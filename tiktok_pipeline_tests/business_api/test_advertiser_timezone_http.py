"""The advertiser's time zone over real HTTP: the simulator serves ``advertiser/info`` and reports in the account's
zone; the pipeline reads the zone once per run (the setting overrides it and says so) and stores UTC hours; both DST
changes of America/New_York: nothing invented at spring-forward, the repeated fall-back hour never merged."""

import logging
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from pydantic import SecretStr

from tiktok_pipeline.ingest.collect.ads import AdFetchOptions, land_ad_windows
from tiktok_pipeline.ingest.parse.ads import parse_landed_ads
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.business.ads import ADVERTISER_ID
from tiktok_pipeline.simulator.business.app import SIM_ACCESS_TOKEN
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.sources.business_api.client import BusinessApiClient, BusinessApiError
from tiktok_pipeline.sources.business_api.reporting import REPORT_METRICS
from tiktok_pipeline.sources.http import SIMULATOR_HOOKS, RetryPolicy
from tiktok_pipeline.warehouse.ad_hours import replace_fetched_hours
from tiktok_pipeline.warehouse.io import connect, read_frame

ZONE = "America/New_York"
NOW = datetime(2026, 11, 25, tzinfo=UTC)
SPRING = datetime(2026, 3, 8, 7, tzinfo=UTC)  # 02:00 EST -> 03:00 EDT
FALL = datetime(2026, 11, 1, 6, tzinfo=UTC)  # 02:00 EDT -> 01:00 EST: 01:00 local twice (05:00 and 06:00 UTC)


@pytest.fixture
def served():
    simulator = Simulator(clock=lambda: NOW.timestamp(), advertiser_timezone=ZONE)
    with serve_in_thread(simulator, timeout_seconds=0.5) as base_url:
        yield simulator, base_url


def client(base_url, token=SIM_ACCESS_TOKEN):
    return BusinessApiClient(
        base_url,
        access_token=SecretStr(token),
        retry=RetryPolicy(max_attempts=2, base_seconds=0.01),
        timeout_seconds=5.0,
        request_hooks=SIMULATOR_HOOKS,
    )


def test_advertiser_info_answers_the_zone_in_tiktoks_envelope(served):
    simulator, base_url = served
    with client(base_url) as api:
        call = api.get("advertiser/info", {"advertiser_ids": [ADVERTISER_ID]})
        with pytest.raises(BusinessApiError) as missing:
            api.get("advertiser/info", {})
        with pytest.raises(BusinessApiError) as not_array:
            api.get("advertiser/info", {"advertiser_ids": ADVERTISER_ID})
        with pytest.raises(BusinessApiError) as other:
            api.get("advertiser/info", {"advertiser_ids": ["123"]})
    assert call.status == 200 and call.code == 0 and call.request_id
    [info] = call.data["list"]
    assert info["advertiser_id"] == ADVERTISER_ID and info["display_timezone"] == ZONE
    assert info["timezone"] == "Etc/GMT+5"  # TikTok's "zone including GMT offset": fixed, no DST
    assert missing.value.code == 40002 and "advertiser_ids:" in str(missing.value)
    assert not_array.value.code == 40002 and "advertiser_ids:" in str(not_array.value)
    assert other.value.code == 40001


def test_report_dates_and_hours_are_the_accounts_local_ones(served):
    simulator, base_url = served
    as_of = datetime(2026, 11, 20, 10, 40, tzinfo=UTC)  # 05:40 in New York
    query = {
        "advertiser_id": ADVERTISER_ID,
        "report_type": "BASIC",
        "data_level": "AUCTION_AD",
        "dimensions": ["ad_id", "stat_time_hour"],
        "metrics": list(REPORT_METRICS),
        "start_date": "2026-11-20",
        "end_date": "2026-11-20",
        "page_size": "1000",
    }
    with client(base_url) as api:
        rows = api.get("report/integrated/get", query, as_of=as_of).data["list"]
        daily = api.get("report/integrated/get", {**query, "dimensions": ["ad_id", "stat_time_day"]}, as_of=as_of).data[
            "list"
        ]
    hours = sorted({r["dimensions"]["stat_time_hour"] for r in rows})
    assert hours[0] == "2026-11-20 00:00:00" and hours[-1] == "2026-11-20 05:00:00"  # local, up to 05:40 EST
    account = simulator.business.reporting.account
    for r in rows:
        local = datetime.strptime(r["dimensions"]["stat_time_hour"], "%Y-%m-%d %H:%M:%S")
        utc = local + timedelta(hours=5)  # EST
        ad = next(
            a for a in account.ads_between(utc.timestamp() - 1, as_of.timestamp()) if a.id == r["dimensions"]["ad_id"]
        )
        truth = account.reported(ad, int(utc.replace(tzinfo=UTC).timestamp()), as_of.timestamp())
        assert int(r["metrics"]["impressions"]) == truth.impressions
    assert {r["dimensions"]["stat_time_day"] for r in daily} == {"2026-11-20 00:00:00"}


def land(base_url, tmp_path, window_start, *, windows=1, timezone=None, token=SIM_ACCESS_TOKEN, lookback=6):
    start = window_start
    end = start + timedelta(minutes=5 * windows)
    with client(base_url, token) as api:
        landed = land_ad_windows(
            api,
            ADVERTISER_ID,
            start,
            end,
            now=NOW,
            landing_dir=tmp_path,
            options=AdFetchOptions(lookback, timezone, 1000),
            observe_at_window_end=True,
        )
    return landed, parse_landed_ads(landed, tmp_path)


def truth(simulator, fetch):
    """(ad_id, UTC hour) → impressions the simulator reports as of the fetch, for the fetch's hours."""
    account = simulator.business.reporting.account
    as_of = fetch.fetched_at.timestamp()
    expected = {}
    for hour in fetch.hours:
        for ad in account.ads_between(hour.timestamp(), hour.timestamp() + 3600):
            reported = account.reported(ad, int(hour.timestamp()), as_of)
            if reported is not None:
                expected[(ad.id, hour.astimezone(UTC).replace(tzinfo=None))] = reported.impressions
    return expected


def stored(tmp_path, fetches):
    with connect(tmp_path / "w.duckdb") as connection:
        replace_fetched_hours(connection, fetches, (fetches[0].window_start, fetches[-1].window_start))
        return read_frame(connection, "SELECT ad_id, stat_time_hour, impressions FROM raw_ad_metrics")


def test_the_zone_is_read_once_per_run_and_hours_are_stored_in_utc(served, tmp_path):
    simulator, base_url = served
    landed, fetches = land(base_url, tmp_path, datetime(2026, 11, 20, 10, 0, tzinfo=UTC), windows=3)
    assert simulator.business.stats["requests advertiser/info"] == 1  # cached for the run
    for window, fetch in zip(landed, fetches, strict=True):
        meta = window.records[0]
        assert meta["timezone"] == ZONE and "advertiser/info display_timezone" in meta["timezone_source"]
        assert any(r["kind"] == "advertiser" and r["request_id"] for r in window.records)  # the answer is landed
        assert fetch.error is None and fetch.quarantine.is_empty()
        assert {(r["ad_id"], r["stat_time_hour"]): r["impressions"] for r in fetch.rows.to_dicts()} == truth(
            simulator, fetch
        )
    assert max(fetches[-1].hours) == datetime(2026, 11, 20, 10, tzinfo=UTC)  # 05:00 EST starts at 10:00 UTC


def test_the_setting_overrides_the_accounts_zone_and_says_so(served, tmp_path, caplog):
    simulator, base_url = served
    caplog.set_level(logging.INFO)
    landed, fetches = land(base_url, tmp_path, datetime(2026, 11, 20, 10, 0, tzinfo=UTC), timezone="UTC")
    assert simulator.business.stats["requests advertiser/info"] == 0
    meta = landed[0].records[0]
    assert meta["timezone"] == "UTC" and meta["timezone_source"].startswith("UTC (TIKTOK_ADVERTISER_TIMEZONE)")
    assert "TIKTOK_ADVERTISER_TIMEZONE" in caplog.text and "overrides" in caplog.text


def test_without_the_zone_nothing_is_planned_and_the_failure_is_landed(served, tmp_path):
    simulator, base_url = served
    landed, [fetch] = land(base_url, tmp_path, datetime(2026, 11, 20, 10, 0, tzinfo=UTC), token="revoked")
    assert fetch.error and "advertiser/info" in fetch.error and "40105" in fetch.error
    assert simulator.business.stats["requests report/integrated/get"] == 0


def test_spring_forward_the_skipped_hour_is_not_invented(served, tmp_path):
    simulator, base_url = served
    _, fetches = land(base_url, tmp_path, SPRING + timedelta(hours=2, minutes=55))  # lookback 04:00-10:00 UTC
    [fetch] = fetches
    utc = [h.astimezone(UTC).replace(tzinfo=None) for h in fetch.hours]
    assert utc == [datetime(2026, 3, 8, h) for h in range(4, 10)]  # 23:00, 00:00, 01:00 EST, 03:00-05:00 EDT
    assert fetch.error is None and fetch.quarantine.is_empty() and fetch.dst_rows == 0
    expected = truth(simulator, fetch)
    assert expected and {(r["ad_id"], r["stat_time_hour"]): r["impressions"] for r in fetch.rows.to_dicts()} == expected
    table = stored(tmp_path, fetches)
    assert set(table["stat_time_hour"].to_list()) <= set(utc) and table.height == len(expected)


@pytest.mark.parametrize("fall_back_rows", ["merged", "separate"])
def test_fall_back_the_repeated_hour_is_never_merged(served, tmp_path, fall_back_rows):
    simulator, base_url = served
    simulator.business.reporting.fall_back_rows = fall_back_rows
    _, fetches = land(base_url, tmp_path, FALL + timedelta(hours=2, minutes=55))  # lookback 03:00-09:00 UTC
    [fetch] = fetches
    utc = [h.astimezone(UTC).replace(tzinfo=None) for h in fetch.hours]
    assert utc == [datetime(2026, 11, 1, h) for h in range(3, 9)]  # 01:00 EDT (05:00) and 01:00 EST (06:00) both
    repeated = {datetime(2026, 11, 1, 5), datetime(2026, 11, 1, 6)}
    expected = truth(simulator, fetch)
    ads_in_repeated = {ad for ad, hour in expected if hour in repeated}
    assert ads_in_repeated  # the test means something: ads delivered in the repeated hour
    assert fetch.error is None and fetch.duplicates == 0
    quarantined = fetch.quarantine.to_dicts()
    assert (
        len(quarantined)
        == fetch.dst_rows
        == (len(ads_in_repeated) if fall_back_rows == "merged" else sum(h in repeated for _, h in expected))
    )
    for record in quarantined:
        assert "2026-11-01 01:00:00 in America/New_York occurs twice" in record["reason"]
        assert "05:00 and 06:00 UTC" in record["reason"] and "01:00:00" in record["payload"]
    rows = {(r["ad_id"], r["stat_time_hour"]): r["impressions"] for r in fetch.rows.to_dicts()}
    assert rows == {key: value for key, value in expected.items() if key[1] not in repeated}
    table = stored(tmp_path, fetches)
    assert table.filter(pl.col("stat_time_hour").is_in(list(repeated))).is_empty()
    assert table.height == len(rows)
