"""Benchmark: Dagster's own floor under a one-day one-run backfill of the window step (issue 13).

The target "a one-day backfill of 10k videos under 15 s, launched" is measured by ``production.py --only
one-run-backfill``. This script measures what is left when the warehouse work is taken away: a partitioned
multi-asset with the ``enriched_and_velocity`` step's two assets, its three partitioned checks, its backfill policy
(one run) and its process-wide policies (event batching, cheap SQLite commits), yielding for each of the day's 288
windows what the real step yields (each window's figures as its own materialisation metadata, the top movers on the
newest window, one evaluation per check and window, targeting this run's materialisation), computed from a few
synthetic rows per window, and doing nothing else. The real step over the same day is measured beside it, in the
same processes' way, alternating:

- in-process: ``dg.materialize`` of the range (no process starts, the planned events written by the same process);
- launched: the run created (its planned events written) by this process, as the daemon does, then launched through
  the instance's run launcher: a run worker process, which runs the step itself (the in-process executor, the
  definitions' default since issue 13).

So ``floor`` is what Dagster costs for the events a one-day backfill stores (576 planned, 576 materialisations,
864 check evaluations) and the process it starts, on this machine, whatever the step computes, with the event log
class of ``dagster.yaml``; ``--dagster-event-log`` measures it on Dagster's own class beside it (most of what a
one-day backfill cost before issue 13's pooled event log: README "Performance").

Run: .venv/bin/python benchmarks/backfill_floor.py              (about 5 minutes on 2 cores)
     .venv/bin/python benchmarks/backfill_floor.py --rounds 1   (one pair of each)
     .venv/bin/python benchmarks/backfill_floor.py --dagster-event-log   (and the floor on Dagster's own event log class)
Timings move with the machine's load: the script prints the load average.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from tiktok_pipeline.defs.metadata import (  # noqa: E402
    check_specs,
    partition_range,
    report_windows,
    severities,
    window_check_events,
)
from tiktok_pipeline.defs.partitions import WINDOWS  # noqa: E402
from tiktok_pipeline.defs.videos.checks import BLOCKING, ENRICHED_CHECKS, VELOCITY_CHECKS  # noqa: E402
from tiktok_pipeline.governance import window_figures as figures  # noqa: E402
from tiktok_pipeline.governance.event_batching import enable_event_batching  # noqa: E402
from tiktok_pipeline.governance.sqlite_commits import install as cheap_sqlite_commits  # noqa: E402
from tiktok_pipeline.quality.checks import CheckOutcome  # noqa: E402
from tiktok_pipeline.windows import WINDOW, utc_naive, window_key, window_starts  # noqa: E402

ENRICHED, VELOCITY = "enriched_video_metrics", "video_velocity"
ROWS_PER_WINDOW = 20
"""Synthetic rows per window: enough for every figure (the top-movers table has its real 10 rows)."""
FLOOR_OP = "floor_step"


def _synthetic(start: datetime, end: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A few enriched and velocity rows per window, with the columns the figures read."""
    starts = [utc_naive(s) for s in window_starts(start, end)]
    n = len(starts) * ROWS_PER_WINDOW
    window = pl.Series("window_start", [s for s in starts for _ in range(ROWS_PER_WINDOW)], dtype=pl.Datetime("us"))
    video = pl.Series("video_id", [f"v{i % ROWS_PER_WINDOW}" for i in range(n)])
    shared = {"window_start": window, "video_id": video, "creator_username": pl.Series([f"c{i % 5}" for i in range(n)])}
    enriched = pl.DataFrame(
        {
            **shared,
            "campaign_ids": pl.Series([["cmp"] if i % 2 else [] for i in range(n)], dtype=pl.List(pl.String)),
            "engagement_rate": pl.Series([0.01 * (i % 7) for i in range(n)]),
        }
    )
    velocity = pl.DataFrame(
        {
            **shared,
            "view_count": pl.Series([1000 + i for i in range(n)]),
            "baseline_observed_at": window - WINDOW,
            "view_delta_30m": pl.Series([i % 97 for i in range(n)]),
            "views_per_minute": pl.Series([float(i % 97) / 30 for i in range(n)]),
            "momentum": pl.Series([float(i % 13) for i in range(n)]),
        }
    )
    return enriched, velocity


def _spec(name: str, deps: list[str]) -> dg.AssetSpec:
    return dg.AssetSpec(name, deps=deps, group_name="process")


