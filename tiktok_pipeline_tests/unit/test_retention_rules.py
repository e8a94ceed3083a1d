"""Retention rules (pure) and the warehouse deletes, on a temporary DuckDB file."""

from datetime import UTC, datetime, timedelta, timezone

import polars as pl
import pydantic
import pytest

from tiktok_pipeline.governance.retention import (
    PARTITION_LIMIT,
    ChangedUnderfootError,
    DayEvidence,
    days_before,
    decide,
    landing_footprint,
    partition_budget,
    prune_day,
    retention_cutoff,
    rolled_up_observations,
)
from tiktok_pipeline.ingest.polling.state import STATE_LOOKBACK
from tiktok_pipeline.metrics.velocity import HISTORY_LIMIT, LOOKBACK
from tiktok_pipeline.settings import MIN_RETENTION_DAYS, RetentionSettings, Settings
from tiktok_pipeline.warehouse.io import Write, connect, replace_windows
from tiktok_pipeline.warehouse.quarantine import SOURCES, adopt_legacy_rows
from tiktok_pipeline.warehouse.tables import (
    DAILY_VIDEO_METRICS,
    ENRICHED_VIDEO_METRICS,
    RAW_CREATOR_SNAPSHOTS,
    RAW_VIDEO_SNAPSHOTS,
    VIDEO_VELOCITY,
)

UTC = UTC
DAY = datetime(2026, 11, 20, tzinfo=UTC)
VIDEO_TABLES = ("raw_video_snapshots", "enriched_video_metrics", "video_velocity")


def test_cutoff_keeps_today_and_the_retention_days_before_it():
    assert retention_cutoff(datetime(2026, 12, 26, 0, 30, tzinfo=UTC), 35) == datetime(2026, 11, 21, tzinfo=UTC)
    assert retention_cutoff(datetime(2026, 12, 26, 23, 59, tzinfo=UTC), 35) == datetime(2026, 11, 21, tzinfo=UTC)
    # another zone is converted first
    later = datetime(2026, 12, 26, 23, 0, tzinfo=timezone(timedelta(hours=-2)))  # 01:00 UTC on the 27th
    assert retention_cutoff(later, 35) == datetime(2026, 11, 22, tzinfo=UTC)


def test_retention_must_cover_what_velocity_quality_and_polling_read_back():
    horizon = timedelta(days=MIN_RETENTION_DAYS)
    assert horizon > HISTORY_LIMIT + LOOKBACK
    assert horizon > STATE_LOOKBACK
    with pytest.raises(pydantic.ValidationError, match="retention_days"):
        RetentionSettings(retention_days=MIN_RETENTION_DAYS - 1)
    assert Settings().retention.retention_days == 35


def test_partition_budget_counts_windows_and_dates_the_limit():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    budget = partition_budget(start, datetime(2026, 11, 24, 0, 2, tzinfo=UTC))
    assert budget.partitions_now == 23 * 288
    assert budget.limit_reached_on == start + PARTITION_LIMIT * timedelta(minutes=5)
    assert f"{budget.limit_reached_on:%Y-%m-%d}" == "2027-10-14"
    assert not budget.near_limit
    near = partition_budget(start, datetime(2027, 9, 20, tzinfo=UTC))
    assert near.near_limit and "TIKTOK_PARTITIONS_START" in near.message() and "2027-10-14" in near.message()
    past = partition_budget(start, datetime(2027, 11, 1, tzinfo=UTC))
    assert past.partitions_now == 105_120 and "passed" in past.message()
    assert partition_budget(start, start - timedelta(days=1)).partitions_now == 0


def evidence(**changes) -> DayEvidence:
    base = dict(
        day=DAY,
        window_rows={
            "raw_video_snapshots": 50,
            "enriched_video_metrics": 50,
            "video_velocity": 50,
            "raw_creator_snapshots": 8,
        },
        rolled_up={"daily_video_metrics": 50, "daily_creator_metrics": 8},
        rollup_marks={"daily_video_metrics": 900, "daily_creator_metrics": 901},
        window_marks={table: 500 for table in (*VIDEO_TABLES, "raw_creator_snapshots")},
    )
    base.update(changes)
    return DayEvidence(**base)


def test_a_fully_rolled_up_day_may_go():
    decision = decide(evidence())
    assert decision.prune and decision.reasons == ()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"rolled_up": {"daily_video_metrics": None, "daily_creator_metrics": 8}},
            "daily_video_metrics has no rows for 2026-11-20",
        ),
        (
            {"rolled_up": {"daily_video_metrics": 50, "daily_creator_metrics": None}},
            "daily_creator_metrics has no rows",
        ),
        ({"rollup_marks": {"daily_video_metrics": None, "daily_creator_metrics": 901}}, "no materialisation recorded"),
        ({"rolled_up": {"daily_video_metrics": 49, "daily_creator_metrics": 8}}, "rolled up 49 observations"),
        (
            {
                "window_rows": {
                    "raw_video_snapshots": 50,
                    "enriched_video_metrics": 50,
                    "video_velocity": 45,
                    "raw_creator_snapshots": 8,
                }
            },
            "video_velocity 45",
        ),
        (
            {
                "window_marks": {
                    "raw_video_snapshots": 500,
                    "enriched_video_metrics": 950,
                    "video_velocity": 950,
                    "raw_creator_snapshots": 500,
                }
            },
            "enriched_video_metrics, video_velocity re-materialised after daily_video_metrics",
        ),
    ],
)
def test_a_day_not_held_by_an_up_to_date_rollup_is_kept(changes, reason):
    decision = decide(evidence(**changes))
    assert not decision.prune
    assert any(reason in text for text in decision.reasons), decision.reasons


