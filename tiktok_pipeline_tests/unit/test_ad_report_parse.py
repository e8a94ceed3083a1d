"""Ad report parsing: strings, integers and "-" become numbers and nulls; bad rows are quarantined naming the field;
the lookback plan and the attribution days in UTC and other time zones."""

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tiktok_pipeline.ingest.collect.ads import plan_days, plan_fetch
from tiktok_pipeline.ingest.parse.ads import parse_fetch

W = datetime(2026, 11, 20, 10, 35, tzinfo=UTC)  # window 10:35-10:40
FETCHED = W + timedelta(minutes=5)
GOOD = {
    "campaign_id": "1700000000000000001",
    "campaign_name": "cmp-holiday-2026",
    "adgroup_id": "1700000000000000002",
    "ad_name": "spark",
    "spend": "20.00",
    "impressions": "5830",
    "clicks": 69,
    "conversion": "-",
    "video_play_actions": 5173,
    "video_watched_2s": "686",
    "video_watched_6s": 180,
    "likes": 36,
    "comments": 0,
    "shares": "0",
    "follows": 1,
    "profile_visits": "7",
}


def row(ad_id="111", hour="2026-11-20 09:00:00", **metrics):
    return {"dimensions": {"ad_id": ad_id, "stat_time_hour": hour}, "metrics": {**GOOD, **metrics}}


def landed(rows, *, ads=None, hours=None, zone="UTC", error=None):
    plan = plan_fetch(W, FETCHED, 6, zone)
    meta = {
        "kind": "fetch",
        "window_start": W.isoformat(),
        "fetched_at": FETCHED.isoformat(),
        "hours": hours or [h.isoformat() for h in plan.hours],
        "dates": [d.isoformat() for d in plan.dates],
        "timezone": zone,
        "advertiser_id": "7000000000000000001",
    }
    report = {
        "kind": "report",
        "endpoint": "report/integrated/get",
        "method": "GET",
        "request_id": "req-1",
        "error": error,
        "payload": {"code": 0, "data": {"list": rows, "page_info": {"page": 1, "total_page": 1}}},
    }
    ad_list = (
        ads if ads is not None else [{"ad_id": "111", "tiktok_item_id": "7710025586961829837", "identity_id": "69"}]
    )
    ad_record = {
        "kind": "ads",
        "endpoint": "ad/get",
        "request_id": "req-2",
        "payload": {"code": 0, "data": {"list": ad_list}},
    }
    return [meta, report, ad_record]


def test_strings_integers_and_dashes_become_numbers_and_nulls():
    parsed = parse_fetch(landed([row()]), "business_api/report/x.jsonl.gz", W)
    assert parsed.error is None and parsed.quarantine.is_empty()
    [stored] = parsed.rows.to_dicts()
    assert stored["impressions"] == 5830 and stored["clicks"] == 69 and stored["spend"] == 20.0
    assert stored["conversion"] is None  # "-"
    assert stored["video_watched_2s"] == 686 and stored["shares"] == 0 and stored["profile_visits"] == 7
    assert stored["stat_time_hour"] == datetime(2026, 11, 20, 9)
    assert stored["video_id"] == "7710025586961829837" and stored["identity_id"] == "69"
    assert stored["campaign_name"] == "cmp-holiday-2026" and stored["request_id"] == "req-1"
    assert stored["fetched_at"] == datetime(2026, 11, 20, 10, 40) and stored["fetched_in_window"] == datetime(
        2026, 11, 20, 10, 35
    )


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"impressions": "lots"}, "metrics.impressions"),
        ({"clicks": -3}, "metrics.clicks"),
        ({"spend": "NaN"}, "metrics.spend"),
        ({"video_play_actions": 12.5}, "metrics.video_play_actions"),
        ({"likes": True}, "metrics.likes"),
        ({"shares": 2**64}, "metrics.shares"),
    ],
)
def test_a_bad_metric_is_quarantined_with_the_field_and_keeps_its_key(bad, reason):
    parsed = parse_fetch(landed([row(**bad), row(ad_id="222")]), "f", W)
    assert parsed.rows["ad_id"].to_list() == ["222"]
    [quarantined] = parsed.quarantine.to_dicts()
    assert quarantined["reason"].startswith(reason), quarantined["reason"]
    assert json.loads(quarantined["payload"]) == row(**bad)
    assert quarantined["asset"] == "raw_ad_metrics" and quarantined["log_id"] == "req-1"
    assert quarantined["source"] == "report/integrated/get f"
    # the rejected row's (ad, hour) is known: its stored value will be kept, not deleted
    assert parsed.kept_keys.to_dicts() == [{"ad_id": "111", "stat_time_hour": datetime(2026, 11, 20, 9)}]


