"""Benchmark: production figures on the simulator — processing, backfill, polling throughput, memory.

Prints (it asserts nothing) four figures, each measured in a fresh subprocess whose peak RSS is
reported with it:

1. processing: ``enriched_video_metrics`` + ``video_velocity`` for one 5-minute window in which
   every tracked video (10k, then 100k) was observed, on a warehouse already holding about a million
   snapshot rows of history (a day; velocity's history read and as-of join see all of it), through
   ``dg.materialize`` of the two assets (asset checks included), and the pure functions alone;
2. a one-day backfill (288 windows) of the same two assets for 10k videos: as ONE run
   (``BackfillPolicy.single_run()``, a partition range) against one run per window. Runs are launched
   the way the daemon launches them: ``instance.submit_run`` → ``DefaultRunLauncher`` → a run worker
   process whose multiprocess executor starts a process per step (the daemon's queue and backfill
   ticks are not included, so per-window figures are a lower bound); per-window runs for a sample of
   windows, extrapolated to 288 (``--full`` launches all 288), and in-process ``dg.materialize`` for
   every window (also checked to write the same tables as the one run). The one run also reports how
   many events it stored: one materialisation and, since the checks are partitioned, one evaluation per
   check and window, each a write to the event log;
3. polling throughput of the refresh path (``collect_window`` → ``video/query``, 20 ids a request,
   the project's ``DisplayApiClient`` with its sliding-window limiter and retries) against the
   simulator served over real HTTP on loopback in another process, with its 600/min per-endpoint
   limit: videos refreshed per minute as a share of the 12,000/min ceiling, every requested video
   observed exactly once, 429s and retries counted;
4. peak memory (VmHWM, the peak resident set) of each measuring process, and of the largest
   process of a launched run.

Run: .venv/bin/python benchmarks/production.py            (about 9 minutes on 2 cores)
     .venv/bin/python benchmarks/production.py --quick    (about 4 minutes: fewer repeats and samples, 1-minute polling at the default 590/min)
     .venv/bin/python benchmarks/production.py --full     (launches all 288 per-window runs instead of 12: +25 minutes)
     .venv/bin/python benchmarks/production.py --only one-run-backfill --event-log sqlite,postgres --before DIR
         (the one-run backfill alone, on SQLite and PostgreSQL event logs, this code and an older checkout at DIR
         measured alternately: about 2 minutes a round on a quiet machine)
Timings move with the machine's load: the script prints the load average; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

DAY = datetime(2026, 11, 20, tzinfo=UTC)
"""The day of history (and of the backfill); the processed window is the first one after it."""
AFTER = DAY + timedelta(days=1)
SELECT = ["enriched_video_metrics", "video_velocity"]
LAUNCHED_OP = "enriched_and_velocity"
"""The op making both (a launched run selects ops: the two assets are one subsettable multi-asset step)."""


def default_limit() -> int:
    """The client limiter's default (TIKTOK_REQUESTS_PER_MINUTE unset: the declared source's); imported late to keep
    child processes lean."""
    from tiktok_pipeline.governance.rate_limits import display_requests_per_minute

    return display_requests_per_minute(None)


CEILING_REQUESTS_PER_MINUTE = 600
VIDEOS_PER_REQUEST = 20


# --- children: each measurement runs in a fresh process ----------------------------------------------
def _emit(result: dict[str, Any]) -> None:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork/vfork + exec, so a child would report
    # at least its parent's peak; VmHWM belongs to the process's own address space.
    result["rss_mb"] = _peak_kb(os.getpid()) / 1024
    print("RESULT " + json.dumps(result, default=str), flush=True)


def _cpu() -> float:
    """CPU seconds of this process so far (all threads): less sensitive than wall time to a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _settings(directory: Path, work: Path, lake: dict[str, str] | None = None):
    """Settings on the benchmark's files: the warehouse is ``directory``'s DuckDB file, or ``lake`` (its url and
    data_path, as benchmarks/backends.py passes it)."""
    from tiktok_pipeline.settings import Settings

    warehouse: dict[str, Any] = (
        {"warehouse_url": lake["url"], "lake_data_path": lake["data_path"]}
        if lake
        else {"warehouse_path": directory / "warehouse.duckdb"}
    )
    return Settings(
        **warehouse,
        registry_path=directory / "tracking_registry.json",
        landing_dir=work / "landing",
        token_store_path=work / "tokens.json",
        polling_state_dir=work / "polling_state",
    )


PG_DB: str | None = None
"""The PostgreSQL database of this measurement's instance (``--event-log postgres``), else SQLite."""


def _pg_server() -> dict[str, Any]:
    """The PostgreSQL server for ``--event-log postgres`` (the tests' TIKTOK_TEST_PG_* variables, same defaults)."""
    return {
        "host": os.environ.get("TIKTOK_TEST_PG_HOST", "127.0.0.1"),
        "port": int(os.environ.get("TIKTOK_TEST_PG_PORT", "5432")),
        "user": os.environ.get("TIKTOK_TEST_PG_USER", "postgres"),
        "password": os.environ.get("TIKTOK_TEST_PG_PASSWORD", ""),
    }


EVENT_LOG_CLASS_ENV = "BENCH_EVENT_LOG_CLASS"
DAGSTER_EVENT_LOG_CLASS = "dagster._core.storage.event_log:ConsolidatedSqliteEventLogStorage"


