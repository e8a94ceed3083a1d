"""Retention of what we hold besides window rows: landing files (pure, on a temporary folder), call log and
quarantine rows (on the test warehouse, both backends), and the configuration it refuses."""

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tiktok_pipeline.governance.held_tables import HELD_TABLES
from tiktok_pipeline.governance.holdings import LandingEvidence, landing_days, prune_held_rows, prune_landing
from tiktok_pipeline.ingest.landing import landing_path, read_landing, write_landing
from tiktok_pipeline.ingest.polling.retry import MAX_FOLLOWED_WINDOWS
from tiktok_pipeline.settings import MIN_RETENTION_DAYS, SettingsError, load_settings
from tiktok_pipeline.warehouse.io import create_or_extend
from tiktok_pipeline.warehouse.tables import ALL_TABLES, API_CALL_LOG, DISPLAY_API_QUARANTINE
from tiktok_pipeline.windows import WINDOW, utc_naive, window_key
from tiktok_pipeline_tests.conftest import open_warehouse

NOW = datetime(2026, 12, 20, 1, 0, tzinfo=UTC)
OLD = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)  # 40 days before NOW's day: past a 30-day landing retention
YOUNG = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # 19 days before: kept


def land(root: Path, source: str, start: datetime, *, age: timedelta = timedelta(days=30)) -> Path:
    """A landing file of ``source``'s window ``start``, last modified ``age`` before NOW."""
    path = landing_path(root, source, start)
    write_landing(path, [{"window": window_key(start), "endpoint": "video/query"}])
    stamp = (NOW - age).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def parsed_all(*starts: datetime) -> dict[str, frozenset[str]]:
    keys = frozenset(window_key(s) for s in starts)
    return {"raw_video_snapshots": keys, "raw_ad_metrics": keys}


def prune(root: Path, evidence: LandingEvidence, **options):
    return prune_landing(root, now=NOW, landing_days_kept=30, window_days_kept=30, needed=evidence.needed, **options)


def test_landing_files_older_than_the_days_go_unless_something_still_needs_them(tmp_path):
    root = tmp_path / "landing"
    gone = [land(root, "display_api", OLD), land(root, "display_api", OLD + WINDOW)]
    gone += [land(root, "business_api/report", OLD), land(root, "business_api/report_days", OLD)]
    leftover = land(root, "display_api", OLD).with_name(".1200.jsonl.gz.abc.partial")
    leftover.write_bytes(b"half")
    os.utime(leftover, (OLD.timestamp(), OLD.timestamp()))
    unparsed = land(root, "display_api", OLD + 2 * WINDOW)  # landed, never parsed: its window's only record
    busy = land(root, "display_api", OLD + 3 * WINDOW)  # a backfill of it is queued
    held_day = land(root, "display_api", OLD - timedelta(days=1))  # its day's window rows are still held
    unknown = land(root, "live_intake", OLD)  # no parser declared
    rewritten = land(root, "display_api", OLD + 4 * WINDOW, age=timedelta(hours=2))  # a run re-landed it just now
    young = land(root, "display_api", YOUNG, age=timedelta(days=19))
    parsed = [OLD, OLD + WINDOW, OLD + 3 * WINDOW, OLD + 4 * WINDOW, OLD - timedelta(days=1), YOUNG]
    evidence = LandingEvidence(
        window_row_days=frozenset({f"{OLD - timedelta(days=1):%Y-%m-%d}"}),
        parsed=parsed_all(*parsed),
        busy=frozenset({window_key(OLD + 3 * WINDOW)}),
    )
    sizes = sum(p.stat().st_size for p in [*gone, leftover])

    dry = prune(root, evidence, dry_run=True)
    assert dry.files_deleted == 5 and dry.bytes_deleted == sizes and dry.files_kept == 5
    assert all(p.exists() for p in [*gone, leftover])

    messages: list[str] = []
    run = prune(root, evidence, log=lambda level, message: messages.append(f"{level} {message}"))

    assert (run.files_deleted, run.bytes_deleted, run.files_kept) == (5, sizes, 5)
    assert run.cutoff == datetime(2026, 11, 20, tzinfo=UTC)
    assert not any(p.exists() for p in [*gone, leftover])
    assert all(p.exists() for p in (unparsed, busy, held_day, unknown, rewritten, young))
    assert not (root / "business_api/report" / f"{OLD:%Y-%m-%d}").exists()  # emptied folders removed
    by_folder = {f.folder: f for f in run.folders}
    assert set(by_folder) == {
        f"display_api/{OLD:%Y-%m-%d}",
        f"display_api/{OLD - timedelta(days=1):%Y-%m-%d}",
        f"business_api/report/{OLD:%Y-%m-%d}",
        f"business_api/report_days/{OLD:%Y-%m-%d}",
        f"live_intake/{OLD:%Y-%m-%d}",
    }  # the young day is not even looked at
    display = by_folder[f"display_api/{OLD:%Y-%m-%d}"]
    assert (display.deleted, display.kept) == (3, 3)
    reasons = " ".join(display.reasons)
    assert f"window {window_key(OLD + 2 * WINDOW)} was never parsed into raw_video_snapshots" in reasons
    assert f"a run of window {window_key(OLD + 3 * WINDOW)} is queued or in progress" in reasons
    assert "written less than a day ago" in reasons
    assert "are still held" in by_folder[f"display_api/{OLD - timedelta(days=1):%Y-%m-%d}"].reasons[0]
    assert "no parser is declared for landing source live_intake" in by_folder[f"live_intake/{OLD:%Y-%m-%d}"].reasons[0]
    assert any(m.startswith(f"info landing business_api/report/{OLD:%Y-%m-%d}: deleted 1 files") for m in messages)
    assert any(m.startswith(f"warning landing display_api/{OLD:%Y-%m-%d}: deleted 3 files, kept 3") for m in messages)

    again = prune(root, evidence)  # idempotent: what stays is kept again, nothing else goes
    assert (again.files_deleted, again.files_kept) == (0, 5)