def test_a_side_without_window_rows_needs_no_rollup():
    decision = decide(
        evidence(
            window_rows={"raw_creator_snapshots": 8},
            rolled_up={"daily_video_metrics": None, "daily_creator_metrics": 8},
            rollup_marks={"daily_video_metrics": None, "daily_creator_metrics": 901},
        )
    )
    assert decision.prune


def window_frames(day: datetime, videos: int) -> dict[str, pl.DataFrame]:
    naive = day.replace(tzinfo=None)
    windows = [naive + timedelta(hours=1), naive + timedelta(hours=23, minutes=55)]
    video = pl.DataFrame(
        {
            "window_start": [w for w in windows for _ in range(videos)],
            "observed_at": [w + timedelta(minutes=5) for w in windows for _ in range(videos)],
            "video_id": [str(i) for _ in windows for i in range(videos)],
            "view_count": [10] * (len(windows) * videos),
        }
    )
    creators = pl.DataFrame(
        {
            "window_start": windows,
            "observed_at": [w + timedelta(minutes=5) for w in windows],
            "creator_username": ["a", "a"],
        }
    )
    return {"video": video, "creator": creators}


def fill_day(connection, day: datetime, videos: int) -> None:
    frames = window_frames(day, videos)
    quarantine = pl.DataFrame(
        {"window_start": [day.replace(tzinfo=None)], "reason": ["bad"], "asset": ["raw_video_snapshots"]}
    )
    replace_windows(
        connection,
        day,
        day + timedelta(days=1),
        Write(RAW_VIDEO_SNAPSHOTS, frames["video"]),
        Write(ENRICHED_VIDEO_METRICS, frames["video"]),
        Write(VIDEO_VELOCITY, frames["video"]),
        Write(RAW_CREATOR_SNAPSHOTS, frames["creator"]),
    )
    for source in SOURCES:  # one rejected record per source and day, each in its own table
        adopt_legacy_rows(connection, source.spec, source.asset)
        replace_windows(
            connection,
            day,
            day + timedelta(days=1),
            Write(source.spec, quarantine.with_columns(asset=pl.lit(source.asset))),
        )


def counts(connection, table: str) -> dict[str, int]:
    return {
        f"{day:%Y-%m-%d}": n
        for day, n in connection.execute(
            f"SELECT date_trunc('day', window_start), count(*) FROM {table} GROUP BY 1"
        ).fetchall()
    }


def test_days_before_and_prune_day_delete_one_day_of_window_rows_only(tmp_path):
    next_day = DAY + timedelta(days=1)
    with connect(tmp_path / "w.duckdb") as connection:
        fill_day(connection, DAY, 3)
        fill_day(connection, next_day, 4)
        assert days_before(connection, next_day) == {
            DAY: {
                "raw_video_snapshots": 6,
                "enriched_video_metrics": 6,
                "video_velocity": 6,
                "raw_creator_snapshots": 2,
            }
        }
        assert set(days_before(connection, next_day + timedelta(days=1))) == {DAY, next_day}
        rows = days_before(connection, next_day)[DAY]

        deleted = prune_day(connection, DAY, rows)

        assert deleted == rows
        for table in (*VIDEO_TABLES, "raw_creator_snapshots"):
            assert counts(connection, table) == {"2026-11-21": 8 if table != "raw_creator_snapshots" else 2}, table
        for source in SOURCES:  # never pruned: the audit trail
            assert counts(connection, source.spec.name) == {"2026-11-20": 1, "2026-11-21": 1}, source.spec.name
        assert counts(connection, "quarantined_records") == {"2026-11-20": len(SOURCES), "2026-11-21": len(SOURCES)}
        assert days_before(connection, next_day) == {}


def test_prune_day_deletes_nothing_when_the_rows_changed_since_the_decision(tmp_path):
    with connect(tmp_path / "w.duckdb") as connection:
        fill_day(connection, DAY, 3)
        stale = {**days_before(connection, DAY + timedelta(days=1))[DAY], "video_velocity": 5}
        with pytest.raises(ChangedUnderfootError, match="video_velocity holds 6 rows"):
            prune_day(connection, DAY, stale)
        for table in (*VIDEO_TABLES, "raw_creator_snapshots"):
            assert counts(connection, table) == {"2026-11-20": 6 if table != "raw_creator_snapshots" else 2}, table


def test_rolled_up_observations_per_rollup(tmp_path):
    with connect(tmp_path / "w.duckdb") as connection:
        assert rolled_up_observations(connection, DAY) == {"daily_video_metrics": None, "daily_creator_metrics": None}
        rollup = pl.DataFrame(
            {"window_start": [DAY.replace(tzinfo=None)] * 2, "video_id": ["1", "2"], "observations": [3, 4]}
        )
        replace_windows(connection, DAY, DAY + timedelta(days=1), Write(DAILY_VIDEO_METRICS, rollup))
        assert rolled_up_observations(connection, DAY) == {"daily_video_metrics": 7, "daily_creator_metrics": None}
        assert rolled_up_observations(connection, DAY + timedelta(days=1))["daily_video_metrics"] is None


def test_landing_footprint_counts_the_days_files(tmp_path):
    folder = tmp_path / "display_api" / "2026-11-20"
    folder.mkdir(parents=True)
    (folder / "1000.jsonl.gz").write_bytes(b"x" * 10)
    (folder / "1005.jsonl.gz").write_bytes(b"y" * 5)
    (folder / "1010.jsonl.gz.partial").write_bytes(b"z")
    assert landing_footprint(tmp_path, DAY) == (2, 15)
    assert landing_footprint(tmp_path, DAY + timedelta(days=1)) == (0, 0)
    assert landing_footprint(tmp_path / "missing", DAY) == (0, 0)
