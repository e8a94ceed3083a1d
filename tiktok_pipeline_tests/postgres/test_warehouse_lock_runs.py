"""Window runs on the production instance (deploy/dagster.yaml, PostgreSQL) take turns on the warehouse lock.

Issue 11, items 7-10, with real ``dagster asset materialize`` processes (the command README documents), each
with the definitions' default executor (in-process since issue 13: a run is one process), against one warehouse
file:

- two runs started while the test holds the warehouse lock both collect and land their windows (no warehouse
  needed for that), then wait, saying for whom, and both finish once the test lets go;
- a run killed with SIGKILL while it holds the lock frees it at once: the kernel drops the lock with the process;
- a burst of runs started together all finish, with no pool row to race for and no DuckDB lock error.

Nothing here depends on timing: each wait is for an observable state (an event in PostgreSQL, a file), bounded by a
generous deadline for a loaded 2-core machine.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tiktok_pipeline.defs.governance.sensors import dead_run_sensor
from tiktok_pipeline.governance.workers import WORKER_TAG, Worker
from tiktok_pipeline.settings import PROJECT_ROOT
from tiktok_pipeline.warehouse.io import connect
from tiktok_pipeline.warehouse.lock import lock_path, warehouse_lock
from tiktok_pipeline_tests.pipeline_env import pipeline_env

pytestmark = pytest.mark.heavy(55)  # seconds of a core, measured alone: started first under pytest-xdist

WINDOWS = ("2026-11-20-10:00", "2026-11-20-10:05")
WINDOW_ASSETS = "raw_video_snapshots,raw_creator_snapshots,display_api_quarantine,poll_telemetry,enriched_video_metrics,video_velocity"
LOCK_ERROR = "Could not set lock"
WAITING = "for the warehouse lock"
OUTSIDE = "open in a process outside the pipeline"
BURST = int(os.environ.get("TIKTOK_TEST_BURST_RUNS", "6"))
"""Runs in the burst. Issue 11 saw its failures with 20 (TIKTOK_TEST_BURST_RUNS=20 repeats that), but none needed
20: the pool row's UniqueViolation was two runs inserting it at once, and DuckDB's lock error two processes opening
the file at once, so any two runs started together could hit them; six on two cores (three per core) keep several
runs waiting for the warehouse lock at once while another holds it, a queue handed on run after run. Each run is an
interpreter importing Dagster (about 6 CPU seconds): 20 were two of the suite's twenty CPU minutes."""
STATE_DEADLINE_SECONDS = 180  # interpreters importing Dagster on a loaded 2-core machine
RUN_DEADLINE_SECONDS = 300
BURST_DEADLINE_SECONDS = 900  # issue 11: "none of the other 18 finish in 15 minutes"


def start_run(window: str, env: dict[str, str], log: Path, *options: str) -> subprocess.Popen:
    """``dagster asset materialize`` of one window's tables, in its own session (so the test can kill all its
    processes at once, whichever executor runs its steps)."""
    dagster = Path(sys.executable).with_name("dagster")
    args = [str(dagster), "asset", "materialize", "-m", "tiktok_pipeline.definitions", "--select", WINDOW_ASSETS]
    args += options
    with log.open("wb") as out:
        return subprocess.Popen(
            [*args, "--partition", window],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen) -> None:
    """End a process this test started (and its step subprocesses, in its own session) if still running."""
    if process.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def wait_until(condition, what: str, processes: list[subprocess.Popen], logs: list[Path]) -> None:
    """Poll ``condition`` until true; fail (with the runs' logs) if a run ended first or the deadline passed."""
    deadline = time.monotonic() + STATE_DEADLINE_SECONDS
    while not condition():
        for process, log in zip(processes, logs, strict=True):
            assert process.poll() is None, f"a run ended before {what}:\n{tail(log)}"
        assert time.monotonic() < deadline, f"not {what}:\n" + "\n".join(tail(log) for log in logs)
        time.sleep(0.25)


def runs_saying(pg_database, text: str) -> set[str]:
    """Runs whose event log has a message containing ``text``."""
    rows = pg_database.query("SELECT DISTINCT run_id FROM event_logs WHERE event LIKE %s", (f"%{text}%",))
    return {row[0] for row in rows}


def finish(processes: list[subprocess.Popen], logs: list[Path], deadline_seconds: float) -> None:
    deadline = time.monotonic() + deadline_seconds
    for process, log in zip(processes, logs, strict=True):
        try:
            returncode = process.wait(max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            returncode = None
        assert returncode == 0, f"run exited with {returncode}:\n{tail(log)}"


def velocity_windows(warehouse: Path) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT DISTINCT strftime(window_start, '%Y-%m-%d-%H:%M') FROM video_velocity ORDER BY 1"
        ).fetchall()
    return [row[0] for row in rows]