def test_a_missing_metric_is_a_schema_change_not_a_zero():
    broken = row()
    del broken["metrics"]["clicks"]
    parsed = parse_fetch(landed([broken]), "f", W)
    assert parsed.rows.is_empty()
    assert parsed.quarantine["reason"][0].startswith("metrics.clicks")


@pytest.mark.parametrize(
    ("dimensions", "reason"),
    [
        ({"ad_id": "12a", "stat_time_hour": "2026-11-20 09:00:00"}, "dimensions.ad_id"),
        ({"ad_id": "111", "stat_time_hour": "2026-11-20 09:30:00"}, "dimensions.stat_time_hour"),
        ({"ad_id": "111", "stat_time_hour": "20/11/2026 09h"}, "dimensions.stat_time_hour"),
        ({"ad_id": "111"}, "dimensions.stat_time_hour"),
    ],
)
def test_bad_dimensions_are_quarantined_without_a_key(dimensions, reason):
    parsed = parse_fetch(landed([{"dimensions": dimensions, "metrics": GOOD}]), "f", W)
    assert parsed.rows.is_empty() and parsed.kept_keys.is_empty()
    assert parsed.quarantine["reason"][0].startswith(reason)


def test_integer_ids_are_accepted_as_strings():
    parsed = parse_fetch(
        landed([{"dimensions": {"ad_id": 111, "stat_time_hour": "2026-11-20 09:00:00"}, "metrics": GOOD}]), "f", W
    )
    assert parsed.rows["ad_id"].to_list() == ["111"]


def test_a_non_list_page_is_quarantined_whole():
    records = landed([])
    records[1]["payload"]["data"]["list"] = {"oops": 1}
    parsed = parse_fetch(records, "f", W)
    assert parsed.quarantine["reason"].to_list() == ["data.list: not a list"]


def test_hours_outside_the_lookback_duplicates_and_ads_without_video():
    rows = [row(hour="2026-11-20 01:00:00"), row(clicks=1), row(clicks=2), row(ad_id="333")]
    parsed = parse_fetch(
        landed(rows, ads=[{"ad_id": "111", "tiktok_item_id": "77"}, {"ad_id": "333", "tiktok_item_id": ""}]), "f", W
    )
    assert parsed.outside_lookback == 1 and parsed.duplicates == 1
    by_ad = {r["ad_id"]: r for r in parsed.rows.to_dicts()}
    assert by_ad["111"]["clicks"] == 2  # the later page wins
    assert by_ad["333"]["video_id"] is None and parsed.ads_without_video == 1


def test_a_failed_call_makes_the_whole_fetch_unusable():
    parsed = parse_fetch(landed([row()], error="code 50000: System error"), "f", W)
    assert parsed.error and "50000" in parsed.error and "req-1" in parsed.error
    assert parsed.rows.is_empty()


def test_the_lookback_is_every_hour_overlapping_it_current_hour_included():
    plan = plan_fetch(W, FETCHED, 6)
    assert [h.hour for h in plan.hours] == [4, 5, 6, 7, 8, 9, 10]
    on_the_hour = plan_fetch(datetime(2026, 11, 20, 10, 55, tzinfo=UTC), FETCHED, 6)
    assert [h.hour for h in on_the_hour.hours] == [5, 6, 7, 8, 9, 10]
    assert plan.dates == (date(2026, 11, 20),)


