"""The simulated reporting endpoints over real HTTP: envelope, quirks, paging, latency and attribution revisions,
parameter errors, and the client's retry-or-fail mapping of 40100, 40105 and 50000 on them."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from tiktok_pipeline.ingest.collect.ads import fetch_window, plan_fetch
from tiktok_pipeline.ingest.parse.ads import parse_fetch
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.business.ads import ADVERTISER_ID, REPORTING_LATENCY_SECONDS
from tiktok_pipeline.simulator.business.app import SIM_ACCESS_TOKEN, BusinessFaultConfig
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.sources.business_api.client import BusinessApiClient, BusinessApiError
from tiktok_pipeline.sources.business_api.reporting import REPORT_METRICS
from tiktok_pipeline.sources.http import SIMULATOR_HOOKS, RetryPolicy

AS_OF = datetime(2026, 11, 20, 10, 40, tzinfo=UTC)
HOURLY = {
    "advertiser_id": ADVERTISER_ID,
    "report_type": "BASIC",
    "data_level": "AUCTION_AD",
    "dimensions": ["ad_id", "stat_time_hour"],
    "metrics": list(REPORT_METRICS) + ["ctr", "cpc"],
    "start_date": "2026-11-20",
    "end_date": "2026-11-20",
    "page_size": "1000",
}


@pytest.fixture(scope="module")
def served():
    """One served simulator for the tests that only read (its clock stands at AS_OF)."""
    simulator = Simulator(clock=lambda: AS_OF.timestamp())
    with serve_in_thread(simulator, timeout_seconds=0.5) as base_url:
        yield simulator, base_url


@pytest.fixture
def fresh():
    """A served simulator of its own, for tests that change its limits or faults."""
    simulator = Simulator(clock=lambda: AS_OF.timestamp())
    with serve_in_thread(simulator, timeout_seconds=0.5) as base_url:
        yield simulator, base_url


def client(base_url, *, token=SIM_ACCESS_TOKEN, attempts=4, simulator=True, sleeps=None):
    return BusinessApiClient(
        base_url,
        access_token=SecretStr(token),
        retry=RetryPolicy(max_attempts=attempts, base_seconds=0.01),
        sleep=(sleeps if sleeps is not None else []).append,
        timeout_seconds=5.0,
        request_hooks=SIMULATOR_HOOKS if simulator else (),
    )


def report(api, as_of=AS_OF, **overrides):
    return api.get("report/integrated/get", {**HOURLY, **overrides}, as_of=as_of)


def test_hourly_rows_with_mixed_types_dashes_and_the_envelope(served):
    simulator, base_url = served
    with client(base_url) as api:
        call = report(api)
    assert call.status == 200 and call.code == 0 and call.payload["message"] == "OK" and call.request_id
    rows = call.data["list"]
    assert call.data["page_info"] == {"page": 1, "page_size": 1000, "total_number": len(rows), "total_page": 1}
    hours = {row["dimensions"]["stat_time_hour"] for row in rows}
    assert "2026-11-20 10:00:00" in hours and "2026-11-20 11:00:00" not in hours
    assert all(h.endswith(":00:00") for h in hours)
    counts = [row["metrics"][name] for row in rows for name in ("impressions", "clicks", "video_play_actions", "likes")]
    assert any(isinstance(v, str) for v in counts) and any(isinstance(v, int) for v in counts)
    assert all(isinstance(row["metrics"]["spend"], str) and "." in row["metrics"]["spend"] for row in rows)
    reach = [row for row in rows if row["metrics"]["campaign_name"] == "cmp-always-on"]
    assert reach and all(row["metrics"]["conversion"] == "-" for row in reach)  # no conversion goal
    for row in rows:
        metrics = row["metrics"]
        if int(metrics["clicks"]) == 0:
            assert metrics["cpc"] == "-"
        else:
            assert float(metrics["ctr"]) == pytest.approx(
                int(metrics["clicks"]) / int(metrics["impressions"]) * 100, abs=0.006
            )
    assert {row["metrics"]["campaign_name"] for row in rows} <= {
        "cmp-holiday-2026",
        "cmp-creator-fund",
        "cmp-spring-launch",
        "cmp-always-on",
    }


def test_pages_add_up_to_the_whole_report(served):
    simulator, base_url = served
    with client(base_url) as api:
        whole = report(api).data["list"]
        first = report(api, page="1", page_size="50").data
        pages = [first["list"]] + [
            report(api, page=str(p), page_size="50").data["list"]
            for p in range(2, first["page_info"]["total_page"] + 1)
        ]
        beyond = report(api, page=str(first["page_info"]["total_page"] + 1), page_size="50").data["list"]
    assert first["page_info"]["total_number"] == len(whole) and first["page_info"]["total_page"] == -(-len(whole) // 50)
    assert [row for page in pages for row in page] == whole and beyond == []


def totals(rows, hour):
    picked = [r["metrics"] for r in rows if r["dimensions"]["stat_time_hour"] == hour]
    return {
        name: sum(int(m[name]) for m in picked if m[name] != "-") for name in ("impressions", "clicks", "conversion")
    }


def test_latency_hides_the_last_ten_minutes_and_attribution_revises_recent_hours(served):
    simulator, base_url = served
    with client(base_url) as api:
        at_1005 = report(api, as_of=datetime(2026, 11, 20, 10, 5, tzinfo=UTC)).data["list"]
        at_1015 = report(api, as_of=datetime(2026, 11, 20, 10, 15, tzinfo=UTC)).data["list"]
        at_1315 = report(api, as_of=datetime(2026, 11, 20, 13, 15, tzinfo=UTC)).data["list"]
    assert REPORTING_LATENCY_SECONDS == 600
    assert totals(at_1005, "2026-11-20 10:00:00")["impressions"] == 0  # nothing reportable yet: no rows
    assert totals(at_1015, "2026-11-20 10:00:00")["impressions"] > 0  # 5 minutes of the hour
    early, late = (totals(rows, "2026-11-20 09:00:00") for rows in (at_1015, at_1315))
    assert early["impressions"] == late["impressions"] > 0  # the hour's delivery was complete at 10:15
    assert late["clicks"] > early["clicks"] and late["conversion"] > early["conversion"]  # revised upwards


def settled_totals(simulator, day: str, hour: datetime) -> dict[str, int]:
    """The simulator's ground truth: the hour's final impressions, clicks and conversions over all its ads."""
    account = simulator.business.reporting.account
    start = int(hour.timestamp())
    final = [account.settled(ad, start) for ad in account.ads_between(start, start + 3600)]
    return {
        "impressions": sum(m.impressions for m in final),
        "clicks": sum(m.clicks for m in final),
        "conversion": sum(m.conversion or 0 for m in final),
    }


def test_attribution_keeps_revising_an_hour_for_days_then_settles_at_the_ground_truth(served):
    """TikTok attributes conversions up to 7 days after a view (28 after a click): an hour keeps moving for days."""
    simulator, base_url = served
    hour = datetime(2026, 11, 20, 9, tzinfo=UTC)
    account = simulator.business.reporting.account
    assert account.attribution.days == 7  # the default window
    final_at = datetime.fromtimestamp(account.final_at(int(hour.timestamp())), UTC)
    assert final_at == hour + timedelta(hours=1, days=7, seconds=REPORTING_LATENCY_SECONDS)
    instants = [hour + timedelta(hours=h) for h in (4, 7, 24, 3 * 24, 6 * 24)] + [
        final_at,
        final_at + timedelta(days=2),
    ]
    with client(base_url) as api:
        seen = [totals(report(api, as_of=at).data["list"], "2026-11-20 09:00:00") for at in instants]
    after_4h, after_7h, after_1d, after_3d, after_6d, final, later = seen
    assert after_4h["impressions"] == final["impressions"] > 0  # delivery is complete; attribution is not
    conversions = [s["conversion"] for s in seen]
    assert conversions == sorted(conversions) and after_3d["conversion"] > after_7h["conversion"]
    assert final["conversion"] > after_3d["conversion"]  # still moving 3 days later
    assert after_1d["clicks"] > after_4h["clicks"] and after_3d["clicks"] == final["clicks"]  # clicks settle in a day
    assert final == later == settled_totals(simulator, "2026-11-20", hour)  # then it never changes again


def test_the_attribution_window_is_configurable(fresh):
    simulator, base_url = fresh
    short = Simulator(clock=lambda: AS_OF.timestamp(), attribution_days=1)
    hour = datetime(2026, 11, 20, 9, tzinfo=UTC)
    with serve_in_thread(short, timeout_seconds=0.5) as short_url, client(short_url) as api:
        after_2d = totals(report(api, as_of=hour + timedelta(days=2)).data["list"], "2026-11-20 09:00:00")
    with client(base_url) as api:
        default_2d = totals(report(api, as_of=hour + timedelta(days=2)).data["list"], "2026-11-20 09:00:00")
    assert after_2d == settled_totals(short, "2026-11-20", hour)  # settled after one day
    assert default_2d["conversion"] < after_2d["conversion"]  # the default 7 days are still attributing
    with pytest.raises(ValueError, match="attribution_days"):
        Simulator(attribution_days=29)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"dimensions": '["ad_id"'}, "dimensions"),
        ({"dimensions": ["campaign_id", "stat_time_hour"]}, "dimensions"),
        ({"metrics": ["clicks", "magic"]}, "metrics"),
        ({"data_level": "AUCTION_EVERYTHING"}, "data_level"),
        ({"report_type": "AUDIENCE"}, "report_type"),
        ({"page_size": "1001"}, "page_size"),
        ({"page": "0"}, "page"),
        ({"start_date": "2026/11/20"}, "start_date"),
        ({"end_date": "2026-11-21"}, "end_date"),  # hourly reports span one day
    ],
)
def test_parameter_errors_are_40002_naming_the_parameter_and_not_retried(served, override, named):
    simulator, base_url = served
    sleeps: list[float] = []
    with client(base_url, sleeps=sleeps) as api, pytest.raises(BusinessApiError) as caught:
        report(api, **override)
    assert caught.value.code == 40002 and not caught.value.retryable and sleeps == []
    assert f"{named}:" in str(caught.value) and caught.value.call.status == 200


def test_an_advertiser_the_token_cannot_see_is_40001(served):
    simulator, base_url = served
    with client(base_url) as api, pytest.raises(BusinessApiError) as caught:
        report(api, advertiser_id="123")
    assert caught.value.code == 40001 and not caught.value.retryable


def test_daily_rows_at_campaign_level_sum_the_ads(served):
    simulator, base_url = served
    with client(base_url) as api:
        hourly = report(api).data["list"]
        daily = report(
            api,
            data_level="AUCTION_CAMPAIGN",
            dimensions=["campaign_id", "stat_time_day"],
            metrics=["campaign_name", "clicks"],
        ).data["list"]
    by_campaign = {}
    for row in hourly:
        by_campaign[row["metrics"]["campaign_id"]] = by_campaign.get(row["metrics"]["campaign_id"], 0) + int(
            row["metrics"]["clicks"]
        )
    assert {row["dimensions"]["campaign_id"]: int(row["metrics"]["clicks"]) for row in daily} == by_campaign
    assert {row["dimensions"]["stat_time_day"] for row in daily} == {"2026-11-20 00:00:00"}


def test_a_bad_token_fails_at_once_with_40105(served):
    simulator, base_url = served
    sleeps: list[float] = []
    with client(base_url, token="revoked-token", sleeps=sleeps) as api, pytest.raises(BusinessApiError) as caught:
        report(api)
    assert caught.value.code == 40105 and not caught.value.retryable and sleeps == [] and caught.value.request_id
    assert "revoked-token" not in str(caught.value)


def test_rate_limit_40100_is_retried_and_gives_up_with_the_code(fresh):
    simulator, base_url = fresh
    simulator.business.qps = 1
    with client(base_url, attempts=3) as api:
        report(api)
        with pytest.raises(BusinessApiError) as caught:
            report(api)
    assert caught.value.code == 40100 and caught.value.retryable
    assert caught.value.call.attempt_codes == [40100, 40100, 40100]


def test_injected_system_errors_50000_are_retried_until_the_report_comes(fresh):
    simulator, base_url = fresh
    simulator.business.faults = BusinessFaultConfig(rate_50000=0.5, seed=3)
    simulator.business._rng.seed(3)
    calls = []
    with client(base_url, attempts=10) as api:
        for _ in range(6):
            calls.append(report(api))
    assert all(call.code == 0 and call.data["list"] for call in calls)
    assert simulator.business.stats["fault 50000"] >= 1
    assert any(50000 in call.attempt_codes for call in calls)


def test_fetch_window_pages_and_links_ads_to_videos_as_the_simulator_knows_them(served):
    simulator, base_url = served
    window = datetime(2026, 11, 20, 0, 20, tzinfo=UTC)  # the lookback crosses midnight: two dates
    plan = plan_fetch(window, window + timedelta(minutes=5), 6)
    with client(base_url) as api:
        records = fetch_window(api, ADVERTISER_ID, plan, page_size=40)
    reports = [r for r in records if r["kind"] == "report"]
    assert {r["report_date"] for r in reports} == {"2026-11-19", "2026-11-20"}
    assert len(reports) > 2  # several pages
    assert all(json.loads(r["params"]["dimensions"]) == ["ad_id", "stat_time_hour"] for r in reports)
    parsed = parse_fetch(records, "f", window)
    assert parsed.error is None and parsed.quarantine.is_empty() and parsed.duplicates == 0
    account = simulator.business.reporting.account
    as_of = plan.fetched_at.timestamp()
    ads = {ad.id: ad for ad in account.ads_between(plan.hours[0].timestamp(), as_of)}
    expected = {}
    for ad in ads.values():
        for hour in plan.hours:
            truth = account.reported(ad, int(hour.timestamp()), as_of)
            if truth is not None:
                expected[(ad.id, hour.replace(tzinfo=None))] = truth
    assert {(r["ad_id"], r["stat_time_hour"]) for r in parsed.rows.to_dicts()} == set(expected)
    for row in parsed.rows.to_dicts():
        truth = expected[(row["ad_id"], row["stat_time_hour"])]
        ad = ads[row["ad_id"]]
        assert (row["impressions"], row["clicks"], row["conversion"]) == (
            truth.impressions,
            truth.clicks,
            truth.conversion,
        )
        assert row["video_id"] == ad.video.id and row["campaign_name"] == ad.campaign.name
        assert row["identity_id"] == ad.identity_id


def test_as_of_reaches_only_a_simulator(served):
    simulator, base_url = served
    early = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    with client(base_url, simulator=True) as sim_client, client(base_url, simulator=False) as real_client:
        as_of_hours = {r["dimensions"]["stat_time_hour"] for r in report(sim_client, as_of=early).data["list"]}
        clock_hours = {r["dimensions"]["stat_time_hour"] for r in report(real_client, as_of=early).data["list"]}
    assert "2026-11-20 10:00:00" not in as_of_hours  # answered as of 09:30
    assert "2026-11-20 10:00:00" in clock_hours  # no header: answered as of the server's clock (10:40)


def list_ads(api, **filtering):
    params = {"advertiser_id": ADVERTISER_ID, "page_size": "1000"}
    if filtering:
        params["filtering"] = filtering
    return api.get("ad/get", params, as_of=AS_OF).data["list"]


def test_ad_get_lists_old_ads_and_deleted_ones_only_when_asked_for_every_status(served):
    simulator, base_url = served
    with client(base_url) as api:
        default = list_ads(api)
        everything = list_ads(api, secondary_status="AD_STATUS_ALL")
        deleted = list_ads(api, secondary_status="AD_STATUS_DELETE")
        with pytest.raises(BusinessApiError) as caught:
            list_ads(api, secondary_status="AD_STATUS_GONE")
    assert caught.value.code == 40002 and "filtering.secondary_status" in str(caught.value)
    created = [datetime.strptime(ad["create_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) for ad in default]
    assert min(created) < AS_OF - timedelta(days=30)  # ads created long ago are listed
    assert deleted and all(ad["secondary_status"] == "AD_STATUS_DELETE" for ad in deleted)
    assert not {ad["ad_id"] for ad in deleted} & {ad["ad_id"] for ad in default}  # hidden unless asked
    assert {ad["ad_id"] for ad in everything} == {ad["ad_id"] for ad in default} | {ad["ad_id"] for ad in deleted}
    assert all(ad["tiktok_item_id"] and ad["operation_status"] == "DISABLE" for ad in deleted)


def test_a_deleted_spark_ad_keeps_the_link_to_its_video(served):
    """Reports keep a deleted ad's hours; the client asks ad/get for every status, so their rows keep video_id."""
    simulator, base_url = served
    window = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
    plan = plan_fetch(window, window + timedelta(minutes=5), 5 * 24)  # a re-read of five days
    with client(base_url) as api:
        records = fetch_window(api, ADVERTISER_ID, plan)
    asked = [json.loads(r["params"]["filtering"]) for r in records if r["kind"] == "ads"]
    assert asked and all(f["secondary_status"] == "AD_STATUS_ALL" for f in asked)
    parsed = parse_fetch(records, "f", window)
    assert parsed.error is None and parsed.ads_without_video == 0
    account = simulator.business.reporting.account
    as_of = plan.fetched_at.timestamp()
    ads = {ad.id: ad for ad in account.ads_between(plan.hours[0].timestamp(), as_of)}
    deleted = {a for a, ad in ads.items() if ad.deleted is not None and ad.deleted <= as_of}
    rows = parsed.rows.to_dicts()
    assert {r["ad_id"] for r in rows} & deleted  # deleted ads still have hours in the report
    assert all(r["video_id"] == ads[r["ad_id"]].video.id for r in rows)
