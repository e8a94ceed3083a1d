"""Window runs on a DuckLake (issue 14), as real ``dagster asset materialize`` processes on the production instance
(deploy/dagster.yaml, PostgreSQL), against the embedded simulator:

- eight runs of eight windows started at once, while an analyst's DuckDB session (its own ATTACH of the lake)
  queries it in a loop: every run succeeds, no lock error, and every window's rows are the file backend's;
- a run killed with SIGKILL inside its delete+insert transaction leaves the lake as it was (the window's earlier
  rows, the same snapshots, a readable catalog), and the rerun writes the same tables.

The kill is made deterministic by a test-only start-up hook (``tiktok_pipeline_tests/hooks/sitecustomize.py``): the
run's first partition replacement runs its statements, then announces it and waits instead of committing.
"""

import os
import signal
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from tiktok_pipeline.settings import Settings
from tiktok_pipeline.warehouse import backends
from tiktok_pipeline.warehouse.io import connect, read_frame
from tiktok_pipeline.windows import window_key
from tiktok_pipeline_tests.conftest import SHIPPED_REGISTRY, T0, lake_settings
from tiktok_pipeline_tests.pg import Lake
from tiktok_pipeline_tests.pipeline_env import lake_env
from tiktok_pipeline_tests.postgres.test_warehouse_lock_runs import (
    LOCK_ERROR,
    finish,
    runs_saying,
    start_run,
    stop,
    tail,
    wait_until,
)
from tiktok_pipeline_tests.test_assets import TABLES, materialize_range

pytestmark = pytest.mark.heavy(85)  # seconds of a core, measured alone: started first under pytest-xdist

HOOKS = Path(__file__).parents[1] / "hooks"
PAUSE_ENV = "PIPELINE_TEST_PAUSE_IN_WRITE"
PER_RUN = ("log_id", "landing_file")
"""Columns that name the run's own responses (TikTok's log_id, the landing file): they differ between any two runs."""
COMPARED = (*TABLES, "display_api_quarantine")
RUNS = 8
SPACING = timedelta(hours=26)
"""Windows this far apart share no velocity history (24 h), so each window's rows do not depend on which of the
other runs committed first: the file backend, run one window after another, must give exactly the same."""
RUN_DEADLINE_SECONDS = 600  # eight interpreters importing Dagster on a loaded 2-core machine


def _windows() -> list[datetime]:
    return [T0 + i * SPACING for i in range(RUNS)]


def _table(settings: Settings, table: str) -> pl.DataFrame:
    with connect(settings.warehouse, read_only=True, lock_timeout=60) as connection:
        return read_frame(connection, f'SELECT * FROM "{table}"')


def _same(left: pl.DataFrame, right: pl.DataFrame) -> bool:
    return left.sort(pl.all()).equals(right.select(left.columns).sort(pl.all()))


class Analyst(threading.Thread):
    """An analyst's DuckDB session: its own in-memory DuckDB, the lake ATTACHed read-only (README's recipe), counting
    every table's rows in a loop until told to stop; what it read and any error are kept."""

    def __init__(self, lake: Lake) -> None:
        super().__init__(daemon=True)
        self.lake, self.stop, self.errors, self.queries = lake, threading.Event(), [], 0
        self.seen: set[str] = set()

    def run(self) -> None:
        session = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False})
        try:
            backends.load_extensions(session)
            session.execute(f"ATTACH '{self.lake.url}' AS lake (DATA_PATH '{self.lake.data_path}', READ_ONLY)")
            while not self.stop.is_set():
                try:
                    tables = session.execute(
                        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake'"
                    ).fetchall()
                    for (table,) in tables:
                        session.execute(f'SELECT count(*) FROM lake."{table}"').fetchall()
                        self.seen.add(table)
                    self.queries += 1
                except duckdb.Error as error:
                    self.errors.append(repr(error))
                time.sleep(0.05)
        finally:
            session.close()