def test_a_run_killed_halfway_leaves_whole_files_and_the_next_run_finishes(tmp_path, monkeypatch):
    root = tmp_path / "landing"
    starts = [OLD + i * WINDOW for i in range(6)]
    paths = [land(root, "display_api", s) for s in starts]
    evidence = LandingEvidence(window_row_days=frozenset(), parsed=parsed_all(*starts))
    real_unlink = Path.unlink
    calls = []

    def dies_on_the_third(self, missing_ok=False):
        calls.append(self)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        prune(root, evidence)
    monkeypatch.setattr(Path, "unlink", real_unlink)
    left = [p for p in paths if p.exists()]
    assert len(left) == 4
    assert all(read_landing(p) for p in left)  # every file still there is whole

    rerun = prune(root, evidence)
    assert rerun.files_deleted == 4 and rerun.files_kept == 0
    assert not any(p.exists() for p in paths) and landing_days(root) == []


def test_landing_retention_shorter_than_the_window_rows_is_refused_naming_both(monkeypatch, tmp_path):
    monkeypatch.setenv("TIKTOK_LANDING_RETENTION_DAYS", "10")
    with pytest.raises(
        SettingsError, match="TIKTOK_LANDING_RETENTION_DAYS=10 is shorter than TIKTOK_RETENTION_DAYS=35"
    ):
        load_settings()
    monkeypatch.delenv("TIKTOK_LANDING_RETENTION_DAYS")
    monkeypatch.setenv("TIKTOK_RETENTION_DAYS", "60")  # raising the window rows' alone is refused too
    with pytest.raises(
        SettingsError, match="TIKTOK_LANDING_RETENTION_DAYS=45 is shorter than TIKTOK_RETENTION_DAYS=60"
    ):
        load_settings()
    monkeypatch.setenv("TIKTOK_LANDING_RETENTION_DAYS", "60")
    assert load_settings().retention.landing_retention_days == 60
    # the job refuses it too, should settings be built around the validation (Settings.replace)
    with pytest.raises(ValueError, match="TIKTOK_LANDING_RETENTION_DAYS=3 is shorter than TIKTOK_RETENTION_DAYS=5"):
        prune_landing(tmp_path, now=NOW, landing_days_kept=3, window_days_kept=5, needed=lambda s, w: None)