@dg.multi_asset(
    specs=[_spec(ENRICHED, ["raw_video_snapshots"]), _spec(VELOCITY, [ENRICHED])],
    check_specs=[*check_specs(ENRICHED, ENRICHED_CHECKS, BLOCKING), *check_specs(VELOCITY, VELOCITY_CHECKS, BLOCKING)],
    name=FLOOR_OP,
    can_subset=True,
    partitions_def=WINDOWS,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def floor_step(context: dg.AssetExecutionContext):
    """What ``enriched_and_velocity`` yields for its windows, without its warehouse work (the floor under it)."""
    start, end = partition_range(context)
    keys = [window_key(s) for s in window_starts(start, end)]
    enriched, velocity = _synthetic(start, end)
    passed = CheckOutcome(passed=True, description="conforms")
    for asset, by_window, checks in (
        (ENRICHED, figures.enriched_figures(enriched, keys), ENRICHED_CHECKS),
        (VELOCITY, figures.velocity_figures(velocity, keys, datetime.now(UTC)), VELOCITY_CHECKS),
    ):
        report_windows(context, asset, by_window)
        yield dg.MaterializeResult(asset_key=asset, metadata=figures.range_totals(by_window))
        outcomes = {key: dict.fromkeys(checks, passed) for key in keys}
        yield from window_check_events(context, asset, outcomes, severities(checks))


enable_event_batching()
cheap_sqlite_commits()
defs = dg.Definitions(assets=[floor_step], executor=dg.in_process_executor)  # as tiktok_pipeline.definitions


# --- measuring -----------------------------------------------------------------------------------------------------
def _floor(work: Path, launched: bool) -> tuple[float, dict[str, int]]:
    """The floor's day as one run (launched or in-process) on a fresh SQLite instance under ``work``."""
    from production import _instance, _keys, _launched, _stored_by_kind

    keys = _keys(288)
    tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    if launched:
        (work / "data").mkdir(parents=True, exist_ok=True)
        walls, _, _ = _launched(work / "data", work, [tags], python_file=str(Path(__file__).resolve()), op=FLOOR_OP)
        wall = walls[0]
    else:
        with _instance(work) as instance:
            began = time.perf_counter()
            result = dg.materialize(
                [floor_step],
                instance=instance,
                tags=tags,
            )
            wall = time.perf_counter() - began
            assert result.success
    with _instance(work) as instance:
        return wall, _stored_by_kind(instance, instance.get_runs(limit=1)[0].run_id)


def child_floor(p: dict[str, Any]) -> dict[str, Any]:
    """One floor measurement in a fresh interpreter (``production.run_child``'s protocol)."""
    from production import DAGSTER_EVENT_LOG_CLASS, EVENT_LOG_CLASS_ENV

    if p.get("dagster_event_log"):
        os.environ[EVENT_LOG_CLASS_ENV] = DAGSTER_EVENT_LOG_CLASS
    wall, stored = _floor(Path(p["work"]), p["launched"])
    return {"walls": [wall], "stored": stored}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--history-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--dagster-event-log",
        action="store_true",
        help="also measure the floor on Dagster's own ConsolidatedSqliteEventLogStorage instead of dagster.yaml's class",
    )
    args = parser.parse_args(argv)
    whats = ("floor", "pipeline", *(("floor-dagster",) if args.dagster_event_log else ()))
    from production import machine, run_child

    print(f"machine: {machine()}\nload average at start {os.getloadavg()[0]:.2f}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="backfill-floor-"))
    try:
        run_child(
            "prepare",
            dir=str(work / "data"),
            videos=10_000,
            history_rows=args.history_rows,
            derived=False,
            current=False,
        )
        rows = []
        for round_ in range(args.rounds):
            for how in ("single", "single-launched"):
                for what in whats:
                    load = os.getloadavg()[0]
                    target = work / f"{round_}-{what}-{how}"
                    if what.startswith("floor"):
                        got = run_child(
                            "floor",
                            script=Path(__file__).resolve(),
                            work=str(target),
                            launched=how != "single",
                            dagster_event_log=what == "floor-dagster",
                        )
                    else:
                        got = run_child("backfill", dir=str(work / "data"), work=str(target), how=how, windows=288)
                    rows.append((round_ + 1, how, what, got["walls"][0], load, got["stored"]))
                    print(
                        f"[round {round_ + 1}] {how:15} {what:8} {got['walls'][0]:6.1f} s (load {load:.1f}); stored "
                        + ", ".join(f"{n} {k}" for k, n in got["stored"].items() if n > 10),
                        flush=True,
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average at end {os.getloadavg()[0]:.2f}\n")
    dagster_column = " | the floor on Dagster's own event log class" if args.dagster_event_log else ""
    print(
        "| one-day one-run backfill, 10,000 videos, SQLite | round | the pipeline's step | the floor (no warehouse work)"
        f"{dagster_column} |"
    )
    print("|---|---|---|---|" + ("---|" if dagster_column else ""))
    for round_ in range(1, args.rounds + 1):
        for how in ("single-launched", "single"):
            walls = {what: wall for r, h, what, wall, _, _ in rows if r == round_ and h == how}
            label = "launched" if how == "single-launched" else "in-process"
            cells = [f"{walls[what]:.1f} s" for what in ("pipeline", "floor", "floor-dagster") if what in walls]
            print(f"| {label} | {round_} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        import json

        print("RESULT " + json.dumps(child_floor(json.loads(sys.argv[3]))), flush=True)
    else:
        main()
