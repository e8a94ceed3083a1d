"""Replacing hours of raw_ad_metrics: newest fetch wins, never appended, bad rows keep their last good value."""

from datetime import datetime, timedelta

import polars as pl
import pytest

from tiktok_pipeline.warehouse.ad_hours import newest_per_hour, replace_ad_hours
from tiktok_pipeline.warehouse.io import Write, connect, read_frame, replace_windows
from tiktok_pipeline.warehouse.quarantine import adopt_legacy_rows
from tiktok_pipeline.warehouse.tables import DISPLAY_API_QUARANTINE, QUARANTINED_RECORDS, RAW_AD_METRICS

H9, H10 = datetime(2026, 11, 20, 9), datetime(2026, 11, 20, 10)


def fetch(window: datetime, hours: list[datetime], rows: list[dict], *, fetched_at: datetime | None = None):
    """Rows and coverage of one window's fetch."""
    fetched_at = fetched_at or window + timedelta(minutes=5)
    frame = RAW_AD_METRICS.conform(
        pl.DataFrame(
            [
                {
                    "campaign_name": "cmp-a",
                    "video_id": "77",
                    "spend": 1.0,
                    **r,
                    "fetched_at": fetched_at,
                    "fetched_in_window": window,
                }
                for r in rows
            ],
            schema_overrides={"stat_time_hour": pl.Datetime("us")},
        )
    )
    coverage = pl.DataFrame(
        {"stat_time_hour": hours, "fetched_at": [fetched_at] * len(hours), "fetched_in_window": [window] * len(hours)},
        schema={
            "stat_time_hour": pl.Datetime("us"),
            "fetched_at": pl.Datetime("us"),
            "fetched_in_window": pl.Datetime("us"),
        },
    )
    return frame, coverage


NO_KEYS = pl.DataFrame(
    schema={"ad_id": pl.String, "stat_time_hour": pl.Datetime("us"), "fetched_in_window": pl.Datetime("us")}
)


def write(path, *fetches, kept=NO_KEYS, quarantine=None, window_range=None):
    rows = pl.concat([f[0] for f in fetches])
    coverage = pl.concat([f[1] for f in fetches])
    windows = coverage["fetched_in_window"]
    window_range = window_range or (windows.min(), windows.max() + timedelta(minutes=5))
    with connect(path) as connection:
        return replace_ad_hours(
            connection,
            rows,
            coverage,
            kept,
            quarantine if quarantine is not None else QUARANTINED_RECORDS.empty(),
            window_range,
        )


def stored(path) -> pl.DataFrame:
    with connect(path, read_only=True) as connection:
        return read_frame(connection, "SELECT * FROM raw_ad_metrics ORDER BY stat_time_hour, ad_id")


@pytest.fixture
def db(tmp_path):
    return tmp_path / "w.duckdb"


W1 = datetime(2026, 11, 20, 10, 30)
W2 = datetime(2026, 11, 20, 10, 35)


def test_a_later_fetch_replaces_its_hours_and_never_appends(db):
    write(
        db,
        fetch(
            W1,
            [H9, H10],
            [{"ad_id": "1", "stat_time_hour": H9, "clicks": 10}, {"ad_id": "1", "stat_time_hour": H10, "clicks": 3}],
        ),
    )
    result = write(
        db,
        fetch(
            W2,
            [H9, H10],
            [{"ad_id": "1", "stat_time_hour": H9, "clicks": 12}, {"ad_id": "1", "stat_time_hour": H10, "clicks": 5}],
        ),
    )
    table = stored(db)
    assert table["clicks"].to_list() == [12, 5] and table.height == 2
    assert result.hours_replaced == 2 and result.revised_hours == 2 and result.new_hours == 0
    assert result.clicks_revised == 4 and result.rows_deleted == 2 and result.rows_inserted == 2


def test_an_ad_gone_from_an_hour_is_deleted_with_it(db):
    write(
        db,
        fetch(
            W1,
            [H9],
            [{"ad_id": "1", "stat_time_hour": H9, "clicks": 1}, {"ad_id": "2", "stat_time_hour": H9, "clicks": 1}],
        ),
    )
    write(db, fetch(W2, [H9], [{"ad_id": "1", "stat_time_hour": H9, "clicks": 1}]))
    assert stored(db)["ad_id"].to_list() == ["1"]


def test_an_older_fetch_never_overwrites_a_newer_one(db):
    write(
        db,
        fetch(
            W2,
            [H9, H10],
            [{"ad_id": "1", "stat_time_hour": H9, "clicks": 12}, {"ad_id": "1", "stat_time_hour": H10, "clicks": 5}],
        ),
    )
    # re-running the older window (e.g. a backfill of W1) brings staler numbers for both hours
    result = write(
        db,
        fetch(
            W1,
            [H9, H10],
            [{"ad_id": "1", "stat_time_hour": H9, "clicks": 10}, {"ad_id": "1", "stat_time_hour": H10, "clicks": 3}],
        ),
    )
    assert stored(db)["clicks"].to_list() == [12, 5]
    assert result.hours_kept_newer == 2 and result.hours_replaced == 0 and result.rows_inserted == 0


