"""Benchmark: how long a live window waits for the warehouse while a one-day backfill runs (issue 13, "Freshness").

Builds the day of ``benchmarks/production.py --only one-run-backfill`` (10,000 videos, 876k raw rows over 288
windows; ``--videos`` to change), then runs the one-run backfill of the two derived steps (``enriched_and_velocity``
over the day, in-process ``dg.materialize`` in a child process, as ``production.py``'s "single") and, beside it, a
probe that takes the warehouse lock *urgently* (as a live window's step does) every ``--every`` seconds and lets it
go at once. Prints the probe's waits (count, p50, p95, max) and the backfill's wall time; asserts nothing on time.

The longest wait is the longest stretch the range step holds the warehouse without asking whether an urgent waiter
waits: its first write turn, which computes the range's velocity before writing (``defs/videos/process.py``), or a
turn's write and commit.

Run: PYTHONPATH=$PWD .venv/bin/python benchmarks/backfill_probe.py [--rounds 2] (about a minute a round)
Timings move with the machine's load: the script prints the load average; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.production import machine, run_child  # noqa: E402


def probe(warehouse: Path, every: float, stop: threading.Event, waits: list[float]) -> None:
    """Take the lock urgently every ``every`` seconds (once the warehouse exists) until ``stop``; record each wait."""
    from tiktok_pipeline.warehouse.lock import warehouse_lock

    while not stop.is_set():
        if warehouse.exists():
            with warehouse_lock(warehouse, timeout=600, purpose="the probe", urgent=True) as waited:
                waits.append(waited)
        stop.wait(every)


def one_round(data: Path, work: Path, every: float) -> dict[str, float]:
    """The backfill in a child process with the probe beside it: its wall seconds and the probe's waits."""
    params = {"dir": str(data), "work": str(work), "how": "single", "windows": 288, "pg": None}
    waits: list[float] = []
    stop = threading.Event()
    watcher = threading.Thread(target=probe, args=(work / "warehouse.duckdb", every, stop, waits), daemon=True)
    watcher.start()
    began = time.perf_counter()
    try:
        run_child("backfill", **params)  # production.py's child, in a fresh interpreter; raises if it fails
    finally:
        stop.set()
        watcher.join()
    ordered = sorted(waits)
    return {
        "wall": time.perf_counter() - began,
        "samples": len(ordered),
        "p50": statistics.median(ordered),
        "p95": ordered[int(0.95 * (len(ordered) - 1))],
        "max": ordered[-1],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--every", type=float, default=0.5, help="seconds between the probe's takes of the lock")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}\nload average at start {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="backfill-probe-") as tmp:
        data = Path(tmp) / "data"
        built = run_child(
            "prepare", dir=str(data), videos=args.videos, history_rows=1_000_000, derived=False, current=False
        )
        print(f"[prepare] {built['history_rows']:,} raw rows over 288 windows", flush=True)
        for round_ in range(args.rounds):
            work = Path(tmp) / f"round-{round_}"
            got = one_round(data, work, args.every)
            shutil.rmtree(work, ignore_errors=True)
            print(
                f"[round {round_ + 1}] backfill {got['wall']:.1f} s (load {os.getloadavg()[0]:.1f}); the probe's wait"
                f" over {got['samples']} takes: p50 {got['p50']:.3f} s, p95 {got['p95']:.3f} s, max {got['max']:.2f} s",
                flush=True,
            )
    print(f"load average at end {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
