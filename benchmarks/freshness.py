"""Freshness through the daemon: window close → velocity ready, and its breakdown (issue 13, "Freshness").

Starts ``dagster-daemon run`` on a fresh embedded instance configured like the project's ``dagster.yaml`` (SQLite,
QueuedRunCoordinator, every sensor at its default status, the offline simulator), lets it run until ``--windows``
live windows have velocity (or a deadline), stops it, and prints, over the live windows (the polling sensor's runs
with ``dagster/priority`` 10; the warm-up range is left out):

- close → velocity ready (``ready_seconds_after_close`` of video_velocity's materialisation): p50, p95, max;
- its breakdown from ``poll_telemetry``: close → run requested (the sensor's tick), requested → run started (queue
  and the run's process starting), started → raw landed (collection), landed → velocity ready (the two steps
  after it) and, within it, the steps' wait for the warehouse (``warehouse_wait_seconds``), each p50 and max.

``--with-load`` (issue 13: "live windows need priority over warm-up, backfill and ad runs"): after those windows,
the same daemon keeps competing runs queued or running, through the instance's run queue (``dagster job launch``):
a one-day backfill of ``window_pipeline_job`` (one run over 288 windows, each time an earlier day: collection, then
three steps on the warehouse) and a one-day range of ``ad_metrics_job``, for ``--windows`` more live windows. The
figures are printed for both phases side by side, and so is the wait of a probe that takes the warehouse lock as a
live window does (urgently) every 2 s: how long a live window's step would wait for the warehouse in each phase.

Usage: ``PYTHONPATH=$PWD .venv/bin/python benchmarks/freshness.py --windows 6 [--with-load]`` (about 5 minutes a
window: the windows are real 5-minute windows of the wall clock). Figures depend on the machine and its load; say
which.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.production import machine  # noqa: E402

LIVE_PRIORITY = "10"
LOAD_TAG = "tiktok/benchmark_load"
LOAD_JOBS = {"backfill": "window_pipeline_job", "ads": "ad_metrics_job"}


def _home(work: Path) -> Path:
    """DAGSTER_HOME with the project's dagster.yaml, its relative storage folders moved under ``work``."""
    home = work / "dagster_home"
    home.mkdir(parents=True)
    text = (ROOT / "dagster.yaml").read_text().replace("base_dir: data/dagster", f"base_dir: {work}/dagster")
    (home / "dagster.yaml").write_text(text)
    return home