def test_rerunning_the_same_fetch_is_idempotent(db):
    first = fetch(W1, [H9], [{"ad_id": "1", "stat_time_hour": H9, "clicks": 10}])
    write(db, first)
    result = write(db, first)
    assert stored(db).height == 1 and result.hours_replaced == 1 and result.revised_hours == 0


def test_within_a_run_each_hour_comes_from_its_newest_fetch(db):
    old = fetch(
        W1,
        [H9, H10],
        [{"ad_id": "1", "stat_time_hour": H9, "clicks": 10}, {"ad_id": "1", "stat_time_hour": H10, "clicks": 3}],
    )
    new = fetch(W2, [H10], [{"ad_id": "1", "stat_time_hour": H10, "clicks": 5}])
    result = write(db, old, new)
    table = stored(db)
    assert table["clicks"].to_list() == [10, 5]
    assert table["fetched_in_window"].to_list() == [W1, W2]
    assert result.new_hours == 2


def test_newest_per_hour_breaks_ties_towards_the_later_window():
    same_instant = datetime(2026, 11, 20, 10, 45)
    coverage = pl.concat(
        [fetch(W1, [H9], [], fetched_at=same_instant)[1], fetch(W2, [H9], [], fetched_at=same_instant)[1]]
    )
    assert newest_per_hour(coverage)["fetched_in_window"].to_list() == [W2]


def test_a_quarantined_row_keeps_its_last_good_value(db):
    write(
        db,
        fetch(
            W1,
            [H9],
            [{"ad_id": "1", "stat_time_hour": H9, "clicks": 10}, {"ad_id": "2", "stat_time_hour": H9, "clicks": 7}],
        ),
    )
    # the next fetch rejected ad 1's row: ad 1 keeps its older value, ad 2 is replaced
    kept = pl.DataFrame({"ad_id": ["1"], "stat_time_hour": [H9], "fetched_in_window": [W2]})
    quarantine = QUARANTINED_RECORDS.conform(
        pl.DataFrame(
            {"window_start": [W2], "reason": ["metrics.clicks: bad"], "payload": ["{}"], "asset": ["raw_ad_metrics"]}
        )
    )
    result = write(
        db, fetch(W2, [H9], [{"ad_id": "2", "stat_time_hour": H9, "clicks": 8}]), kept=kept, quarantine=quarantine
    )
    table = stored(db)
    assert table.select("ad_id", "clicks", "fetched_in_window").rows() == [("1", 10, W1), ("2", 8, W2)]
    assert result.rows_kept_quarantined == 1
    with connect(db, read_only=True) as connection:
        assert read_frame(connection, "SELECT reason FROM quarantined_records")["reason"].to_list() == [
            "metrics.clicks: bad"
        ]


def test_quarantine_is_replaced_for_its_windows_in_its_own_table_only(db):
    other = QUARANTINED_RECORDS.conform(
        pl.DataFrame({"window_start": [W1], "reason": ["video"], "asset": ["raw_video_snapshots"]})
    )
    mine = QUARANTINED_RECORDS.conform(
        pl.DataFrame({"window_start": [W1], "reason": ["ad"], "asset": ["raw_ad_metrics"]})
    )
    with connect(db) as connection:
        adopt_legacy_rows(connection, DISPLAY_API_QUARANTINE, "raw_video_snapshots")
        replace_windows(connection, W1, W2, Write(DISPLAY_API_QUARANTINE, other))
    empty_fetch = fetch(W1, [H9], [{"ad_id": "1", "stat_time_hour": H9}])
    write(db, empty_fetch, quarantine=mine)
    write(db, empty_fetch, quarantine=mine)  # re-run: one copy, the video record untouched
    with connect(db, read_only=True) as connection:
        reasons = read_frame(connection, "SELECT reason FROM quarantined_records ORDER BY reason")["reason"].to_list()
        assert read_frame(connection, "SELECT reason FROM ad_report_quarantine")["reason"].to_list() == ["ad"]
    assert reasons == ["ad", "video"]


def test_an_ad_that_ad_get_no_longer_lists_keeps_the_video_it_was_stored_with(db):
    """A Spark Ad boosts one video for life: a later fetch whose ad/get left the ad out (deleted, or a host that
    hides it) replaces the hour's numbers but never loses the link that was known."""
    write(db, fetch(W1, [H9], [{"ad_id": "1", "stat_time_hour": H9, "clicks": 5, "identity_id": "69"}]))
    later = [
        {"ad_id": "1", "stat_time_hour": H9, "clicks": 7, "video_id": None, "identity_id": None},
        {"ad_id": "2", "stat_time_hour": H9, "clicks": 1, "video_id": None, "identity_id": None},  # never known
    ]
    write(db, fetch(W2, [H9], later))
    rows = {r["ad_id"]: r for r in stored(db).iter_rows(named=True)}
    assert (rows["1"]["clicks"], rows["1"]["video_id"], rows["1"]["identity_id"]) == (7, "77", "69")
    assert rows["2"]["video_id"] is None
