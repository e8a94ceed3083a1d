"""Two runs launched at once for different windows never write the DuckDB file at the same time.

How this is made deterministic (no reliance on timing):

1. The test itself takes the only slot of the ``duckdb_writer`` pool in PostgreSQL, through the event
   log storage's concurrency API, after initialising the pool from the instance's default, i.e.
   ``concurrency: pools: default_limit: 1`` of deploy/dagster.yaml.
2. It starts two real ``dagster asset materialize`` processes at once, one per window, with the
   shipped instance (DAGSTER_HOME) and one shared warehouse file. They use the default
   (multiprocess) executor, whose orchestrating process claims a pool slot in PostgreSQL for every
   step before starting the step's process and frees it after the step ended
   (dagster/_core/execution/plan/active.py calling ``InstanceConcurrencyContext.claim``), exactly
   like runs launched by the daemon.
3. It waits until BOTH runs have a step queued in PostgreSQL's ``pending_steps`` for the pool,
   unassigned: both are now demonstrably blocked, neither has touched DuckDB. If the pool were not
   enforced, the runs would not wait there and this step fails.
4. It releases its slot. From then on the pool alone decides who writes.

Then both runs must have succeeded, no log line and no stored event may mention DuckDB's "Could not
set lock on file", each run's event log must say it was blocked by the pool, and the [start, end]
intervals of all writer steps of both runs (STEP_START .. STEP_SUCCESS, from the event log) must
not overlap: the slot is claimed before a step starts and freed only after it finished.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import duckdb

from tiktok_pipeline.settings import DATA_DIR, PROJECT_ROOT
from tiktok_pipeline.warehouse.io import WRITER_POOL

WINDOWS = ("2026-11-20-10:00", "2026-11-20-10:05")
WINDOW_ASSETS = "raw_video_snapshots,raw_creator_snapshots,display_api_quarantine,poll_telemetry,enriched_video_metrics,video_velocity"
WRITER_STEPS = {"raw_snapshots", "enriched_video_metrics", "video_velocity"}
LOCK_ERROR = "Could not set lock"
HOLDER_STEP = "test_holds_the_writer_slot"
BLOCKED_DEADLINE_SECONDS = 120  # generous: two interpreters importing Dagster on a loaded 2-core machine
RUN_DEADLINE_SECONDS = 240


def pipeline_env(tmp_path: Path) -> dict[str, str]:
    """The test's environment (DAGSTER_HOME and DAGSTER_PG_* of the Postgres instance) with every runtime file in tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIKTOK_")}  # the embedded simulator, no real host
    env.update(
        TIKTOK_WAREHOUSE_PATH=str(tmp_path / "warehouse.duckdb"),
        TIKTOK_LANDING_DIR=str(tmp_path / "landing"),
        TIKTOK_TOKEN_STORE_PATH=str(tmp_path / "tokens.json"),
        TIKTOK_POLLING_STATE_DIR=str(tmp_path / "polling_state"),
        TIKTOK_REGISTRY_PATH=str(DATA_DIR / "tracking_registry.json"),
        TIKTOK_PARTITIONS_START="2026-11-20T00:00:00Z",
    )
    return env