def _home(work: Path) -> Path:
    """A DAGSTER_HOME configured like the measured code's dagster.yaml (SQLite, its event log class with consolidated
    events, no pools: the current directory is the measured checkout), or with deploy/dagster.yaml's PostgreSQL
    storage when :data:`PG_DB` is set, except that submitted runs are launched at once (``DefaultRunCoordinator``)
    instead of waiting in the daemon's queue; the run launcher is the default one (a run worker process per run)."""
    home = work / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    if PG_DB:
        pg = _pg_server()
        db = {
            "hostname": pg["host"],
            "port": int(pg["port"]),
            "username": pg["user"],
            "password": str(pg["password"]),
            "db_name": PG_DB,
            "scheme": "postgresql+psycopg2",
        }
        shipped = yaml.safe_load((Path.cwd() / "deploy" / "dagster.yaml").read_text())
        if "storage" in shipped:  # Dagster's own storages (the code before the pooled event log)
            config: dict[str, Any] = {"storage": {"postgres": {"postgres_db": db}}}
        else:  # the measured code's storage classes, on this database
            storages = ("run_storage", "event_log_storage", "schedule_storage")
            config = {
                k: {"module": shipped[k]["module"], "class": shipped[k]["class"], "config": {"postgres_db": db}}
                for k in storages
            }
        storage = yaml.safe_dump(config)
    else:
        shipped = yaml.safe_load((Path.cwd() / "dagster.yaml").read_text())["event_log_storage"]
        if os.environ.get(EVENT_LOG_CLASS_ENV):  # module:Class, to measure another event log class on the same code
            shipped["module"], shipped["class"] = os.environ[EVENT_LOG_CLASS_ENV].split(":")
        storage = (
            f"event_log_storage:\n  module: {shipped['module']}\n  class: {shipped['class']}\n"
            f"  config:\n    base_dir: {home / 'storage' / 'events'}\n"
        )
    (home / "dagster.yaml").write_text(
        storage + "telemetry:\n  enabled: false\n"
        "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n"
    )
    return home


def _instance(work: Path):
    import dagster as dg

    return dg.DagsterInstance.from_config(str(_home(work)))


def _env(directory: Path, work: Path) -> dict[str, str]:
    """Environment for a ``dagster`` CLI process on the same files as :func:`_settings`."""
    return {
        **os.environ,
        "DAGSTER_HOME": str(_home(work)),
        "TIKTOK_WAREHOUSE_PATH": str(directory / "warehouse.duckdb"),
        "TIKTOK_REGISTRY_PATH": str(directory / "tracking_registry.json"),
        "TIKTOK_LANDING_DIR": str(work / "landing"),
        "TIKTOK_TOKEN_STORE_PATH": str(work / "tokens.json"),
        "TIKTOK_POLLING_STATE_DIR": str(work / "polling_state"),
    }


def _materialize(defs, instance, *, partition_key: str | None = None, last_key: str | None = None):
    """``dg.materialize`` of the two derived assets; (wall seconds, {step: seconds}, result)."""
    import dagster as dg

    tags = None
    if last_key is not None:
        tags = {"dagster/asset_partition_range_start": partition_key, "dagster/asset_partition_range_end": last_key}
        partition_key = None
    began = time.perf_counter()
    result = dg.materialize(
        list(defs.assets),
        resources=dict(defs.resources),
        instance=instance,
        partition_key=partition_key,
        tags=tags,
        selection=SELECT,
    )
    wall = time.perf_counter() - began
    steps = {e.step_key: e.event_specific_data.duration_ms / 1000 for e in result.all_events if e.is_step_success}
    return wall, steps, result


def child_prepare(p: dict[str, Any]) -> dict[str, Any]:
    from production_data import build_warehouse

    began = time.perf_counter()
    built = build_warehouse(
        Path(p["dir"]), p["videos"], p["history_rows"], DAY, derived_history=p["derived"], current_window=p["current"]
    )
    return {"seconds": time.perf_counter() - began, **built.__dict__}


def child_processing(p: dict[str, Any]) -> dict[str, Any]:
    """The two assets for the window after the day, through dg.materialize, ``repeats`` times."""
    from tiktok_pipeline.definitions import build_definitions
    from tiktok_pipeline.windows import window_key

    directory, work = Path(p["dir"]), Path(p["work"])
    defs = build_definitions(_settings(directory, work, p.get("lake")))
    walls, steps, cpus = [], [], []
    with _instance(work) as instance:
        for _ in range(p["repeats"]):
            cpu = _cpu()
            wall, step, result = _materialize(defs, instance, partition_key=window_key(AFTER))
            cpus.append(_cpu() - cpu)
            assert result.success
            walls.append(wall)
            steps.append(step)
    rows = {
        e.asset_key.path[-1]: e.step_materialization_data.materialization.metadata["dagster/row_count"].value
        for e in result.all_events
        if e.is_step_materialization
    }
    return {"walls": walls, "steps": steps, "cpu": cpus, "rows": rows}