def test_two_runs_collect_while_the_warehouse_is_held_then_take_turns(pg_instance, pg_database, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    env = pipeline_env(tmp_path)
    logs = [tmp_path / f"run_{i}.log" for i in range(len(WINDOWS))]
    processes: list[subprocess.Popen] = []
    try:
        with warehouse_lock(warehouse, timeout=5, purpose="the test"):
            processes = [start_run(window, env, log) for window, log in zip(WINDOWS, logs, strict=True)]
            wait_until(lambda: len(runs_saying(pg_database, WAITING)) == len(WINDOWS), "both waiting", processes, logs)
            # Item 7: both windows were collected and landed while another process held the warehouse.
            landed = sorted(p.name for p in (tmp_path / "landing" / "display_api").rglob("*.jsonl.gz"))
            assert len(landed) == len(WINDOWS), landed
            assert not warehouse.exists()  # nobody opened it
            waiting = pg_database.query("SELECT event FROM event_logs WHERE event LIKE %s", (f"%{WAITING}%",))
            assert all("the test" in row[0] for row in waiting)  # the waiter says whom it waits for
        finish(processes, logs, RUN_DEADLINE_SECONDS)
    finally:
        for process in processes:
            stop(process)
    run_ids = sorted(runs_saying(pg_database, WAITING))
    records = pg_instance.get_run_records(dg.RunsFilter(run_ids=run_ids))
    assert sorted((r.dagster_run.tags["dagster/partition"], r.dagster_run.status) for r in records) == [
        (window, dg.DagsterRunStatus.SUCCESS) for window in WINDOWS
    ]
    for text in (LOCK_ERROR, OUTSIDE):  # DuckDB itself would have said so if two processes had opened the file
        assert runs_saying(pg_database, text) == set()
        assert all(text not in log.read_text(errors="replace") for log in logs)
    assert velocity_windows(warehouse) == list(WINDOWS)


def test_a_run_killed_while_it_holds_the_warehouse_frees_it_at_once(pg_instance, pg_database, tmp_path):
    """The run is made to hold the lock deterministically: an outside DuckDB session keeps the file open, so the run
    takes the pipeline's lock and then waits, holding it, for DuckDB's. Then it is killed with SIGKILL."""
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    outside = duckdb.connect(str(warehouse))
    log = tmp_path / "killed.log"
    process = start_run(WINDOWS[0], pipeline_env(tmp_path), log)
    try:
        wait_until(lambda: runs_saying(pg_database, OUTSIDE), "holding the lock", [process], [log])
        holder = json.loads(lock_path(warehouse).read_text())
        assert os.getpgid(holder["pid"]) == process.pid  # a process of the run holds the lock
        with pytest.raises(TimeoutError), warehouse_lock(warehouse, timeout=0.5):
            pass
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
    finally:
        stop(process)
        outside.close()
    # Nobody freed anything by hand, and no monitoring had to notice: the next connection goes through.
    with connect(warehouse, lock_timeout=10) as connection:
        assert connection.execute("SELECT 42").fetchone() == (42,)

    # The run never reported its end: Dagster still shows it STARTED, until dead_run_sensor sees its process gone.
    (record,) = pg_instance.get_run_records(dg.RunsFilter())
    assert record.dagster_run.status == dg.DagsterRunStatus.STARTED
    assert Worker.parse(record.dagster_run.tags.get(WORKER_TAG)).pid == process.pid  # the CLI process orchestrates it
    dead_run_sensor(dg.build_sensor_context(instance=pg_instance))
    run = pg_instance.get_run_by_id(record.dagster_run.run_id)
    assert run.status == dg.DagsterRunStatus.FAILURE
    (failure,) = pg_instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    assert f"process {process.pid}" in failure.event_log_entry.dagster_event.message


@pytest.mark.skipif(BURST < 2, reason="TIKTOK_TEST_BURST_RUNS < 2")
def test_a_burst_of_cli_runs_all_finish(pg_instance, pg_database, tmp_path):
    """Issue 11, item 8: 20 CLI runs started together (2 failed with a UniqueViolation on the pool row, the others
    did not finish in 15 minutes). No step claims a pool now, so there is no row to race for. ``BURST`` runs (six;
    why six are enough: see ``BURST``) start together here. Each run executes in one process (the definitions'
    default executor since issue 13, ``definitions.apply_policies``); the pool that failed was claimed by the
    multiprocess executor's orchestrator, and no step has a pool any more (test_definitions.py
    ``test_no_step_claims_a_dagster_pool``), whatever the executor."""
    warehouse = tmp_path / "warehouse.duckdb"
    windows = [f"2026-11-20-{10 + i // 12:02d}:{i % 12 * 5:02d}" for i in range(BURST)]
    env = pipeline_env(tmp_path)
    logs = [tmp_path / f"burst_{i}.log" for i in range(BURST)]
    processes = [start_run(window, env, log) for window, log in zip(windows, logs, strict=True)]
    try:
        finish(processes, logs, BURST_DEADLINE_SECONDS)
    finally:
        for process in processes:
            stop(process)
    records = pg_instance.get_run_records(dg.RunsFilter())
    assert sorted((r.dagster_run.tags["dagster/partition"], r.dagster_run.status) for r in records) == [
        (window, dg.DagsterRunStatus.SUCCESS) for window in windows
    ]
    for text in (LOCK_ERROR, "UniqueViolation"):
        assert all(text not in log.read_text(errors="replace") for log in logs)
        assert runs_saying(pg_database, text) == set()
    assert velocity_windows(warehouse) == windows
