"""Benchmark: what one window costs in the pipeline's steps against the same result in plain DuckDB SQL (issue 13).

Prints (it asserts nothing on time), for one 5-minute window in which every tracked video (10k, then 100k) was
observed, on a warehouse already holding a day of history (``production_data.build_warehouse``: about a million
snapshot rows, enriched metrics and velocity included):

(a) the step: the functions the ``enriched_and_velocity`` multi-asset (``enriched_video_metrics`` and
    ``video_velocity``) calls, in its order, on one connection: the registry load (in a thread, beside the
    connection's opening), ``enrich_windows``, ``write_enriched_and_velocity`` (both tables' windows replaced in one
    transaction, velocity computed inside it, the step's wait for the warehouse added to poll_telemetry's row) with
    the enriched checks in a thread beside it, the polling state's reads, then the state finished (from the window's
    rows in memory) and written in the thread, after the velocity check, while the connection closes; timed part by
    part (a thread's part is what was left to wait for); the per-window figures (``governance.window_figures``) are
    timed too but reported apart (they are Dagster metadata);
(b) plain DuckDB: the same two tables' rows computed by SQL straight into the tables (the registry read by
    ``read_json``), in one transaction on one connection;

alternating (a) and (b) on two copies of the warehouse, best of ``--repeats`` (and the median of each pair's
ratio, less moved by load spikes); then checks that both wrote the same rows (a checksum over each table's rows
of the window), and prints the ratios and both breakdowns. Last, for
context, the same window through ``dg.materialize`` of the two assets in-process (best of ``--repeats``).

Also (a) with the checks in series (before the step ran them in a thread), alternating with the others.

Run: .venv/bin/python benchmarks/window_cost.py                  (about 6 minutes on 2 cores)
     .venv/bin/python benchmarks/window_cost.py --videos 10000   (one size)
Timings move with the machine's load: the script prints the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from production import AFTER, DAY, SELECT, _instance, _settings, machine  # noqa: E402
from production_data import build_warehouse  # noqa: E402

from tiktok_pipeline.windows import WINDOW, utc_naive  # noqa: E402

HORIZON = timedelta(days=7)
START, END = AFTER, AFTER + WINDOW

ENRICH_SQL = """
INSERT INTO enriched_video_metrics BY NAME
SELECT r.window_start, r.observed_at, r.video_id, r.source, r.creator_username, r.create_time,
       r.view_count, r.like_count, r.comment_count, r.share_count,
       CASE WHEN r.view_count > 0
            THEN (r.like_count + r.comment_count + r.share_count)::DOUBLE / r.view_count::DOUBLE END AS engagement_rate,
       (date_diff('microsecond', r.create_time, r.observed_at) // 1000000) * (1 / 60::DOUBLE) AS video_age_minutes,
       coalesce(g.campaign_ids, []::VARCHAR[]) AS campaign_ids,
       coalesce(g.product_skus, []::VARCHAR[]) AS product_skus,
       coalesce(g.audience_tags, []::VARCHAR[]) AS audience_tags
FROM raw_video_snapshots r
LEFT JOIN (SELECT c.username AS creator_username, c.campaign_ids, c.product_skus, c.audience_tags
           FROM (SELECT unnest(creators) AS c FROM read_json($registry))) g USING (creator_username)
WHERE r.window_start >= $start AND r.window_start < $end
"""

VELOCITY_SQL = """
INSERT INTO video_velocity BY NAME
WITH current AS (
    SELECT window_start, observed_at, video_id, source, creator_username, create_time, view_count, engagement_rate
    FROM enriched_video_metrics WHERE window_start >= $start AND window_start < $end),
first_target AS (SELECT min(observed_at) - $lookback AS target FROM current),
older AS (
    SELECT video_id, source, max(observed_at) AS baseline_observed_at,
           arg_max_null(view_count, observed_at) AS baseline_view_count,
           arg_max_null(engagement_rate, observed_at) AS baseline_engagement_rate
    FROM enriched_video_metrics
    WHERE observed_at >= $history_start AND observed_at < (SELECT target FROM first_target)
    GROUP BY video_id, source),
recent AS (
    SELECT video_id, source, observed_at, view_count, engagement_rate
    FROM enriched_video_metrics WHERE observed_at >= (SELECT target FROM first_target) AND observed_at < $end),
history AS (SELECT * FROM older UNION ALL SELECT * FROM recent),
joined AS (
    SELECT current.*, history.baseline_observed_at, history.baseline_view_count, history.baseline_engagement_rate,
           (date_diff('microsecond', history.baseline_observed_at, current.observed_at) // 1000000) * (1 / 60::DOUBLE)
               AS elapsed_minutes,
           (date_diff('microsecond', current.create_time, current.observed_at) // 1000000) * (1 / 60::DOUBLE) AS age_minutes
    FROM current ASOF LEFT JOIN history
      ON current.video_id = history.video_id AND current.source = history.source
     AND current.observed_at - $lookback >= history.baseline_observed_at)
SELECT window_start, observed_at, video_id, source, creator_username, view_count, baseline_observed_at,
       elapsed_minutes,
       view_count - baseline_view_count AS view_delta_30m,
       (view_count - baseline_view_count) / elapsed_minutes AS views_per_minute,
       engagement_rate,
       engagement_rate - baseline_engagement_rate AS engagement_rate_change_30m,
       ((view_count - baseline_view_count) / elapsed_minutes)
         / greatest(CASE WHEN age_minutes > 0 THEN view_count / age_minutes ELSE 0::DOUBLE END, 1::DOUBLE) AS momentum
FROM joined
"""


class Parts:
    """Wall seconds per named part of one run."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def connection(self) -> Iterator[None]:
        """Times the block as ``connect`` less the parts timed inside it (opening and closing the connection)."""
        inside = sum(self.seconds.values())
        began = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - began - (sum(self.seconds.values()) - inside)
            self.seconds["connect"] = self.seconds.get("connect", 0.0) + spent

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - began


class InSeries:
    """An executor that runs what it is given at once, in the caller's thread (the checks before issue 13's threads)."""

    def __enter__(self) -> InSeries:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        done: Future = Future()
        done.set_result(fn(*args))
        return done


def steps(directory: Path, beside: bool = True) -> Parts:
    """(a): what the ``enriched_and_velocity`` step does for the window, part by part (figures apart); ``beside``:
    the checks in a thread beside the warehouse work as the step runs them, else in series (the "submit" parts)."""
    from tiktok_pipeline.governance import window_figures as figures
    from tiktok_pipeline.ingest import registry as registry_module
    from tiktok_pipeline.ingest.polling.state import WindowRows, prepare_polling_state, read_fold, write_polling_state
    from tiktok_pipeline.ingest.registry import load_registry
    from tiktok_pipeline.metrics.enrichment import enrich_windows
    from tiktok_pipeline.metrics.process import write_enriched_and_velocity
    from tiktok_pipeline.quality.schemas import QualityPolicy, velocity_schema
    from tiktok_pipeline.quality.window_checks import enriched_by_window, schema_by_window
    from tiktok_pipeline.warehouse.io import connect
    from tiktok_pipeline.warehouse.waits import metering
    from tiktok_pipeline.windows import window_key

    registry_module._validated.cache_clear()  # each run's step is a fresh process: nothing cached
    policy = QualityPolicy()
    keys = [window_key(START)]
    warehouse = directory / "warehouse.duckdb"
    state_dir = directory / "polling_state"
    t = Parts()

    def refresh(finish: Callable[[], Any]) -> None:
        write_polling_state(finish(), state_dir)

    # enriched_and_velocity: one connection, both tables in one transaction, then the polling state; the checks in a
    # thread beside the warehouse work, as the step runs them (the parts named "waited for" are what is left of them)
    with ThreadPoolExecutor(1) if beside else InSeries() as checks:
        with t("registry load, submit"):
            registry_read = checks.submit(lambda: load_registry(directory / "tracking_registry.json").to_frame())
        with t.connection(), metering() as waited, connect(warehouse) as connection:
            with t("polling state: the fold's read, submit"):
                fold_read = checks.submit(read_fold, state_dir)
            with t("registry load, waited for"):
                registry = registry_read.result()
            with t("enrich_windows"):
                enriched = enrich_windows(connection, registry, START, END)
            with t("checks (enriched), submit"):
                enriched_checked = checks.submit(enriched_by_window, enriched, START, END, policy)
            with t("write both (velocity_in_warehouse inside)"):
                velocity = write_enriched_and_velocity(
                    connection,
                    START,
                    END,
                    enriched,
                    velocity=True,
                    waited=waited,
                    gate=lambda: all(o.passed for by in enriched_checked.result().values() for o in by.values()),
                )
            with t("checks (enriched), waited for"):
                enriched_checked.result()
            assert velocity is not None
            with t("checks (velocity), submit"):
                velocity_checked = checks.submit(
                    schema_by_window, "velocity_schema", velocity_schema, velocity, START, END, policy
                )
            with t("polling state: reads"):
                finish = prepare_polling_state(
                    connection,
                    HORIZON,
                    previous=fold_read.result(),
                    window_start=START,
                    rows=WindowRows(START, END, enriched, velocity),
                )
            with t("polling state: submit"):
                refreshed = checks.submit(refresh, finish)
            connection.close()  # as the step: its checkpoint while the state is finished beside it, under the lock
            with t("polling state: waited for"):
                refreshed.result()
        with t("checks (velocity), waited for"):
            velocity_checked.result()
    with t("figures"):
        figures.enriched_figures(enriched, keys)
        figures.velocity_figures(velocity, keys, AFTER + WINDOW)
    return t


def plain_sql(directory: Path) -> Parts:
    """(b): the same rows by SQL straight into the tables, one transaction, one connection."""
    import duckdb

    t = Parts()
    params: dict[str, Any] = {"start": utc_naive(START), "end": utc_naive(END)}
    with t("open"):
        connection = duckdb.connect(str(directory / "warehouse.duckdb"))
    try:
        with t("statements"):
            connection.execute("SET TimeZone = 'UTC'")
            connection.execute("BEGIN TRANSACTION")
            for table in ("enriched_video_metrics", "video_velocity"):
                connection.execute(f"DELETE FROM {table} WHERE window_start >= $start AND window_start < $end", params)
            connection.execute(ENRICH_SQL, {**params, "registry": str(directory / "tracking_registry.json")})
            connection.execute(
                VELOCITY_SQL,
                {
                    **params,
                    "lookback": timedelta(minutes=30),
                    "history_start": utc_naive(START - timedelta(hours=24.5)),
                },
            )
        with t("commit"):
            connection.execute("COMMIT")
    finally:
        with t("close"):
            connection.close()
    return t


def checksums(directory: Path) -> dict[str, tuple[int, int]]:
    """Row count and an order-free checksum of each result table's rows in the window."""
    import duckdb

    out = {}
    with duckdb.connect(str(directory / "warehouse.duckdb"), read_only=True) as connection:
        for table in ("enriched_video_metrics", "video_velocity"):
            columns = [r[0] for r in connection.execute(f"DESCRIBE {table}").fetchall()]
            row = connection.execute(
                f"SELECT count(*), sum(hash({', '.join(columns)})::HUGEINT) FROM {table}"
                " WHERE window_start >= ? AND window_start < ?",
                [utc_naive(START), utc_naive(END)],
            ).fetchone()
            assert row is not None
            out[table] = (int(row[0]), int(row[1] or 0))
    return out


def _core(parts: Parts) -> float:
    """A run's seconds less the per-window figures (Dagster metadata, not the step's work on the tables)."""
    return sum(parts.seconds.values()) - parts.seconds.get("figures", 0.0)


def _best(runs: list[Parts]) -> Parts:
    return min(runs, key=lambda p: sum(p.seconds.values()))


def _seed_polling_state(directory: Path) -> Path:
    """The polling state (and its fold) as the run of the day's last window wrote it, kept aside."""
    from tiktok_pipeline.ingest.polling.state import compute_polling_state, write_polling_state
    from tiktok_pipeline.warehouse.io import connect

    seed = directory / "polling_state_seed"
    with connect(directory / "warehouse.duckdb", read_only=True) as connection:
        write_polling_state(compute_polling_state(connection, HORIZON), seed)
    return seed


def _copy(source: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in ("warehouse.duckdb", "tracking_registry.json"):
        shutil.copy(source / name, target / name)
    return target


def measure(videos: int, history_rows: int, repeats: int, work: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """Build the warehouse, then (a) and (b) alternating, checksums, and dg.materialize for context."""
    import dagster as dg

    from tiktok_pipeline.definitions import build_definitions
    from tiktok_pipeline.windows import window_key

    built_dir = work / f"built-{videos}"
    began = time.perf_counter()
    built = build_warehouse(built_dir, videos, history_rows, DAY, derived_history=True, current_window=True)
    say(f"[{videos:,}] built {built.history_rows:,} rows of history in {time.perf_counter() - began:.0f} s")
    a_dir, b_dir, c_dir = (_copy(built_dir, work / f"{name}-{videos}") for name in ("steps", "sql", "materialize"))
    seed = _seed_polling_state(a_dir)
    a_runs, s_runs, b_runs = [], [], []
    for _ in range(repeats):
        for beside, runs in ((True, a_runs), (False, s_runs)):
            shutil.rmtree(a_dir / "polling_state", ignore_errors=True)
            shutil.copytree(seed, a_dir / "polling_state")  # as the previous window's run left it
            runs.append(steps(a_dir, beside))
        b_runs.append(plain_sql(b_dir))
    same = checksums(a_dir) == checksums(b_dir)
    defs = build_definitions(_settings(c_dir, work / f"home-{videos}"))
    walls = []
    with _instance(work / f"home-{videos}") as instance:
        for _ in range(repeats):
            began = time.perf_counter()
            result = dg.materialize(
                list(defs.assets),
                resources=dict(defs.resources),
                instance=instance,
                partition_key=window_key(AFTER),
                selection=SELECT,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
            walls.append(time.perf_counter() - began)
            assert result.success
    return {
        "videos": videos,
        "window_rows": built.window_rows,
        "history_rows": built.history_rows,
        "a": _best(a_runs),
        "series": _best(s_runs),
        "b": _best(b_runs),
        "paired": statistics.median(_core(a) / _core(b) for a, b in zip(a_runs, b_runs, strict=True)),
        "paired_series": statistics.median(_core(a) / _core(b) for a, b in zip(s_runs, b_runs, strict=True)),
        "same": same,
        "checksums": checksums(a_dir),
        "materialize": min(walls),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--history-rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, flush=True)

    say(f"machine: {machine()}")
    say(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = []
    with tempfile.TemporaryDirectory(prefix="window-cost-") as tmp:
        for videos in args.videos:
            r = measure(videos, args.history_rows, args.repeats, Path(tmp), say)
            results.append(r)
            a, b = sum(r["a"].seconds.values()), sum(r["b"].seconds.values())
            say(f"[{videos:,}] same rows in both: {r['same']} {r['checksums']}")
            for side, label in (("a", "(a)"), ("series", "(a) with the checks in series")):
                say(f"[{videos:,}] breakdown of {label}, best run:")
                for name, seconds in sorted(r[side].seconds.items(), key=lambda kv: -kv[1]):
                    say(f"    {name:<30} {seconds * 1000:8.1f} ms")
            say(f"[{videos:,}] breakdown of (b), best run:")
            for name, seconds in r["b"].seconds.items():
                say(f"    {name:<30} {seconds * 1000:8.1f} ms")
    say(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    say("")
    say(
        "| videos (window rows; history rows) | (a) steps | (a) without figures | (b) plain DuckDB | ratio"
        " | median of the paired ratios | (a) with the checks in series: without figures, ratio, paired"
        " | whole in-process run |"
    )
    say("|---|---|---|---|---|---|---|---|")
    for r in results:
        a = sum(r["a"].seconds.values())
        a_core = a - r["a"].seconds.get("figures", 0.0)
        b = sum(r["b"].seconds.values())
        series = _core(r["series"])
        say(
            f"| {r['videos']:,} ({r['window_rows']:,}; {r['history_rows']:,}) | {a:.3f} s | {a_core:.3f} s"
            f" | {b:.3f} s | {a_core / b:.2f}x ({'met' if a_core <= 1.5 * b else 'MISSED'}: target <= 1.5x)"
            f" | {r['paired']:.2f}x | {series:.3f} s, {series / b:.2f}x, {r['paired_series']:.2f}x"
            f" | {r['materialize']:.2f} s |"
        )


if __name__ == "__main__":
    main()