def child_functions(p: dict[str, Any]) -> dict[str, Any]:
    """The pure functions and the assets' queries timed one by one, on the same warehouse."""
    from tiktok_pipeline.ingest.polling.state import compute_polling_state
    from tiktok_pipeline.ingest.registry import load_registry
    from tiktok_pipeline.metrics.enrichment import SNAPSHOT_COLUMNS, enrich_snapshots
    from tiktok_pipeline.metrics.velocity import HISTORY_LIMIT, LOOKBACK, compute_velocity, velocity_in_warehouse
    from tiktok_pipeline.warehouse.io import connect, read_frame
    from tiktok_pipeline.windows import WINDOW, utc_naive

    directory = Path(p["dir"])
    start, end = AFTER, AFTER + WINDOW
    registry = load_registry(directory / "tracking_registry.json").to_frame()
    timings: dict[str, list[float]] = {}

    def timed(name: str, fn):
        began = time.perf_counter()
        value = fn()
        timings.setdefault(name, []).append(time.perf_counter() - began)
        return value

    with connect(directory / "warehouse.duckdb", read_only=True) as con:
        for _ in range(p["repeats"]):
            raw = timed(
                "read window (raw)",
                lambda: read_frame(
                    con,
                    f"SELECT {', '.join(SNAPSHOT_COLUMNS)} FROM raw_video_snapshots WHERE window_start >= ? AND window_start < ?",
                    [utc_naive(start), utc_naive(end)],
                ),
            )
            timed("enrich_snapshots", lambda: enrich_snapshots(raw, registry))
            velocity = timed(
                "velocity_in_warehouse",
                lambda: velocity_in_warehouse(con, "enriched_video_metrics", start, end, history_limit=HISTORY_LIMIT),
            )
            current = timed(
                "read window (enriched)",
                lambda: read_frame(
                    con,
                    "SELECT * FROM enriched_video_metrics WHERE window_start >= ? AND window_start < ?",
                    [utc_naive(start), utc_naive(end)],
                ),
            )
            history = timed(
                "read 24.5 h history",
                lambda: read_frame(
                    con,
                    "SELECT video_id, observed_at, view_count, engagement_rate FROM enriched_video_metrics"
                    " WHERE observed_at >= ? AND observed_at < ?",
                    [utc_naive(start - LOOKBACK - HISTORY_LIMIT), utc_naive(end)],
                ),
            )
            polars = timed("compute_velocity", lambda: compute_velocity(current, history))
            timed("compute_polling_state", lambda: compute_polling_state(con, timedelta(days=7)))
    same = polars.select(velocity.columns).equals(velocity)
    return {
        "timings": timings,
        "window_rows": raw.height,
        "history_rows": history.height,
        "velocity_rows": velocity.height,
        "same_as_polars": same,
    }