def test_eight_window_runs_at_once_with_an_analyst_reading(pg_instance, pg_database, lake, tmp_path):
    """Issue 14: eight runs of eight windows launched together on the lake; an analyst's session reads throughout.
    Writers of different windows commit at once (conflicts retried, never a lock error), the reader never blocks
    them, and every window's rows are, row for row, the file backend's."""
    settings = _file_settings(tmp_path / "on_file")
    on_lake = lake_settings(tmp_path / "on_lake", lake)
    with connect(on_lake.warehouse) as connection:  # the catalog exists before the analyst attaches read-only
        connection.execute("SELECT 1").fetchall()
    analyst = Analyst(lake)
    analyst.start()
    env = lake_env(tmp_path / "on_lake", lake.url, lake.data_path)
    logs = [tmp_path / f"run_{i}.log" for i in range(RUNS)]
    keys = [window_key(window) for window in _windows()]
    processes = [start_run(key, env, log) for key, log in zip(keys, logs, strict=True)]
    try:
        finish(processes, logs, RUN_DEADLINE_SECONDS)
    finally:
        for process in processes:
            stop(process)
        analyst.stop.set()
        analyst.join(60)
    records = pg_instance.get_run_records(dg.RunsFilter())
    assert sorted((r.dagster_run.tags["dagster/partition"], r.dagster_run.status) for r in records) == [
        (key, dg.DagsterRunStatus.SUCCESS) for key in sorted(keys)
    ]
    for text in (LOCK_ERROR, "WarehouseBusyError"):
        assert all(text not in log.read_text(errors="replace") for log in logs), text
        assert runs_saying(pg_database, text) == set()
    assert analyst.errors == [] and analyst.queries > 0
    assert set(COMPARED) <= analyst.seen, "the analyst read the tables while the runs wrote them"

    for window in _windows():  # the same windows on the file backend, one run after another
        assert materialize_range(settings, window, window).success
    for table in COMPARED:
        on_file, lake_rows = (_table(s, table).drop(PER_RUN, strict=False) for s in (settings, on_lake))
        assert _same(on_file, lake_rows), table
        if table in TABLES:
            per_window = on_file.group_by("window_start").len()
            assert per_window.height == RUNS and per_window["len"].min() > 0, table


def test_a_writer_killed_inside_its_transaction_leaves_the_lake_as_it_was(pg_instance, lake, tmp_path):
    """A run of window W is killed (SIGKILL) after its DELETE and INSERT ran, before COMMIT: the lake has W's
    earlier rows, exactly, and no new snapshot; a new reader opens the catalog and reads every table; the rerun of W
    succeeds and writes the same tables (but for the columns naming each run's own responses)."""
    on_lake = lake_settings(tmp_path, lake)
    env = lake_env(tmp_path, lake.url, lake.data_path)
    key = window_key(T0)
    first = tmp_path / "first.log"
    run = start_run(key, env, first)
    finish([run], [first], RUN_DEADLINE_SECONDS)
    tables = (*TABLES, "display_api_quarantine", "poll_telemetry")
    before = {table: _table(on_lake, table) for table in tables}
    assert all(before[table].height > 0 for table in TABLES)
    snapshots = _snapshots(on_lake)

    marker, killed_log = tmp_path / "paused", tmp_path / "killed.log"
    paused_env = {**env, PAUSE_ENV: str(marker), "PYTHONPATH": os.pathsep.join([str(HOOKS), env.get("PYTHONPATH", "")])}
    killed = start_run(key, paused_env, killed_log)
    try:
        wait_until(marker.exists, "inside its write transaction", [killed], [killed_log])
        assert int(marker.read_text()) in _group(killed.pid)  # a process of the run is paused there
        during = _table(on_lake, "raw_video_snapshots")  # a reader meanwhile: not blocked, sees the committed rows
        assert _same(before["raw_video_snapshots"], during)
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(30)
    finally:
        stop(killed)
    assert "conflict" not in killed_log.read_text(errors="replace")

    from tiktok_pipeline.warehouse.backends import close_lakes

    close_lakes()  # read through a new session: nothing cached from before the kill
    assert _snapshots(on_lake) == snapshots, "the killed transaction committed nothing"
    for table in tables:
        assert _same(before[table], _table(on_lake, table)), table

    rerun = tmp_path / "rerun.log"
    again = start_run(key, env, rerun)
    finish([again], [rerun], RUN_DEADLINE_SECONDS)
    for table in (*TABLES, "display_api_quarantine"):
        after = _table(on_lake, table).drop(PER_RUN, strict=False)
        assert _same(before[table].drop(PER_RUN, strict=False), after), table
    statuses = sorted(r.dagster_run.status.value for r in pg_instance.get_run_records(dg.RunsFilter()))
    assert statuses == ["STARTED", "SUCCESS", "SUCCESS"], tail(killed_log)  # the killed run never said it ended


def _file_settings(folder: Path) -> Settings:
    """The ``settings`` fixture's on a DuckDB file (whichever backend the rest of the suite runs on)."""
    return Settings(
        warehouse_path=folder / "warehouse.duckdb",
        landing_dir=folder / "landing",
        token_store_path=folder / "tokens.json",
        registry_path=SHIPPED_REGISTRY,
        polling_state_dir=folder / "polling_state",
    )


def _snapshots(settings: Settings) -> list[tuple]:
    """The lake's snapshots (id and changes), from a new connection."""
    with connect(settings.warehouse) as connection:
        return connection.execute("SELECT snapshot_id, changes FROM lake.snapshots() ORDER BY 1").fetchall()


def _group(pgid: int) -> set[int]:
    """Process ids in process group ``pgid``."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.add(int(entry.name))
            except ProcessLookupError:
                continue
    return pids