def start_run(window: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    dagster = Path(sys.executable).with_name("dagster")
    args = [
        str(dagster),
        "asset",
        "materialize",
        "-m",
        "tiktok_pipeline.definitions",
        "--select",
        WINDOW_ASSETS,
        "--partition",
        window,
    ]
    with log.open("wb") as out:
        return subprocess.Popen(
            args, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
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


def blocked_runs(storage, holder: str) -> set[str]:
    """Runs with a step waiting, unassigned, for a writer slot."""
    info = storage.get_concurrency_info(WRITER_POOL)
    return {p.run_id for p in info.pending_steps if p.run_id != holder and p.assigned_timestamp is None}


def writer_intervals(instance: dg.DagsterInstance, run_id: str) -> list[tuple[float, float, str, str]]:
    """(start, end, run, step) of every writer step of the run, from its STEP_START and STEP_SUCCESS events."""
    starts, ends = {}, {}
    for event_type, into in ((dg.DagsterEventType.STEP_START, starts), (dg.DagsterEventType.STEP_SUCCESS, ends)):
        for record in instance.get_records_for_run(run_id, of_type=event_type).records:
            into[record.event_log_entry.step_key] = record.event_log_entry.timestamp
    assert set(starts) == set(ends) == WRITER_STEPS, (run_id, starts, ends)
    return [(starts[step], ends[step], run_id, step) for step in WRITER_STEPS]


def test_two_runs_at_once_take_turns_on_the_duckdb_writer_pool(pg_instance, pg_database, tmp_path):
    storage = pg_instance.event_log_storage
    holder = f"test-holder-{uuid.uuid4()}"
    assert storage.initialize_concurrency_limit_to_default(WRITER_POOL)
    info = storage.get_concurrency_info(WRITER_POOL)
    assert (info.limit, info.using_default_limit) == (1, True)  # from deploy/dagster.yaml, not set by the test
    assert storage.claim_concurrency_slot(WRITER_POOL, holder, HOLDER_STEP).is_claimed

    env = pipeline_env(tmp_path)
    logs = [tmp_path / f"run_{i}.log" for i in range(len(WINDOWS))]
    processes: list[subprocess.Popen] = []
    try:
        processes = [start_run(window, env, log) for window, log in zip(WINDOWS, logs, strict=True)]
        deadline = time.monotonic() + BLOCKED_DEADLINE_SECONDS
        while len(waiting := blocked_runs(storage, holder)) < len(WINDOWS):
            for process, log in zip(processes, logs, strict=True):
                assert process.poll() is None, f"a run ended while the test held the writer slot:\n{tail(log)}"
            assert time.monotonic() < deadline, (
                f"runs not blocked on {WRITER_POOL} (waiting: {waiting}):\n" + "\n".join(tail(log) for log in logs)
            )
            time.sleep(0.25)
        claimed = storage.get_concurrency_info(WRITER_POOL).claimed_slots
        assert [(s.run_id, s.step_key) for s in claimed] == [(holder, HOLDER_STEP)]  # nobody wrote yet
        assert not (tmp_path / "warehouse.duckdb").exists()

        storage.free_concurrency_slot_for_step(holder, HOLDER_STEP)
        for process, log in zip(processes, logs, strict=True):
            try:
                returncode = process.wait(RUN_DEADLINE_SECONDS)
            except subprocess.TimeoutExpired:
                returncode = None
            assert returncode == 0, f"run exited with {returncode}:\n{tail(log)}"
    finally:
        for process in processes:
            stop(process)
        storage.free_concurrency_slots_for_run(holder)

    run_ids = sorted(waiting)
    records = pg_instance.get_run_records(dg.RunsFilter(run_ids=run_ids))
    assert sorted((r.dagster_run.tags["dagster/partition"], r.dagster_run.status) for r in records) == [
        (window, dg.DagsterRunStatus.SUCCESS) for window in WINDOWS
    ]
    for log in logs:
        assert LOCK_ERROR not in log.read_text(errors="replace")
    assert pg_database.query(
        "SELECT count(*) FROM event_logs WHERE run_id = ANY(%s) AND event LIKE %s", (run_ids, f"%{LOCK_ERROR}%")
    ) == [(0,)]
    blocked = pg_database.query(
        "SELECT DISTINCT run_id FROM event_logs WHERE run_id = ANY(%s) AND event LIKE %s",
        (run_ids, f"%Step blocked by limit for pool {WRITER_POOL}%"),
    )
    assert sorted(r[0] for r in blocked) == run_ids

    intervals = sorted(interval for run_id in run_ids for interval in writer_intervals(pg_instance, run_id))
    for before, after in zip(intervals, intervals[1:], strict=False):
        assert before[1] <= after[0], f"writer steps overlap: {before} and {after}"
    info = storage.get_concurrency_info(WRITER_POOL)
    assert info.claimed_slots == [] and info.pending_steps == []  # every slot given back

    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        windows = con.execute(
            "SELECT DISTINCT strftime(window_start, '%Y-%m-%d-%H:%M') FROM video_velocity ORDER BY 1"
        ).fetchall()
    assert [w[0] for w in windows] == list(WINDOWS)