def _copy(directory: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in ("warehouse.duckdb", "tracking_registry.json"):
        shutil.copy(directory / name, target / name)
    return target


def _keys(count: int) -> list[str]:
    from tiktok_pipeline.windows import WINDOW, window_key

    return [window_key(DAY + i * WINDOW) for i in range(count)]


def _descendants() -> set[int]:
    """Process ids of every live descendant of this process (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _peak_kb(pid: int) -> int:
    """VmHWM (peak resident set) of a live process in kB, 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _launched(
    directory: Path,
    work: Path,
    runs: list[dict[str, str]],
    *,
    python_file: str | None = None,
    op: str = LAUNCHED_OP,
) -> tuple[list[float], float, list[dict[str, float]]]:
    """Submit one run per tag set through the instance's run launcher, one after the other; each run's wall seconds,
    the largest process's peak MB and each run's :func:`_timeline`.

    This is how the daemon starts a backfill's runs: ``instance.submit_run`` → ``DefaultRunLauncher`` →
    the code server starts a run worker process, which runs the steps itself (the in-process executor,
    the definitions' default since issue 13; the code before that started a process per step). Not included: the daemon's queue and backfill ticks (seconds each), so this is a lower bound.
    The code server is started once, as the daemon keeps its own running. ``python_file``: load the definitions of
    that file instead of ``tiktok_pipeline.definitions`` (``benchmarks/backfill_floor.py``); ``op``: the step to run.
    """
    import dagster as dg
    from dagster._cli.job import _create_run  # what `dagster job launch` calls
    from dagster._cli.workspace.cli_target import (
        get_code_location_from_workspace,
        get_remote_job_from_remote_repo,
        get_remote_repository_from_code_location,
        get_workspace_from_cli_opts,
    )
    from dagster.version import __version__
    from dagster_shared.cli import WorkspaceOpts

    os.environ.update(_env(directory, work))  # the code server and run workers inherit it
    walls, largest, timelines = [], 0.0, []
    opts = (
        WorkspaceOpts(python_file=(python_file,), working_directory=os.getcwd())
        if python_file
        else WorkspaceOpts(module_name=("tiktok_pipeline.definitions",), working_directory=os.getcwd())
    )
    with dg.DagsterInstance.get() as instance, get_workspace_from_cli_opts(instance, __version__, opts) as workspace:
        location = get_code_location_from_workspace(workspace, None)
        repository = get_remote_repository_from_code_location(location, None)
        job = get_remote_job_from_remote_repo(repository, "__ASSET_JOB")
        for tags in runs:
            began = time.perf_counter()
            created_at = time.time()
            run = _create_run(
                instance=instance,
                code_location=location,
                remote_repo=repository,
                remote_job=job,
                run_config={},
                tags=tags,
                op_selection=[op],
                run_id=None,
            )
            before = _descendants()  # the code server: it is not part of a run
            instance.submit_run(run.run_id, workspace)
            peaks: dict[int, int] = {}
            while not (status := instance.get_run_by_id(run.run_id)).is_finished:
                for pid in _descendants() - before:  # the run worker and its step processes
                    peaks[pid] = max(peaks.get(pid, 0), _peak_kb(pid))
                time.sleep(0.05)
            if status.status != dg.DagsterRunStatus.SUCCESS:
                raise RuntimeError(f"run {run.run_id} for {tags} ended {status.status}")
            walls.append(time.perf_counter() - began)
            largest = max(largest, max(peaks.values(), default=0) / 1024)
            timelines.append(_timeline(instance, run.run_id, created_at))
    return walls, largest, timelines


TIMELINE = {
    "created": "ASSET_MATERIALIZATION_PLANNED",
    "worker started": "RUN_START",
    "step started": "STEP_START",
    "first materialization": "ASSET_MATERIALIZATION",
    "step done": "STEP_SUCCESS",
    "run done": "RUN_SUCCESS",
}
"""Where a launched run's time goes: the seconds from its creation to the last event of each kind (the first, for
the first materialisation)."""


def _timeline(instance, run_id: str, created_at: float) -> dict[str, float]:
    """:data:`TIMELINE`'s marks for the run, seconds after ``created_at`` (the event log's wall-clock timestamps)."""
    records = instance.get_records_for_run(run_id=run_id, limit=100_000).records
    seen: dict[str, list[float]] = {}
    for r in records:
        if r.event_log_entry.dagster_event:
            seen.setdefault(r.event_log_entry.dagster_event_type.value, []).append(r.event_log_entry.timestamp)
    return {
        mark: round((min if mark.startswith("first") else max)(seen[kind]) - created_at, 2)
        for mark, kind in TIMELINE.items()
        if kind in seen
    }


def _stored_by_kind(instance, run_id: str) -> dict[str, int]:
    """How many events of each type the event log holds for the run (planned events included)."""
    records = instance.get_records_for_run(run_id=run_id, limit=100_000).records
    return dict(Counter(r.event_log_entry.dagster_event_type.value for r in records if r.event_log_entry.dagster_event))


def child_backfill(p: dict[str, Any]) -> dict[str, Any]:
    """One of: the day as one run or as one run per window, launched (a process per run) or in-process.

    A launched run is created (its planned events written) by this process, which stands for the daemon: it does
    not import ``tiktok_pipeline.definitions`` (nor its process-wide policies), as the daemon does not."""
    global PG_DB
    PG_DB = p.get("pg")
    directory, work = _copy(Path(p["dir"]), Path(p["work"])), Path(p["work"])
    keys = _keys(p["windows"])
    out: dict[str, Any] = {"dir": str(directory), "windows": len(keys)}
    if p["how"] == "single-launched":
        out["walls"], out["largest_process_mb"], (out["timeline"],) = _launched(
            directory,
            work,
            [{"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}],
        )
        with _instance(work) as instance:
            out["stored"] = _stored_by_kind(instance, instance.get_runs(limit=1)[0].run_id)
        return out
    if p["how"] == "per-window-launched":
        out["walls"], out["largest_process_mb"], _ = _launched(
            directory, work, [{"dagster/partition": key} for key in keys]
        )
        return out
    from tiktok_pipeline.definitions import build_definitions

    defs = build_definitions(_settings(directory, work, p.get("lake")))
    with _instance(work) as instance:
        if p["how"] == "single":
            wall, steps, result = _materialize(defs, instance, partition_key=keys[0], last_key=keys[-1])
            assert result.success
            # what the run stored per window: materialisations, check evaluations (one per window since the
            # checks are partitioned) and the planned events Dagster writes before the run starts
            events = Counter(e.event_type_value for e in result.all_events)
            stored = _stored_by_kind(instance, result.run_id)
            out.update(
                walls=[wall], steps=steps, events=dict(events), stored_events=sum(stored.values()), stored=stored
            )
        else:  # per-window, in-process
            walls = []
            for key in keys:
                wall, _, result = _materialize(defs, instance, partition_key=key)
                assert result.success
                walls.append(wall)
            out["walls"] = walls
    return out


class _Deadline(Exception):
    """The measured minutes are over: the next request would only be sent after them."""


def child_polling(p: dict[str, Any]) -> dict[str, Any]:
    """Refresh distinct videos through collect_window for whole minutes against a served simulator."""
    from production_data import tracked_videos, world_config
    from pydantic import SecretStr

    from tiktok_pipeline.ingest.collect.display import collect_window
    from tiktok_pipeline.ingest.parse.display import parse_landed
    from tiktok_pipeline.ingest.polling.plan import WindowPlan
    from tiktok_pipeline.sources.display_api.client import ApiCall, DisplayApiClient, TikTokApiError, simulator_code
    from tiktok_pipeline.sources.display_api.tokens import TokenStore
    from tiktok_pipeline.sources.http import SIMULATOR_HOOKS, RetryPolicy, SlidingWindowLimiter
    from tiktok_pipeline.windows import WINDOW

    limit, seconds = p["limit"], p["seconds"]
    config = world_config(p["videos"])
    observed_at = AFTER + WINDOW
    frame = tracked_videos(config, p["videos"], observed_at)
    by_creator: dict[str, list[str]] = {}
    for creator, video_id in frame.select("creator_username", "video_id").iter_rows():
        by_creator.setdefault(creator, []).append(video_id)
    creators = sorted(by_creator)
    random.Random(p["seed"]).shuffle(creators)
    wanted = limit * seconds / 60 * 1.1 + 100  # requests: more work than the limiter lets through
    chosen, planned = [], 0
    for creator in creators:
        if planned >= wanted:
            break
        chosen.append(creator)
        planned += math.ceil(len(by_creator[creator]) / VIDEOS_PER_REQUEST)
    if planned < wanted:
        raise RuntimeError(f"only {planned} requests of work in a world of {p['videos']} videos; {wanted:.0f} wanted")

    class DeadlineLimiter(SlidingWindowLimiter):
        """The project's limiter; it stops the run instead of waiting past the measured minutes."""

        deadline = math.inf

        def acquire(self, key: str) -> float:
            if time.monotonic() + self.wait_time(key) >= self.deadline:
                raise _Deadline
            return super().acquire(key)

    class TimedClient(DisplayApiClient):
        """The project's client, noting each call (retries included) and when it completed."""

        done: list[tuple[float, ApiCall]] = []

        def call(self, *args: Any, **kwargs: Any) -> ApiCall:
            try:
                call = super().call(*args, **kwargs)
            except TikTokApiError as exc:
                if exc.call is not None:
                    self.done.append((time.monotonic(), exc.call))
                raise
            self.done.append((time.monotonic(), call))
            return call

    server = subprocess.Popen(
        [sys.executable, str(HERE / "production_server.py"), json.dumps(config.model_dump())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    limiter = DeadlineLimiter(limit)
    try:
        base_url = server.stdout.readline().strip()
        with (
            tempfile.TemporaryDirectory() as work,
            TimedClient(
                base_url,
                client_key="sim-client",
                client_secret=SecretStr("sim-secret"),
                token_store=TokenStore(Path(work) / "tokens.json"),
                limiter=limiter,
                retry=RetryPolicy(max_attempts=5),
                request_hooks=SIMULATOR_HOOKS,
                unattended_code=simulator_code,
            ) as client,
        ):
            for creator in chosen:  # OAuth first (not rate limited): creators authorise once, not per window
                client.access_token(creator)
            began = time.monotonic()
            limiter.deadline = began + seconds
            try:
                for creator in chosen:
                    plan = WindowPlan(videos={creator: by_creator[creator]}, budget=10**9)
                    collect_window(client, [creator], AFTER, observed_at, timedelta(days=7), plan)
            except _Deadline:
                pass
            finished = time.monotonic()
            stats = dict(client.stats)
    finally:
        server.stdin.close()
        tail = server.stdout.read()
        server.wait(timeout=30)
    server_report = json.loads(tail.strip().splitlines()[-1]) if tail.strip() else {}
    window = {"window_start": AFTER.isoformat(), "observed_at": observed_at.isoformat()}
    records = [{**window, **call.to_record()} for _, call in TimedClient.done]  # what collect_window lands
    requested = [i for _, call in TimedClient.done for i in (call.body or {}).get("filters", {}).get("video_ids", [])]
    parsed = parse_landed(records, "benchmark", asset="raw_video_snapshots")
    observed = Counter(parsed.videos["video_id"].to_list())
    timeline = [(t - began, call) for t, call in TimedClient.done]
    # The limiter lets a minute's quota out as fast as the server answers, then waits for the window to
    # slide: count whole minutes only, skipping the first one when there are at least two.
    minutes = max(1, int(seconds // 60))
    steady_from, steady_to = (60.0 if minutes >= 2 else 0.0), 60.0 * minutes

    def span(lo: float, hi: float) -> dict[str, float]:
        inside = [call for t, call in timeline if lo <= t < hi]
        per = (hi - lo) / 60
        videos = sum(
            len(c.payload.get("data", {}).get("videos", []))
            for c in inside
            if isinstance(c.payload, dict) and not c.error
        )
        return {
            "seconds": hi - lo,
            "videos_per_minute": videos / per,
            "requests_per_minute": sum(len(c.attempt_statuses) for c in inside) / per,
            "throttled": sum(c.attempt_statuses.count(429) for c in inside),
        }

    buckets = Counter(int(t // 10) * 10 for t, call in timeline for s in call.attempt_statuses if s == 429)
    bursts = [[t for t, _ in timeline if 60 * m <= t < 60 * (m + 1)] for m in range(minutes)]
    return {
        "limit": limit,
        "seconds": seconds,
        "steady": span(steady_from, steady_to),
        "whole": span(0.0, steady_to),
        "requested": len(requested),
        "requested_distinct": len(set(requested)),
        "observed_distinct": len(observed),
        "observed_twice": sum(1 for n in observed.values() if n > 1),
        "missing": len(set(requested) - set(observed)),
        "unexpected": len(set(observed) - set(requested)),
        "quarantined": parsed.quarantine.height,
        "failed_calls": parsed.failed_calls,
        "calls": len(timeline),
        "retries": stats.get("retries", 0),
        "throttled_total": stats.get("throttled", 0),
        "throttled_per_10s": dict(sorted(buckets.items())),
        "server_throttled": server_report.get("stats", {}).get("throttled", 0),
        "server_rss_mb": server_report.get("rss_mb"),  # its VmHWM
        "ran_seconds": finished - began,
        "latency_ms_p50": statistics.median(r["latency_ms"] for r in records) if records else None,
        "quota_sent_in_seconds": max((b[-1] - b[0] for b in bursts if b), default=None),
    }


CHILDREN = {
    "prepare": child_prepare,
    "processing": child_processing,
    "functions": child_functions,
    "backfill": child_backfill,
    "polling": child_polling,
}


# --- parent --------------------------------------------------------------------------------------
def run_child(
    name: str, code: Path = ROOT, *, python: str | None = None, script: Path | None = None, **params: Any
) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter (``python``, default this one; ``script``'s children, default
    this file's) on the project at ``code`` (default: this checkout); its RESULT line (with peak RSS) as a dict."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    env.pop("DAGSTER_EVENT_BATCH_SIZE", None)  # only what the measured code itself sets
    done = subprocess.run(
        [python or sys.executable, str(script or Path(__file__).resolve()), "--child", name, json.dumps(params)],
        capture_output=True,
        text=True,
        cwd=code,
        env=env,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(f"measurement {name} {params} failed:\n{done.stdout[-2000:]}\n{done.stderr[-5000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    ram_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("dagster", "duckdb", "polars", "pyarrow", "pandera", "httpx")
    )
    return (
        f"{cpu}, {os.cpu_count()} cores, {ram_kb / 1024**2:.0f} GiB RAM, Linux {platform.release()}; "
        f"Python {platform.python_version()}; {versions}"
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def compare_backfills(single: Path, per_window: Path) -> str:
    """Whether one run and one run per window wrote identical derived tables."""
    import duckdb
    import polars as pl

    def read(path: Path, table: str) -> pl.DataFrame:
        with duckdb.connect(str(path / "warehouse.duckdb"), read_only=True) as con:
            return pl.from_arrow(con.sql(f"SELECT * FROM {table}").to_arrow_table()).sort("window_start", "video_id")

    same = all(read(single, t).equals(read(per_window, t)) for t in SELECT)
    return "identical" if same else "DIFFERENT"


def _pg_database(name: str, create: bool) -> None:
    import psycopg2

    pg = _pg_server()
    connection = psycopg2.connect(
        host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"], dbname="postgres"
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"' if create else f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    connection.close()


def one_run_backfills(args: argparse.Namespace) -> None:
    """``--only one-run-backfill``: the day as one run, in-process and launched, per event log and code, alternating."""
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="tiktok-bench-"))
    print(f"machine: {machine()}\nwork files: {work}; load average at start {os.getloadavg()[0]:.2f}", flush=True)
    built = run_child(
        "prepare", dir=str(work / "data"), videos=10_000, history_rows=args.history_rows, derived=False, current=False
    )
    print(f"[prepare backfill] {built['history_rows']:,} raw rows over 288 windows", flush=True)
    codes = {"after": ROOT, **({"before": Path(args.before).resolve()} if args.before else {})}
    try:
        for round_ in range(args.rounds):
            for event_log in args.event_log.split(","):
                for label, code in codes.items():
                    for how in ("single", "single-launched"):
                        pg = f"tiktok_bench_{os.getpid()}_{round_}_{label}_{how}".replace("-", "_")
                        if event_log == "postgres":
                            _pg_database(pg, create=True)
                        try:
                            load = os.getloadavg()[0]
                            got = run_child(
                                "backfill",
                                code=code,
                                dir=str(work / "data"),
                                work=str(work / f"{round_}-{label}-{event_log}-{how}"),
                                how=how,
                                windows=288,
                                pg=pg if event_log == "postgres" else None,
                            )
                        finally:
                            if event_log == "postgres":
                                _pg_database(pg, create=False)
                        steps = "; steps " + ", ".join(f"{k} {v:.1f} s" for k, v in got.get("steps", {}).items())
                        if "timeline" in got:  # launched: seconds after the run's creation began
                            steps = "; at s: " + ", ".join(f"{k} {v:.1f}" for k, v in got["timeline"].items())
                        print(
                            f"[round {round_ + 1}] {label:6} {event_log:8} {how:15} {got['walls'][0]:6.1f} s"
                            f" (load {load:.1f}){steps}; stored "
                            + ", ".join(f"{n} {k}" for k, n in got["stored"].items() if n > 10),
                            flush=True,
                        )
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print(f"load average at end {os.getloadavg()[0]:.2f}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer repeats and samples, 1-minute polling at the default limit only"
    )
    parser.add_argument("--full", action="store_true", help="launch all 288 per-window runs, not a sample (slow)")
    parser.add_argument("--history-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--poll-limits",
        help="client limiter settings to measure, e.g. 590,540,600 (default: the settings default, 590, and 540)",
    )
    parser.add_argument(
        "--poll-seconds", type=int, help="length of each polling run, whole minutes (default 180; 60 with --quick)"
    )
    parser.add_argument("--skip", default="", help="comma-separated: processing,backfill,polling")
    parser.add_argument("--workdir", help="keep the warehouses here instead of a temporary folder")
    parser.add_argument(
        "--only",
        choices=["one-run-backfill"],
        help="only the one-day backfill as one run (in-process and launched), for each --event-log and --before",
    )
    parser.add_argument(
        "--event-log", default="sqlite", help="with --only: sqlite, postgres or sqlite,postgres (a fresh database)"
    )
    parser.add_argument(
        "--before", help="with --only: a checkout of older code, measured alternately with this one (side by side)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="with --only: rounds of the alternation")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("params", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _emit(CHILDREN[args.child](json.loads(args.params)))
        return

    if args.only:
        one_run_backfills(args)
        return
    skip = set(filter(None, args.skip.split(",")))
    repeats = 2 if args.quick else 3
    sample = 3 if args.quick else 12
    inprocess_windows = 48 if args.quick else 288
    limits = (
        [int(x) for x in args.poll_limits.split(",")]
        if args.poll_limits
        else ([default_limit()] if args.quick else [default_limit(), 540])
    )
    poll_seconds = 60 * max(1, math.ceil((args.poll_seconds or (60 if args.quick else 180)) / 60))  # whole minutes
    polls = [(limit, poll_seconds) for limit in limits]
    load_before = os.getloadavg()
    began = time.perf_counter()
    rows: list[tuple[str, str, str, str, str]] = []  # figure, value, peak RSS, target, verdict
    notes: list[str] = []
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="tiktok-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}", flush=True)
    print(f"work files: {work}; load average at start {load_before[0]:.2f}", flush=True)
    try:
        if "processing" not in skip:
            for videos in (10_000, 100_000):
                directory = work / f"processing-{videos}"
                built = run_child(
                    "prepare",
                    dir=str(directory),
                    videos=videos,
                    history_rows=args.history_rows,
                    derived=True,
                    current=True,
                )
                print(
                    f"[prepare {videos:,}] {built['history_rows']:,} history rows (each video every {built['every']} windows"
                    f" over a day) + {built['window_rows']:,} in the window; counts = World.counts on"
                    f" {built['counts_checked'][0]}/{built['counts_checked'][1]} sampled rows; {built['seconds']:.1f} s,"
                    f" peak {built['rss_mb']:.0f} MB",
                    flush=True,
                )
                proc = run_child(
                    "processing", dir=str(directory), work=str(work / f"processing-{videos}-run"), repeats=repeats
                )
                best = min(proc["walls"])
                step_sums = [sum(s.values()) for s in proc["steps"]]
                steps_best = min(step_sums)
                fns = run_child("functions", dir=str(directory), repeats=repeats)
                pure = {k: min(v) for k, v in fns["timings"].items()}
                print(
                    f"[processing {videos:,}] materialize wall {', '.join(f'{w:.2f}' for w in proc['walls'])} s;"
                    f" steps {', '.join(f'{s:.2f}' for s in step_sums)} s"
                    f" ({', '.join(f'{k} {v:.2f}' for k, v in min(proc['steps'], key=lambda s: sum(s.values())).items())});"
                    f" rows {proc['rows']}",
                    flush=True,
                )
                print(
                    f"[functions {videos:,}] "
                    + "; ".join(f"{k} {v * 1000:.0f} ms" for k, v in pure.items())
                    + f"; history rows read {fns['history_rows']:,}",
                    flush=True,
                )
                window_rows = built["window_rows"]
                rows.append(
                    (
                        f"one window, {videos:,} videos: enriched + velocity steps (checks included), {built['history_rows'] / 1e6:.2f}M rows of history",
                        f"{steps_best:.2f} s ({window_rows / steps_best:,.0f} rows/s); whole in-process run {best:.2f} s,"
                        f" {min(proc['cpu']):.2f} CPU s",
                        f"{proc['rss_mb']:.0f} MB",
                        "< 1 s (100k)" if videos == 100_000 else "",
                        verdict(steps_best < 1.0) if videos == 100_000 else "",
                    )
                )
                pure_sum = pure["enrich_snapshots"] + pure["velocity_in_warehouse"]
                rows.append(
                    (
                        f"one window, {videos:,} videos: the functions alone (enrich_snapshots + velocity_in_warehouse)",
                        f"{pure_sum * 1000:.0f} ms ({window_rows / pure_sum:,.0f} rows/s); polling state {pure['compute_polling_state'] * 1000:.0f} ms;"
                        f" the Polars as-of join instead: {pure['compute_velocity'] * 1000:.0f} ms + {pure['read 24.5 h history'] * 1000:.0f} ms"
                        f" reading {fns['history_rows']:,} rows of history (same result: {fns['same_as_polars']})",
                        f"{fns['rss_mb']:.0f} MB",
                        "",
                        "",
                    )
                )

        if "backfill" not in skip:
            directory = work / "backfill-10000"
            built = run_child(
                "prepare",
                dir=str(directory),
                videos=10_000,
                history_rows=args.history_rows,
                derived=False,
                current=False,
            )
            rows_day = built["history_rows"]
            print(f"[prepare backfill] {rows_day:,} raw rows over 288 windows, {built['seconds']:.1f} s", flush=True)
            single = run_child("backfill", dir=str(directory), work=str(work / "bf-single"), how="single", windows=288)
            launched = run_child(
                "backfill",
                dir=str(directory),
                work=str(work / "bf-single-launched"),
                how="single-launched",
                windows=288,
            )
            one, one_in = launched["walls"][0], single["walls"][0]
            print(
                f"[backfill one run] launched {one:.1f} s; in-process {one_in:.1f} s (steps "
                + ", ".join(f"{k} {v:.1f} s" for k, v in single["steps"].items())
                + f"); {single['stored_events']:,} events stored for the run ("
                + ", ".join(f"{n:,} {k}" for k, n in sorted(single["events"].items(), key=lambda kv: -kv[1])[:3])
                + ")",
                flush=True,
            )
            sample = 288 if args.full else sample
            per_launched = run_child(
                "backfill",
                dir=str(directory),
                work=str(work / "bf-per-launched"),
                how="per-window-launched",
                windows=sample,
            )
            per_mean = statistics.mean(per_launched["walls"])
            per_day = per_mean * 288 if sample < 288 else sum(per_launched["walls"])
            print(
                f"[backfill per window, launched] {sample} runs: "
                + ", ".join(f"{w:.1f}" for w in per_launched["walls"])
                + f" s (mean {per_mean:.2f} s)",
                flush=True,
            )
            per_in = run_child(
                "backfill",
                dir=str(directory),
                work=str(work / "bf-per-inprocess"),
                how="per-window",
                windows=inprocess_windows,
            )
            per_in_mean = statistics.mean(per_in["walls"])
            per_in_day = per_in_mean * 288 if inprocess_windows < 288 else sum(per_in["walls"])
            print(
                f"[backfill per window, in-process] {inprocess_windows} runs, mean {per_in_mean:.2f} s,"
                f" min {min(per_in['walls']):.2f}, max {max(per_in['walls']):.2f}",
                flush=True,
            )
            if inprocess_windows == 288:
                same = compare_backfills(Path(single["dir"]), Path(per_in["dir"]))
                notes.append(
                    f"The one-run backfill and the 288 in-process per-window runs wrote {same} enriched_video_metrics and video_velocity tables."
                )
            ratio = per_day / one
            extrapolated = "" if sample == 288 else f", {sample} runs measured, × 288"
            rows.append(
                (
                    f"one-day backfill (288 windows, {rows_day:,} rows) of enriched + velocity, 10,000 videos, as ONE run",
                    f"{one:.1f} s launched ({one_in:.1f} s in-process)",
                    f"{launched['largest_process_mb']:.0f} MB largest process ({single['rss_mb']:.0f} MB in-process)",
                    "< 30 s",
                    verdict(one < 30),
                )
            )
            rows.append(
                (
                    "same backfill as one launched run per window (run worker + step processes, as the daemon launches them)",
                    f"{per_day:,.0f} s = {per_day / 60:.0f} min ({per_mean:.1f} s a run{extrapolated}): one run is {ratio:.0f}× faster",
                    f"{per_launched['largest_process_mb']:.0f} MB largest process",
                    "≥ 20×",
                    verdict(ratio >= 20),
                )
            )
            rows.append(
                (
                    "same backfill as one in-process run per window (no process start: a lower bound)",
                    f"{per_in_day:,.0f} s ({per_in_mean:.2f} s a run"
                    + ("" if inprocess_windows == 288 else f", {inprocess_windows} runs measured, × 288")
                    + f"): one in-process run is {per_in_day / one_in:.0f}× faster",
                    f"{per_in['rss_mb']:.0f} MB",
                    "",
                    "",
                )
            )

        if "polling" not in skip:
            for limit, seconds in polls:
                poll = run_child("polling", limit=limit, seconds=seconds, videos=100_000, seed=limit)
                steady = poll["steady"]
                share = steady["videos_per_minute"] / (CEILING_REQUESTS_PER_MINUTE * VIDEOS_PER_REQUEST)
                lost = (
                    poll["missing"]
                    + poll["observed_twice"]
                    + poll["unexpected"]
                    + poll["quarantined"]
                    + poll["failed_calls"]
                    + poll["requested"]
                    - poll["requested_distinct"]
                )
                print(f"[polling {limit}/min] {json.dumps(poll)}", flush=True)
                storm = max(poll["throttled_per_10s"].values(), default=0)
                fill = (
                    steady["videos_per_minute"] / steady["requests_per_minute"]
                    if steady["requests_per_minute"]
                    else 0.0
                )
                minutes = seconds // 60
                measured = (
                    "a 1-minute run"
                    if minutes < 2
                    else "minute 2 of a 2-minute run"
                    if minutes == 2
                    else f"minutes 2–{minutes} of a {minutes}-minute run"
                )
                rows.append(
                    (
                        f"polling (video/query refresh, served simulator), client limiter {limit}/min"
                        f" ({'the default' if limit == default_limit() else 'a setting'}, {limit / CEILING_REQUESTS_PER_MINUTE:.0%} of 600), {measured}",
                        f"{steady['videos_per_minute']:,.0f} videos/min = {share:.1%} of 12,000"
                        f" ({steady['requests_per_minute']:.0f} requests/min = {steady['requests_per_minute'] / CEILING_REQUESTS_PER_MINUTE:.1%} of 600,"
                        f" {fill:.1f} ids a request); {poll['requested']:,} videos requested, {poll['observed_distinct']:,} observed once,"
                        f" {lost} lost or duplicated; {poll['throttled_total']} × 429 (at most {storm} in any 10 s), {poll['retries']} retries;"
                        f" each minute's quota went out within {poll['quota_sent_in_seconds']:.1f} s",
                        f"{poll['rss_mb']:.0f} MB client, {poll['server_rss_mb'] or 0:.0f} MB server",
                        "≥ 90%, 0 lost",
                        verdict(share >= 0.9 and lost == 0),
                    )
                )
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)

    load_after = os.getloadavg()
    print()
    print(f"Machine: {machine()}")
    print(
        f"Load average {load_before[0]:.2f} at start, {load_after[0]:.2f} at end; timings are the best of "
        f"{repeats} repeats where repeated; {time.perf_counter() - began:.0f} s in all."
    )
    print()
    print("| figure | measured | peak RSS | target | |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    for note in notes:
        print(f"\n- {note}")


if __name__ == "__main__":
    main()
