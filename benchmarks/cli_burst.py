"""Benchmark: a burst of window runs started together from a shell, on the production instance (PostgreSQL).

Issue 11, item 8: 20 `dagster asset materialize` runs started at once (README's command, the default multiprocess
executor, deploy/dagster.yaml on PostgreSQL) used to leave 2 failed (a UniqueViolation on the lazily created pool
row) and 18 unfinished after 15 minutes. This starts N such runs for N different windows against a fresh database
and one warehouse file, and prints how many succeeded, the time until the last one ended, and how many steps logged a
wait for the warehouse lock. It also runs the same N windows one after another for the ratio.

Run: .venv/bin/python benchmarks/cli_burst.py [--runs 20] [--sequential]   (PostgreSQL at TIKTOK_TEST_PG_HOST/_PORT/_USER,
default postgres@127.0.0.1:5432; a few minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
ASSETS = "raw_video_snapshots,raw_creator_snapshots,display_api_quarantine,poll_telemetry,enriched_video_metrics,video_velocity"
WAITED = re.compile(r"waiting up to \S+ s for the warehouse lock")


SERVER = {
    "host": os.environ.get("TIKTOK_TEST_PG_HOST", "127.0.0.1"),
    "port": os.environ.get("TIKTOK_TEST_PG_PORT", "5432"),
    "user": os.environ.get("TIKTOK_TEST_PG_USER", "postgres"),
    "password": os.environ.get("TIKTOK_TEST_PG_PASSWORD", ""),
}


def _admin(sql: str) -> None:
    connection = psycopg2.connect(**SERVER, dbname="postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(sql)
    connection.close()


def _database() -> tuple[dict[str, str], str]:
    """A fresh database, and the DAGSTER_PG_* variables of deploy/dagster.yaml that point at it."""
    name = f"tiktok_bench_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    env = {f"DAGSTER_PG_{key.upper()}": value for key, value in SERVER.items()}
    return {**env, "DAGSTER_PG_DB": name}, name


def _environment(work: Path, pg: dict[str, str]) -> dict[str, str]:
    home = work / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIKTOK_")}
    env.update(
        pg,
        DAGSTER_HOME=str(home),
        TIKTOK_WAREHOUSE_PATH=str(work / "warehouse.duckdb"),
        TIKTOK_LANDING_DIR=str(work / "landing"),
        TIKTOK_TOKEN_STORE_PATH=str(work / "tokens.json"),
        TIKTOK_POLLING_STATE_DIR=str(work / "polling_state"),
        TIKTOK_PARTITIONS_START="2026-11-20T00:00:00Z",
    )
    return env


def _run(windows: list[str], env: dict[str, str], logs: Path, *, together: bool) -> tuple[float, int, int]:
    """(seconds until the last run ended, runs that succeeded, steps that logged a wait for the warehouse lock)."""
    dagster = Path(sys.executable).with_name("dagster")
    started = time.monotonic()
    processes = []
    for i, window in enumerate(windows):
        log = (logs / f"run_{i}.log").open("wb")
        args = [str(dagster), "asset", "materialize", "-m", "tiktok_pipeline.definitions", "--select", ASSETS]
        process = subprocess.Popen(
            [*args, "--partition", window], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        if not together:
            process.wait()
        processes.append(process)
    succeeded = sum(process.wait() == 0 for process in processes)
    elapsed = time.monotonic() - started
    waits = sum(len(WAITED.findall(log.read_text(errors="replace"))) for log in logs.glob("run_*.log"))
    return elapsed, succeeded, waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--sequential", action="store_true", help="also run the windows one after another")
    args = parser.parse_args()
    windows = [f"2026-11-20-{10 + i // 12:02d}:{i % 12 * 5:02d}" for i in range(args.runs)]
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    modes = [("together", True)] + ([("one after another", False)] if args.sequential else [])
    for label, together in modes:
        pg, name = _database()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                logs = work / "logs"
                logs.mkdir()
                elapsed, succeeded, waits = _run(windows, _environment(work, pg), logs, together=together)
                unique = sum("UniqueViolation" in log.read_text(errors="replace") for log in logs.glob("*.log"))
        finally:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        print(
            f"{args.runs} runs {label}: {succeeded}/{args.runs} succeeded in {elapsed:.1f} s "
            f"({elapsed / args.runs:.1f} s a window); {waits} steps waited for the warehouse lock; "
            f"{unique} logs with a UniqueViolation"
        )


if __name__ == "__main__":
    main()
