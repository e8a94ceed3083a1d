"""The advertiser's zone from advertiser/info, and local report hours to UTC: DST gaps and repeats, odd offsets."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tiktok_pipeline.ingest.collect.ads import plan_fetch
from tiktok_pipeline.ingest.parse.ads import parse_fetch, utc_hours
from tiktok_pipeline.simulator.business.advertiser import gmt_offset_name
from tiktok_pipeline.sources.business_api.advertiser import zone_from_answer
from tiktok_pipeline.sources.business_api.reporting import REPORT_METRICS

NY = ZoneInfo("America/New_York")


def answer(**fields):
    return {"list": [{"advertiser_id": "7001", **fields}]}


def test_display_timezone_wins_over_the_fixed_offset():
    zone = zone_from_answer(answer(timezone="Etc/GMT+5", display_timezone="America/New_York"), "7001")
    assert zone.name == "America/New_York" and zone.source == "advertiser/info display_timezone"
    assert "Etc/GMT+5" in zone.note


def test_a_display_name_that_is_not_a_zone_falls_back_to_the_offset_and_says_dst_is_lost():
    zone = zone_from_answer(answer(timezone="Etc/GMT+5", display_timezone="(UTC-05:00) Eastern Time"), "7001")
    assert zone.name == "Etc/GMT+5" and "DST" in zone.note and "TIKTOK_ADVERTISER_TIMEZONE" in zone.note


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (answer(timezone="GMT-5", display_timezone=""), "display_timezone '' and timezone 'GMT-5'"),
        (answer(), "display_timezone None and timezone None"),
        ({"list": [{"advertiser_id": "9"}]}, "no record for advertiser_id 7001"),
        ({"list": None}, "data.list: not a list"),
        (None, "data.list: not a list"),
    ],
)
def test_an_unusable_answer_fails_naming_the_field(data, named):
    with pytest.raises(ValueError, match="advertiser/info") as caught:
        zone_from_answer(data, "7001")
    assert named in str(caught.value)


def test_local_hours_to_utc_across_both_dst_changes_and_odd_offsets():
    assert utc_hours(datetime(2026, 3, 8, 1), NY) == [datetime(2026, 3, 8, 6)]
    assert utc_hours(datetime(2026, 3, 8, 2), NY) == []  # skipped
    assert utc_hours(datetime(2026, 3, 8, 3), NY) == [datetime(2026, 3, 8, 7)]
    assert utc_hours(datetime(2026, 11, 1, 1), NY) == [datetime(2026, 11, 1, 5), datetime(2026, 11, 1, 6)]
    assert utc_hours(datetime(2026, 11, 1, 2), NY) == [datetime(2026, 11, 1, 7)]
    assert utc_hours(datetime(2026, 11, 20, 9), ZoneInfo("Asia/Kolkata")) == [datetime(2026, 11, 20, 3, 30)]
    assert utc_hours(datetime(2026, 4, 5, 2), ZoneInfo("Australia/Sydney")) == [  # southern fall-back
        datetime(2026, 4, 4, 15),
        datetime(2026, 4, 4, 16),
    ]


def test_the_offset_name_is_the_standard_offset_with_posix_sign():
    assert gmt_offset_name(NY, 2026) == "Etc/GMT+5"
    assert gmt_offset_name(ZoneInfo("Australia/Sydney"), 2026) == "Etc/GMT-10"
    assert gmt_offset_name(ZoneInfo("UTC"), 2026) == "Etc/GMT"
    assert gmt_offset_name(ZoneInfo("Asia/Kolkata"), 2026) == "Asia/Kolkata"


def test_a_host_reporting_the_skipped_hour_has_that_row_quarantined_not_stored():
    window = datetime(2026, 3, 8, 9, 55, tzinfo=UTC)
    plan = plan_fetch(window, window + timedelta(minutes=5), 6, "America/New_York")
    metrics = dict.fromkeys(REPORT_METRICS, "1")

    def row(hour):
        return {"dimensions": {"ad_id": "111", "stat_time_hour": hour}, "metrics": metrics}

    records = [
        {
            "kind": "fetch",
            "window_start": window.isoformat(),
            "fetched_at": plan.fetched_at.isoformat(),
            "hours": [h.isoformat() for h in plan.hours],
            "timezone": "America/New_York",
        },
        {
            "kind": "report",
            "endpoint": "report/integrated/get",
            "request_id": "r1",
            "payload": {"code": 0, "data": {"list": [row("2026-03-08 01:00:00"), row("2026-03-08 02:00:00")]}},
        },
    ]
    parsed = parse_fetch(records, "f", window)
    assert parsed.rows["stat_time_hour"].to_list() == [datetime(2026, 3, 8, 6)]
    [quarantined] = parsed.quarantine.to_dicts()
    assert "2026-03-08 02:00:00 in America/New_York does not exist" in quarantined["reason"]
    assert parsed.dst_rows == 1


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("Europe/Berlin", "Europe/Berlin")])
def test_the_setting_is_only_an_override(monkeypatch, value, expected):
    from tiktok_pipeline.defs.ads.resources import AdReportingResource
    from tiktok_pipeline.settings import load_settings

    monkeypatch.delenv("TIKTOK_ADVERTISER_TIMEZONE", raising=False)
    if value is not None:
        monkeypatch.setenv("TIKTOK_ADVERTISER_TIMEZONE", value)
    assert AdReportingResource.from_settings(load_settings()).options.timezone == expected