def test_a_pending_retry_is_always_younger_than_any_landing_cutoff():
    """The polling sensor follows a failed window (to retry it) for at most MAX_FOLLOWED_WINDOWS windows; the
    landing cutoff is at least MIN_RETENTION_DAYS whole days before today, so no followed window's file is past it."""
    assert timedelta(days=MIN_RETENTION_DAYS) > MAX_FOLLOWED_WINDOWS * WINDOW


def _rows(spec, moments: list[datetime], column: str) -> pl.DataFrame:
    return spec.conform(pl.DataFrame({column: [utc_naive(m) for m in moments], "source": ["x"] * len(moments)}))


def test_call_log_and_quarantine_rows_older_than_their_days_are_deleted(settings):
    days = {"call_log_retention_days": 30, "quarantine_retention_days": 10}
    cutoffs = {
        "api_call_log": datetime(2026, 11, 20, tzinfo=UTC),
        "display_api_quarantine": datetime(2026, 12, 10, tzinfo=UTC),
    }
    moments = [
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 11, 19, 23, 59, tzinfo=UTC),
        datetime(2026, 11, 20, tzinfo=UTC),
        datetime(2026, 12, 9, 23, 55, tzinfo=UTC),
        datetime(2026, 12, 10, tzinfo=UTC),
        datetime(2026, 12, 19, tzinfo=UTC),
    ]
    with open_warehouse(settings, read_only=False) as con:
        for spec, column in ((API_CALL_LOG, "called_at"), (DISPLAY_API_QUARANTINE, "window_start")):
            create_or_extend(con, spec)
            con.register("_rows", _rows(spec, moments, column).to_arrow())
            con.execute(f'INSERT INTO "{spec.name}" BY NAME SELECT * FROM _rows')
            con.unregister("_rows")
        dry = prune_held_rows(con, now=NOW, days=days, dry_run=True)
        assert dry == {"api_call_log": 2, "display_api_quarantine": 4}  # the other quarantine tables do not exist
        deleted = prune_held_rows(con, now=NOW, days=days)
        assert deleted == dry
        for table, column in (("api_call_log", "called_at"), ("display_api_quarantine", "window_start")):
            left = [r[0] for r in con.execute(f"SELECT {column} FROM {table} ORDER BY 1").fetchall()]
            assert left == [utc_naive(m) for m in moments if m >= cutoffs[table]], table
        assert prune_held_rows(con, now=NOW, days=days) == {"api_call_log": 0, "display_api_quarantine": 0}


def test_every_held_table_is_declared_aged_and_dated_by_one_of_its_columns():
    specs = {spec.name: spec for spec in ALL_TABLES}
    for held in HELD_TABLES.values():
        assert held.column in specs[held.name].column_names
        assert specs[held.name].retention.value == "aged"
        assert held.setting in {"TIKTOK_CALL_LOG_RETENTION_DAYS", "TIKTOK_QUARANTINE_RETENTION_DAYS"}
    assert set(HELD_TABLES) == {
        "api_call_log",
        "display_api_quarantine",
        "ad_report_quarantine",
        "conversion_quarantine",
        "analytics_provider_quarantine",
        "shop_order_quarantine",
    }


def test_windows_of_unfinished_runs_are_busy_finished_ones_are_not():
    import dagster as dg

    from tiktok_pipeline.defs.retention.holdings import busy_windows

    with dg.instance_for_test() as instance:

        def run(status: dg.DagsterRunStatus, tags: dict[str, str]) -> None:
            instance.add_run(dg.DagsterRun(job_name="g", status=status, tags=tags))

        run(dg.DagsterRunStatus.NOT_STARTED, {"dagster/partition": window_key(OLD)})  # (QUEUED needs an origin)
        run(
            dg.DagsterRunStatus.STARTED,
            {
                "dagster/asset_partition_range_start": window_key(OLD + 10 * WINDOW),
                "dagster/asset_partition_range_end": window_key(OLD + 12 * WINDOW),
            },
        )
        run(dg.DagsterRunStatus.SUCCESS, {"dagster/partition": window_key(OLD + WINDOW)})
        run(dg.DagsterRunStatus.FAILURE, {"dagster/partition": window_key(OLD + 2 * WINDOW)})
        run(dg.DagsterRunStatus.STARTING, {"dagster/partition": "2026-11-10"})  # a daily rollup: lands nothing
        assert busy_windows(instance) == {window_key(OLD + i * WINDOW) for i in (0, 10, 11, 12)}