def test_a_lookback_across_midnight_asks_for_two_dates():
    plan = plan_fetch(datetime(2026, 11, 20, 1, 20, tzinfo=UTC), FETCHED, 3)
    assert plan.dates == (date(2026, 11, 19), date(2026, 11, 20))
    assert [h.hour for h in plan.hours] == [22, 23, 0, 1]


def test_hours_of_an_advertiser_time_zone_with_a_half_hour_offset():
    plan = plan_fetch(W, FETCHED, 2, "Asia/Kolkata")  # UTC+05:30: local hours start at :30 UTC
    assert [h.strftime("%H:%M") for h in plan.hours] == ["08:30", "09:30", "10:30"]
    assert plan.dates == (date(2026, 11, 20),)
    # local 15:00 IST = 09:30 UTC
    parsed = parse_fetch(landed([row(hour="2026-11-20 15:00:00")], zone="Asia/Kolkata"), "f", W)
    assert parsed.rows["stat_time_hour"].to_list() == [datetime(2026, 11, 20, 9, 30)]


# --- fuzz: malformed rows never crash the parser, and every row is accounted for ------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats() | st.text(max_size=12) | st.just("-")
_json = st.recursive(
    _scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3), max_leaves=8
)
_metric = st.one_of(
    st.integers(-5, 2**40), st.from_regex(r"-?\d{1,6}(\.\d{1,2})?", fullmatch=True), st.just("-"), _json
)
_row = st.fixed_dictionaries(
    {
        "dimensions": st.one_of(
            st.fixed_dictionaries(
                {
                    "ad_id": st.one_of(st.sampled_from(["111", "222"]), st.integers(0, 10), _json),
                    "stat_time_hour": st.one_of(
                        st.sampled_from(
                            ["2026-11-20 09:00:00", "2026-11-20 10:00:00", "2026-11-19 09:00:00", "2026-11-20 09:15:00"]
                        ),
                        _json,
                    ),
                }
            ),
            _json,
        ),
        "metrics": st.one_of(st.fixed_dictionaries({name: _metric for name in GOOD}), _json),
    }
)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.one_of(_row, _json), max_size=8))
def test_fuzzed_rows_are_parsed_or_quarantined_never_lost(rows):
    parsed = parse_fetch(landed(rows), "f", W)
    assert parsed.error is None
    accounted = parsed.rows.height + parsed.duplicates + parsed.outside_lookback + parsed.quarantine.height
    assert accounted == len(rows)
    assert (parsed.rows["impressions"].drop_nulls() >= 0).all() and (parsed.rows["spend"].drop_nulls() >= 0).all()


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata", "Europe/Berlin"])
@pytest.mark.parametrize("days", [1, 7, 28])
def test_the_attribution_days_are_whole_local_days_up_to_the_lookback_never_overlapping_it(zone, days):
    window = datetime(2026, 11, 2, 10, 35, tzinfo=UTC)  # America/New_York fell back on 2026-11-01
    lookback = plan_fetch(window, window + timedelta(minutes=5), 6, zone)
    plan = plan_days(window, window + timedelta(minutes=5), 6, days, zone)
    tz = ZoneInfo(zone)
    first = plan.hours[0].astimezone(tz)
    assert (first.hour, first.minute) == (0, 0)  # local midnight
    assert first.date() == lookback.hours[0].astimezone(tz).date() - timedelta(days=days)
    assert plan.hours[-1] + timedelta(hours=1) == lookback.hours[0]  # contiguous with the lookback
    assert all(b - a == timedelta(hours=1) for a, b in zip(plan.hours, plan.hours[1:], strict=False))
    assert len(set(plan.hours)) == len(plan.hours) and not set(plan.hours) & set(lookback.hours)
    assert plan.dates == tuple(sorted({h.astimezone(tz).date() for h in plan.hours}))
    assert plan.attribution_days == days and lookback.attribution_days == 0
