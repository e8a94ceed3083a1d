"""The analytics provider's creator profiles (influencer/list) in raw_creator_snapshots: the parser (hypothesis over
counts, bad records quarantined naming the field and the source, duplicates), and no reader mixing two sources'
counts of one creator: the daily rollup is per (creator, source) and the polling plan reads the Display API's rows
only (both backends, through the warehouse); retention sees the provider's step as a writer of the table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiktok_pipeline.governance.pruning import prune_windows
from tiktok_pipeline.ingest.parse.provider import parse_provider
from tiktok_pipeline.ingest.polling.state import compute_polling_state
from tiktok_pipeline.metrics.rollup import creator_days, roll_up_days
from tiktok_pipeline.warehouse.io import Write, replace_windows
from tiktok_pipeline.warehouse.tables import DAILY_CREATOR_METRICS, RAW_CREATOR_SNAPSHOTS, RAW_VIDEO_SNAPSHOTS
from tiktok_pipeline.windows import DAY, utc_naive
from tiktok_pipeline_tests.conftest import T0, open_warehouse

AT = T0.timestamp() + 300
START = utc_naive(T0)


def influencer(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "user_id": "7000000000000000042",
        "unique_id": "sunny_dancer_9",
        "nick_name": "Sunny",
        "follower_count": 1200,
        "following_count": 80,
        "total_likes": 56000,
        "video_count": 31,
        "updated_at": "2026-11-20 10:01:00",
    }
    return {**base, **changes}


def page(*items: object, page_num: int = 1, endpoint: str = "influencer/list") -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "params": {"page_num": str(page_num), "page_size": "20"},
        "window_start": T0.isoformat(),
        "observed_at": datetime.fromtimestamp(AT, UTC).isoformat(),
        "log_id": "req-7",
        "error": None,
        "schema": "analytics_provider.influencer_list/1",
        "payload": {"code": 0, "data": {"list": list(items), "has_more": False}},
    }


@settings(max_examples=40)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=2**63 - 1), st.booleans()),
        min_size=1,
        max_size=6,
    )
)
def test_creator_counts_are_the_records_counts_as_integers_or_digits(values):
    items = [
        influencer(unique_id=f"creator_{i}", follower_count=str(v) if text else v, total_likes=v)
        for i, (v, text) in enumerate(values)
    ]
    parsed = parse_provider([page(*items)], "analytics_provider/2026-11-20/1000.jsonl.gz")
    assert parsed.quarantine.is_empty() and parsed.videos.is_empty()
    creators = parsed.creators
    assert creators["follower_count"].to_list() == [v for v, _ in values] == creators["likes_count"].to_list()
    assert set(creators["source"]) == {"analytics_provider"} and creators["open_id"].null_count() == len(values)
    assert set(creators["observed_at"]) == {datetime(2026, 11, 20, 10, 1)}  # the provider's updated_at, not the fetch
    assert set(creators["window_start"]) == {START}


BAD_COUNTS = st.one_of(
    st.booleans(),
    st.floats(allow_nan=True),
    st.integers(max_value=-1),
    st.text().filter(lambda s: not (s.isascii() and s.isdigit() and len(s) <= 19)),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=40)
@given(st.sampled_from(["follower_count", "following_count", "total_likes", "video_count"]), BAD_COUNTS)
def test_a_bad_creator_record_is_quarantined_naming_the_field_and_the_source_and_the_page_goes_on(field, value):
    parsed = parse_provider([page(influencer(unique_id="bad", **{field: value}), influencer())], "f.jsonl.gz")
    assert parsed.creators["creator_username"].to_list() == ["sunny_dancer_9"]
    (reason,) = parsed.quarantine["reason"].to_list()
    assert reason.startswith("analytics_provider influencer/list for page 1: ") and field in reason
    assert parsed.quarantine["source"].to_list() == ["influencer/list (f.jsonl.gz)"]
    assert parsed.quarantine["asset"].to_list() == ["provider_video_snapshots"]


def test_missing_list_repeats_and_failed_calls():
    repeated = page(influencer(), page_num=2)
    missing = {**page(), "payload": {"code": 0, "data": {"has_more": False}}}
    failed = {**page(), "payload": None, "error": "HTTP 500"}
    detail = {**page(), "endpoint": "influencer/detail", "payload": {"code": 0, "data": influencer(unique_id="x")}}
    parsed = parse_provider([page(influencer()), repeated, missing, failed, detail], "f")
    assert sorted(parsed.creators["creator_username"]) == ["sunny_dancer_9", "x"]
    reasons = parsed.quarantine["reason"].to_list()
    assert any("duplicate observation of creator sunny_dancer_9" in r for r in reasons)
    assert any("influencer/list for page 1: data.list missing" in r for r in reasons)
    assert parsed.failed_calls == 1 and len(reasons) == 2


def creator_row(window: float, observed: float, followers: int, source: str) -> dict[str, Any]:
    return {
        "window_start": START + timedelta(minutes=window),
        "observed_at": START + timedelta(minutes=observed),
        "creator_username": "sunny_traveler_1",
        "open_id": "open-1" if source == "display_api" else None,
        "display_name": "Sunny",
        "follower_count": followers,
        "following_count": 10,
        "likes_count": followers * 3,
        "video_count": 4,
        "landing_file": f"{source}/x.jsonl.gz",
        "source": source,
    }


# One creator both sources observe in the same windows; the provider's counts lag (its last crawl) and are far off.
CREATORS = pl.DataFrame(
    [
        creator_row(0, 5, 1000, "display_api"),
        creator_row(0, 1, 40_000, "analytics_provider"),
        creator_row(60, 65, 1010, "display_api"),
        creator_row(60, 61, 40_500, "analytics_provider"),
        creator_row(120, 118, 41_000, "analytics_provider"),  # the provider alone; later than any Display API row
    ]
)


@pytest.mark.both_backends
def test_a_creator_known_to_both_sources_never_gets_a_rollup_or_plan_across_them(settings):
    with open_warehouse(settings, read_only=False) as con:
        for (source,), frame in CREATORS.group_by("source"):
            replace_windows(con, START, START + DAY, Write(RAW_CREATOR_SNAPSHOTS, frame, {"source": str(source)}))
        replace_windows(con, START, START + DAY, Write(RAW_VIDEO_SNAPSHOTS, RAW_VIDEO_SNAPSHOTS.empty()))
        # the Display API re-writes its own rows of the windows: the provider's stay
        display = CREATORS.filter(pl.col("source") == "display_api")
        replace_windows(con, START, START + DAY, Write(RAW_CREATOR_SNAPSHOTS, display, {"source": "display_api"}))
        assert con.execute("SELECT count(*) FROM raw_creator_snapshots").fetchone() == (5,)
        day = START.replace(hour=0, minute=0)
        roll_up_days(con, day, day + DAY, DAILY_CREATOR_METRICS, (RAW_CREATOR_SNAPSHOTS,), creator_days)
        rolled = pl.from_arrow(con.execute("FROM daily_creator_metrics ORDER BY source").to_arrow_table())
        state = compute_polling_state(con, timedelta(days=7))
    assert isinstance(rolled, pl.DataFrame)
    by_source = {row["source"]: row for row in rolled.iter_rows(named=True)}
    assert set(by_source) == {"analytics_provider", "display_api"}
    assert by_source["display_api"]["followers_gained"] == 10  # 1000 -> 1010, never 1000 -> 41,000
    assert by_source["display_api"]["observations"] == 2 and by_source["display_api"]["open_id"] == "open-1"
    assert by_source["analytics_provider"]["followers_gained"] == 1000  # 40,000 -> 41,000
    assert by_source["analytics_provider"]["first_observed_at"] == START + timedelta(minutes=1)
    # the polling plan's last discovery is the Display API's user/info, not the provider's later crawl
    assert state.creators.rows() == [("sunny_traveler_1", START + timedelta(minutes=65))]


def test_rows_written_before_sources_were_recorded_roll_up_as_the_display_apis():
    legacy = CREATORS.filter(pl.col("source") == "display_api").with_columns(pl.lit(None, pl.String).alias("source"))
    rolled = creator_days(pl.concat([legacy, CREATORS.filter(pl.col("source") != "display_api")]))
    assert sorted(rolled["source"]) == ["analytics_provider", "display_api"]
    assert rolled.filter(pl.col("source") == "display_api")["followers_gained"].to_list() == [10]


def test_a_provider_rerun_after_the_creator_rollup_keeps_the_day_from_retention():
    """The provider's step writes raw_creator_snapshots too: its re-run after the day's rollup makes the rollup stale
    (retention keeps the day and says why), as a re-run of the Display API's step does."""
    day = START.replace(hour=0, minute=0)
    marks = {"daily_creator_metrics": 10, "raw_creator_snapshots": 5, "provider_video_snapshots": 20}
    with duckdb.connect() as con:
        replace_windows(con, day, day + DAY, Write(RAW_CREATOR_SNAPSHOTS, CREATORS))
        roll_up_days(con, day, day + DAY, DAILY_CREATOR_METRICS, (RAW_CREATOR_SNAPSHOTS,), creator_days)
        run = prune_windows(
            con,
            now=T0 + timedelta(days=60),
            retention_days=35,
            partitions_start=T0 - timedelta(days=1),
            latest_by_day=lambda asset: {f"{day:%Y-%m-%d}": marks[asset]} if asset in marks else {},
            dry_run=True,
        )
    (decision,) = run.decisions
    assert not decision.prune
    assert decision.reasons == (
        f"raw_creator_snapshots re-materialised after daily_creator_metrics {day:%Y-%m-%d}: re-materialise"
        f" daily_creator_metrics partition {day:%Y-%m-%d}",
    )
