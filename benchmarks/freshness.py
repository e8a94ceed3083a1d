"""Freshness through the daemon: window close → velocity ready, and its breakdown (issue 13, "Freshness").

Starts ``dagster-daemon run`` on a fresh embedded instance configured like the project's ``dagster.yaml`` (SQLite,
QueuedRunCoordinator, every sensor at its default status, the offline simulator), lets it run until ``--windows``
live windows have velocity (or a deadline), stops it, and prints, over the live windows (the polling sensor's runs
with ``dagster/priority`` 10; the warm-up range is left out):

- close → velocity ready (``ready_seconds_after_close`` of video_velocity's materialisation): p50, p95, max;
- its breakdown from ``poll_telemetry``: close → run requested (the sensor's tick), requested → run started (queue
  and the run's process starting), started → raw landed (collection), landed → velocity ready (the two steps
  after it), each p50 and max.

Usage: ``PYTHONPATH=$PWD .venv/bin/python benchmarks/freshness.py --windows 6`` (about 5 minutes a window: the
windows are real 5-minute windows of the wall clock). Figures depend on the machine and its load; say which.
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
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.production import machine  # noqa: E402

LIVE_PRIORITY = "10"


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


def run_daemon(work: Path, windows: int, deadline: float) -> None:
    """Run the daemon until ``windows`` live windows have velocity, or ``deadline`` (monotonic) passes."""
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
    try:
        with dg.DagsterInstance.get() as instance:
            while time.monotonic() < deadline and process.poll() is None:
                done = set(_live_windows(instance)) & set(_ready(instance))
                print(f"{datetime.now(UTC):%H:%M:%S} live windows with velocity: {len(done)}/{windows}", flush=True)
                if len(done) >= windows:
                    break
                time.sleep(20)
            time.sleep(5)  # runs in flight finish writing their events
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def _stats(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    if not values:
        return {}
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return {"p50": round(statistics.median(values), 2), "p95": round(p95, 2), "max": round(values[-1], 2)}


def figures(work: Path) -> dict[str, Any]:
    """p50/p95/max of close → velocity ready over the live windows, and of each part of it."""
    import dagster as dg
    import duckdb

    os.environ["DAGSTER_HOME"] = str(work / "dagster_home")
    with dg.DagsterInstance.get() as instance:
        live, ready = _live_windows(instance), _ready(instance)
    with duckdb.connect(str(work / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT strftime(window_start, '%Y-%m-%d-%H:%M'), requested_seconds_after_close, queue_seconds, "
            "collect_seconds, landed_seconds_after_close FROM poll_telemetry"
        ).fetchall()
    telemetry = {row[0]: row[1:] for row in rows}
    keys = sorted(k for k in live if k in ready and k in telemetry and telemetry[k][0] is not None)
    parts: dict[str, list[float]] = {"requested": [], "queue": [], "collect": [], "steps_after_landing": []}
    for key in keys:
        requested, queue, collect, landed = telemetry[key]
        parts["requested"].append(requested)
        parts["queue"].append(queue)
        parts["collect"].append(collect)
        parts["steps_after_landing"].append(ready[key] - landed)
    return {
        "live_windows": len(keys),
        "windows": keys,
        "close_to_velocity_ready_seconds": _stats([ready[k] for k in keys]),
        "breakdown_seconds": {name: _stats(values) for name, values in parts.items()},
        "per_window": {
            k: {"ready": round(ready[k], 2), **dict(zip(parts, telemetry[k][:3], strict=False))} for k in keys
        },
        "machine": machine(),
    }


def main(argv: list[str] | None = None) -> None:
    """Run the daemon for a bounded number of windows and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=6, help="live windows to measure (about 5 minutes each)")
    parser.add_argument(
        "--work", type=Path, default=None, help="folder for the instance and data (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="freshness-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}", flush=True)
    run_daemon(work, args.windows, time.monotonic() + (args.windows + 2) * 300 + 120)
    print(json.dumps(figures(work), indent=2))


if __name__ == "__main__":
    main()