def _env(work: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIKTOK_")}  # the embedded simulator
    env.update(
        DAGSTER_HOME=str(home),
        PYTHONPATH=str(ROOT),
        TIKTOK_WAREHOUSE_PATH=str(work / "warehouse.duckdb"),
        TIKTOK_LANDING_DIR=str(work / "landing"),
        TIKTOK_TOKEN_STORE_PATH=str(work / "tokens.json"),
        TIKTOK_POLLING_STATE_DIR=str(work / "polling_state"),
    )
    return env


def _live_windows(instance: Any) -> dict[str, Any]:
    """The live windows' run records by window key (the sensor's priority tag marks them)."""
    import dagster as dg

    records = instance.get_run_records(dg.RunsFilter(tags={"dagster/priority": LIVE_PRIORITY}))
    return {r.dagster_run.tags["dagster/partition"]: r for r in records if "dagster/partition" in r.dagster_run.tags}


def _ready(instance: Any) -> dict[str, float]:
    """``ready_seconds_after_close`` of each window's newest video_velocity materialisation."""
    import dagster as dg

    records = instance.fetch_materializations(dg.AssetKey("video_velocity"), limit=1000).records
    ready: dict[str, float] = {}
    for record in sorted(records, key=lambda r: r.storage_id):
        value = record.asset_materialization.metadata.get("ready_seconds_after_close")
        if record.partition_key and value is not None:
            ready[record.partition_key] = float(value.value)
    return ready


class Load:
    """Keeps one run of each of :data:`LOAD_JOBS` queued or running, each over a whole day (an earlier day each time)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.launching: dict[str, subprocess.Popen] = {}
        self.launched: list[str] = []
        self.day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    def keep(self, instance: Any) -> None:
        """Queue another run of each kind whose previous one has ended (``dagster job launch``: the run queue)."""
        import dagster as dg

        busy = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]
        busy.append(dg.DagsterRunStatus.STARTED)
        for kind, job in LOAD_JOBS.items():
            launching = self.launching.get(kind)
            if launching is not None and launching.poll() is None:
                continue
            if instance.get_runs(dg.RunsFilter(tags={LOAD_TAG: kind}, statuses=busy), limit=1):
                continue
            self.day -= timedelta(days=1)
            day = f"{self.day:%Y-%m-%d}"
            tags = {
                LOAD_TAG: kind,
                "dagster/asset_partition_range_start": f"{day}-00:00",
                "dagster/asset_partition_range_end": f"{day}-23:55",
            }
            dagster = Path(sys.executable).with_name("dagster")
            args = [str(dagster), "job", "launch", "-w", str(ROOT / "workspace.yaml"), "-j", job]
            with self.log.open("ab") as out:
                self.launching[kind] = subprocess.Popen(
                    [*args, "--tags", json.dumps(tags)], cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
                )
            self.launched.append(f"{datetime.now(UTC):%H:%M:%S} {kind} {day}")


class Probe(threading.Thread):
    """Takes the warehouse lock urgently, as a live window's step does, every 2 s; records how long it waited."""

    def __init__(self, warehouse: Path) -> None:
        super().__init__(daemon=True)
        self.warehouse, self.waits, self.phase = warehouse, {"without_load": [], "with_load": []}, "without_load"
        self.stopped = threading.Event()

    def run(self) -> None:
        from tiktok_pipeline.warehouse.lock import warehouse_lock

        while not self.stopped.wait(2):
            phase = self.phase
            with warehouse_lock(self.warehouse, timeout=900, purpose="freshness probe", urgent=True) as waited:
                self.waits[phase].append(waited)


def run_daemon(work: Path, windows: int, deadline: float, with_load: bool = False) -> dict[str, Any]:
    """Run the daemon until ``windows`` live windows have velocity (then, ``with_load``, ``windows`` more under load),
    or ``deadline`` (monotonic) passes; returns when the load started and what it launched."""
    import dagster as dg

    home = _home(work)
    env = _env(work, home)
    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.get():  # create the SQLite storages before the daemon and its code server race for it
        pass
    daemon = Path(sys.executable).with_name("dagster-daemon")
    log = (work / "daemon.log").open("wb")
    process = subprocess.Popen(
        [str(daemon), "run", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    load, load_from = Load(env, work / "load.log"), None
    probe = Probe(work / "warehouse.duckdb")
    probe.start()
    try:
        with dg.DagsterInstance.get() as instance:
            while time.monotonic() < deadline and process.poll() is None:
                done = set(_live_windows(instance)) & set(_ready(instance))
                loaded = [k for k in done if load_from is not None and _closes(k) > load_from]
                print(
                    f"{datetime.now(UTC):%H:%M:%S} live windows with velocity: {len(done)} ({len(loaded)} under load)",
                    flush=True,
                )
                if len(done) >= windows and (not with_load or len(loaded) >= windows):
                    break
                if with_load and len(done) >= windows:
                    if load_from is None:
                        load_from = datetime.now(UTC)
                        probe.phase = "with_load"
                    load.keep(instance)
                time.sleep(5)
            time.sleep(5)  # runs in flight finish writing their events
    finally:
        probe.stopped.set()
        for launching in load.launching.values():
            launching.wait(120)
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
        probe.join(60)
    return {"load_from": load_from, "launched": load.launched, "probe_waits": probe.waits}


def _closes(key: str) -> datetime:
    """When the window ``key`` (``YYYY-MM-DD-HH:MM``, its start) closes."""
    return datetime.strptime(key, "%Y-%m-%d-%H:%M").replace(tzinfo=UTC) + timedelta(minutes=5)


def _stats(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    if not values:
        return {}
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return {"p50": round(statistics.median(values), 2), "p95": round(p95, 2), "max": round(values[-1], 2)}


def figures(work: Path, keys_filter: Any = None) -> dict[str, Any]:
    """p50/p95/max of close → velocity ready over the live windows (those ``keys_filter`` keeps), and of each part."""
    import dagster as dg
    import duckdb

    os.environ["DAGSTER_HOME"] = str(work / "dagster_home")
    with dg.DagsterInstance.get() as instance:
        live, ready = _live_windows(instance), _ready(instance)
    with duckdb.connect(str(work / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT strftime(window_start, '%Y-%m-%d-%H:%M'), requested_seconds_after_close, queue_seconds, "
            "collect_seconds, landed_seconds_after_close, warehouse_wait_seconds FROM poll_telemetry"
        ).fetchall()
    telemetry = {row[0]: row[1:] for row in rows}
    keys = sorted(k for k in live if k in ready and k in telemetry and telemetry[k][0] is not None)
    keys = [k for k in keys if keys_filter is None or keys_filter(k)]
    parts: dict[str, list[float]] = {
        "requested": [],
        "queue": [],
        "collect": [],
        "steps_after_landing": [],
        "warehouse_wait": [],  # part of steps_after_landing: the steps' waits for the warehouse lock
    }
    for key in keys:
        requested, queue, collect, landed, waited = telemetry[key]
        parts["requested"].append(requested)
        parts["queue"].append(queue)
        parts["collect"].append(collect)
        parts["steps_after_landing"].append(ready[key] - landed)
        parts["warehouse_wait"].append(waited or 0.0)
    return {
        "live_windows": len(keys),
        "windows": keys,
        "close_to_velocity_ready_seconds": _stats([ready[k] for k in keys]),
        "breakdown_seconds": {name: _stats(values) for name, values in parts.items()},
        "per_window": {
            k: {
                "ready": round(ready[k], 2),
                **dict(zip(parts, telemetry[k][:3], strict=False)),
                "warehouse_wait": telemetry[k][4],
            }
            for k in keys
        },
    }


def load_runs(work: Path) -> list[dict[str, Any]]:
    """The load's runs: kind, status, start and end (UTC), so a reader sees what competed when."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(work / "dagster_home")
    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records(dg.RunsFilter(tags={LOAD_TAG: list(LOAD_JOBS)}))
    stamp = lambda t: f"{datetime.fromtimestamp(t, UTC):%H:%M:%S}" if t else None  # noqa: E731
    return [
        {
            "kind": r.dagster_run.tags[LOAD_TAG],
            "range": r.dagster_run.tags.get("dagster/asset_partition_range_start"),
            "status": r.dagster_run.status.value,
            "start": stamp(r.start_time),
            "end": stamp(r.end_time),
        }
        for r in sorted(records, key=lambda r: r.create_timestamp)
    ]


def main(argv: list[str] | None = None) -> None:
    """Run the daemon for a bounded number of windows and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=6, help="live windows to measure (about 5 minutes each)")
    parser.add_argument("--with-load", action="store_true", help="then as many windows with a backfill and ads runs")
    parser.add_argument(
        "--work", type=Path, default=None, help="folder for the instance and data (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="freshness-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}", flush=True)
    phases = 2 if args.with_load else 1
    loads = [os.getloadavg()]
    run = run_daemon(work, args.windows, time.monotonic() + phases * (args.windows + 2) * 300 + 120, args.with_load)
    loads.append(os.getloadavg())
    result: dict[str, Any] = {"machine": machine(), "load_average_start_end": loads}
    if not args.with_load:
        result.update(figures(work))
    else:
        load_from = run["load_from"]
        result["load_from"] = f"{load_from:%H:%M:%S}" if load_from else None
        result["without_load"] = figures(work, lambda k: load_from is None or _closes(k) <= load_from)
        result["with_load"] = figures(work, lambda k: load_from is not None and _closes(k) > load_from)
        result["load_runs"] = load_runs(work)
        result["probe_lock_wait_seconds"] = {phase: _stats(w) for phase, w in run["probe_waits"].items()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
