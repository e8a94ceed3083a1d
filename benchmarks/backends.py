"""Benchmark: the two warehouse backends side by side (issue 14), and what the DuckDB 1.5.5 pin costs.

Prints (it asserts nothing), every figure from a fresh process with its peak resident memory, the variants
alternated round by round so that the machine's load falls on all of them alike:

1. P1, one window of 100,000 videos (``enriched_video_metrics`` + ``video_velocity`` through ``dg.materialize``,
   checks included, on a day of history: about 1.0M snapshot rows) and P2, a one-day backfill of 10,000 videos
   (288 windows, about 0.88M rows) as ONE in-process run, each on
   - the DuckDB file with DuckDB 1.5.5 (the pinned version, this virtualenv),
   - a DuckLake (``ducklake:postgres:``: its catalog in a fresh PostgreSQL database per run, dropped after, cloned
     from one built beforehand with ``CREATE DATABASE ... TEMPLATE``; the Parquet files in a temporary folder),
   - the DuckDB file with DuckDB 2.0.1 (``--duckdb2-python``: a second virtualenv with the same lock but
     ``duckdb==2.0.1``, i.e. before the pin; the same code, which runs on it except for the lake);
   - with ``--execute-reads``, the file on 1.5.5 with ``io.read_frame``'s parametrised queries run through
     ``execute()`` (swapped in the measuring process only: what that change to the code would give);
   the rows each run wrote are compared (row count and a checksum of every column) across all of them;
2. throughput: N window runs (``dagster asset materialize`` of the two assets, one window each, the in-process
   executor as the window job uses, a Dagster instance on PostgreSQL as in deploy/) started at once on a DuckLake,
   against the same N windows one after another on the DuckDB file: windows per minute, commits re-run after a
   conflict, the rows compared; ``--state shared,per-run`` also runs the lake with a polling-state folder per run;
3. the load average, the machine and the versions.

The data are production.py's (production_data.build_warehouse: real simulator videos), written into the file and
the lake by the pipeline's own ``replace_windows``.

Run: .venv/bin/python benchmarks/backends.py --duckdb2-python /tmp/venv-duckdb2/bin/python    (about 13 min on 2 cores)
     .venv/bin/python benchmarks/backends.py --duckdb2-python ... --quick    (one round, 2 repeats)
The second virtualenv: python3 -m venv /tmp/venv-duckdb2 && /tmp/venv-duckdb2/bin/pip install --require-hashes
--no-deps -r requirements.lock && /tmp/venv-duckdb2/bin/pip install --no-deps duckdb==2.0.1 (run with PYTHONPATH=.).
PostgreSQL at TIKTOK_TEST_PG_HOST/_PORT/_USER/_PASSWORD (default postgres@127.0.0.1:5432, CREATE DATABASE allowed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from cli_burst import SERVER, _admin, _database  # noqa: E402
from production import (  # noqa: E402
    AFTER,
    DAY,
    SELECT,
    _copy,
    _emit,
    _peak_kb,
    child_backfill,
    child_processing,
    machine,
    run_child,
)

WINDOW = timedelta(minutes=5)
CONFLICTED = re.compile(r"write transaction conflicted with another writer")


# --- children (each in a fresh process) -----------------------------------------------------------------
def _lake_target(lake: dict[str, str]):
    from tiktok_pipeline.settings.warehouse import parse_target

    return parse_target(lake["url"], path=Path(), path_given=False, data_path=lake["data_path"])


def _digest(target: Any, start: datetime, end: datetime) -> dict[str, list[int]]:
    """Per table: [rows, checksum] of the rows with ``start <= window_start < end`` (floats rounded to 1e-9,
    row order ignored), computed in Polars so that two DuckDB versions give comparable figures."""
    import polars as pl

    from tiktok_pipeline.warehouse.io import connect, read_frame
    from tiktok_pipeline.windows import utc_naive

    out = {}
    with connect(target, read_only=True) as connection:
        for table in SELECT:
            frame = read_frame(
                connection,
                f'SELECT * FROM "{table}" WHERE window_start >= ? AND window_start < ?',
                [utc_naive(start), utc_naive(end)],
            )
            frame = frame.select(sorted(frame.columns)).with_columns(
                pl.col(pl.Float64).round(9), pl.col(pl.List(pl.String)).list.join("|")
            )
            out[table] = [frame.height, int((frame.hash_rows(seed=14) % 1_000_000_007).sum())]
    return out


def _where(p: dict[str, Any]) -> Any:
    """The warehouse a child measured: the lake, or the DuckDB file in ``dir``."""
    return _lake_target(p["lake"]) if p.get("lake") else Path(p["dir"]) / "warehouse.duckdb"


def child_prepare(p: dict[str, Any]) -> dict[str, Any]:
    """production.py's warehouse, written into the DuckDB file and (with ``lake``) into the lake too."""
    from production_data import build_warehouse

    began = time.perf_counter()
    built = build_warehouse(
        Path(p["dir"]),
        p["videos"],
        p["history_rows"],
        DAY,
        derived_history=p["derived"],
        current_window=p["current"],
        also=[_lake_target(p["lake"])] if p.get("lake") else (),
    )
    return {"seconds": time.perf_counter() - began, **built.__dict__}


def _read_frame_by_execute(connection: Any, sql: str, params: Any = None) -> Any:
    """``io.read_frame`` with the query run by ``execute()`` when it has parameters (see :func:`_execute_reads`)."""
    import polars as pl

    if params:
        return pl.from_arrow(connection.execute(sql, params).to_arrow_table())
    return pl.from_arrow(connection.sql(sql).to_arrow_table())


def _execute_reads(p: dict[str, Any]) -> None:
    """With ``execute_reads``: every ``io.read_frame`` in this process runs a query that has parameters through
    ``connection.execute(sql, params)`` instead of ``connection.sql(sql, params=...)``. Benchmark-only, to measure
    what that change would give: DuckDB 1.5.5 turns a parametrised ``sql()`` relation into Arrow about 40 times
    slower than ``execute()`` (2.0.1 does not). The function's code is swapped, so the modules that imported
    ``read_frame`` by name get it too."""
    if p.get("execute_reads"):
        from tiktok_pipeline.warehouse import io

        io.read_frame.__code__ = _read_frame_by_execute.__code__


def child_p1(p: dict[str, Any]) -> dict[str, Any]:
    """P1 (production.py's processing child) on one backend, then the digest of the window it wrote."""
    _execute_reads(p)
    out = child_processing(p)
    out["peak_mb"] = _peak_kb(os.getpid()) / 1024  # before reading the rows back
    out["digest"] = _digest(_where(p), AFTER, AFTER + WINDOW)
    return out


def child_p2(p: dict[str, Any]) -> dict[str, Any]:
    """P2 (production.py's one-run in-process backfill of the day) on one backend, then the day's digest."""
    _execute_reads(p)
    out = child_backfill({**p, "how": "single", "windows": 288})
    out["peak_mb"] = _peak_kb(os.getpid()) / 1024
    out["digest"] = _digest(_where({**p, "dir": out["dir"]}), DAY, AFTER)
    return out


def child_digest(p: dict[str, Any]) -> dict[str, Any]:
    """The digest of ``[start, end)`` in one warehouse."""
    return {"digest": _digest(_where(p), datetime.fromisoformat(p["start"]), datetime.fromisoformat(p["end"]))}


CHILDREN = {"prepare": child_prepare, "p1": child_p1, "p2": child_p2, "digest": child_digest}


# --- lakes: a catalog database per run, cloned from a built one -------------------------------------------
def _conninfo(database: str) -> str:
    password = f" password={SERVER['password']}" if SERVER["password"] else ""
    return f"host={SERVER['host']} port={SERVER['port']} user={SERVER['user']} dbname={database}{password}"


class Lakes:
    """Every catalog database this run creates (all dropped by :meth:`drop_all`)."""

    def __init__(self) -> None:
        self.created: list[str] = []

    def new(self, data_path: Path) -> dict[str, str]:
        """An empty lake: a fresh database, Parquet under ``data_path``."""
        name = f"tiktok_bench_{uuid.uuid4().hex[:10]}"
        _admin(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return {"db": name, "url": f"ducklake:postgres:{_conninfo(name)}", "data_path": str(data_path)}

    def clone(self, lake: dict[str, str]) -> dict[str, str]:
        """A copy of ``lake``'s catalog in a fresh database, on the same data folder (a run only adds files there:
        the copy sees the original's files, the original never sees the copy's)."""
        name = f"tiktok_bench_{uuid.uuid4().hex[:10]}"
        for attempt in range(40):  # the builder's sessions may take a moment to end after its process exits
            try:
                _admin(f'CREATE DATABASE "{name}" TEMPLATE "{lake["db"]}"')
                break
            except Exception as error:  # psycopg2.errors.ObjectInUse
                if "being accessed" not in str(error) or attempt == 39:
                    raise
                time.sleep(0.5)
        self.created.append(name)
        return {**lake, "db": name, "url": f"ducklake:postgres:{_conninfo(name)}"}

    def drop(self, lake: dict[str, str]) -> None:
        _admin(f'DROP DATABASE IF EXISTS "{lake["db"]}" WITH (FORCE)')
        self.created.remove(lake["db"])

    def drop_all(self) -> None:
        for name in list(self.created):
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


# --- parent -----------------------------------------------------------------------------------------------
def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def _variants(duckdb2: str | None, execute_reads: bool) -> list[tuple[str, str | None, bool, bool]]:
    """(label, python, on a lake, reads by execute())."""
    variants = [("file 1.5.5", None, False, False), ("lake 1.5.5", None, True, False)]
    variants += [("file 2.0.1", duckdb2, False, False)] if duckdb2 else []
    return variants + ([("file 1.5.5, reads by execute()", None, False, True)] if execute_reads else [])


def measure(
    kind: str,
    base_dir: Path,
    base_lake: dict[str, str],
    work: Path,
    lakes: Lakes,
    variants: list[tuple[str, str | None, bool, bool]],
    rounds: int,
    repeats: int,
) -> dict[str, list[dict[str, Any]]]:
    """``kind`` (p1 or p2) for every variant, ``rounds`` times, the order reversed every other round."""
    results: dict[str, list[dict[str, Any]]] = {label: [] for label, *_ in variants}
    for r in range(rounds):
        for i, (label, python, on_lake, execute_reads) in enumerate(variants if r % 2 == 0 else variants[::-1]):
            run = work / f"{kind}-{i}-{r}"
            lake = lakes.clone(base_lake) if on_lake else None
            try:
                directory = _copy(base_dir, run / "warehouse") if kind == "p1" else base_dir
                load = _load()
                result = run_child(
                    kind,
                    python=python,
                    script=Path(__file__).resolve(),
                    dir=str(directory),
                    work=str(run / "work"),
                    repeats=repeats,
                    lake=lake,
                    execute_reads=execute_reads,
                )
            finally:
                if lake is not None:
                    lakes.drop(lake)
            result["load"] = load
            results[label].append(result)
            walls = result["walls"]
            steps = [sum(s.values()) for s in result["steps"]] if kind == "p1" else [sum(result["steps"].values())]
            print(
                f"[{kind} {label}, round {r + 1}] load {load}; wall {', '.join(f'{w:.2f}' for w in walls)} s;"
                f" steps {', '.join(f'{s:.2f}' for s in steps)} s; peak {result['peak_mb']:.0f} MB;"
                f" rows {result['digest']}",
                flush=True,
            )
            shutil.rmtree(run, ignore_errors=True)
    return results


def _cli_env(home: Path, pg: dict[str, str], warehouse: dict[str, str], directory: Path, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIKTOK_")}
    env.update(pg)
    env.update(warehouse)
    env.update(
        DAGSTER_HOME=str(home),
        TIKTOK_REGISTRY_PATH=str(directory / "tracking_registry.json"),
        TIKTOK_LANDING_DIR=str(work / "landing"),
        TIKTOK_TOKEN_STORE_PATH=str(work / "tokens.json"),
        TIKTOK_POLLING_STATE_DIR=str(work / "polling_state"),
    )
    return env


def window_runs(
    keys: list[str], env: dict[str, str], logs: Path, *, together: bool, state_per_run: bool = False
) -> dict[str, Any]:
    """``dagster asset materialize`` of the two assets for each window (at once, or one after another); with
    ``state_per_run`` each run writes the polling state into a folder of its own."""
    dagster = Path(sys.executable).with_name("dagster")
    logs.mkdir(parents=True, exist_ok=True)
    # The instance's tables are created by the first process that opens it: done here, before the runs, or runs
    # started together race to create them (psycopg2 DuplicateObject "alembic_version"), which is not what is measured.
    subprocess.run(
        [sys.executable, "-c", "import dagster; dagster.DagsterInstance.get().dispose()"], env=env, check=True
    )
    began = time.monotonic()
    processes, outcomes = [], []
    for i, key in enumerate(keys):
        with (logs / f"run_{i}.log").open("wb") as log:
            args = [str(dagster), "asset", "materialize", "-m", "tiktok_pipeline.definitions"]
            args += ["--select", ",".join(SELECT), "--partition", key]  # one process a run: the default executor
            own = {"TIKTOK_POLLING_STATE_DIR": f"{env['TIKTOK_POLLING_STATE_DIR']}-{i}"} if state_per_run else {}
            processes.append(subprocess.Popen(args, cwd=ROOT, env={**env, **own}, stdout=log, stderr=subprocess.STDOUT))
        if not together:
            outcomes.append(os.wait4(processes[-1].pid, 0))
    if together:
        outcomes = [os.wait4(process.pid, 0) for process in processes]
    elapsed = time.monotonic() - began
    texts = [log.read_text(errors="replace") for log in sorted(logs.glob("run_*.log"))]
    return {
        "seconds": elapsed,
        "succeeded": sum(os.waitstatus_to_exitcode(status) == 0 for _, status, _ in outcomes),
        "conflicts": sum(len(CONFLICTED.findall(text)) for text in texts),
        "largest_mb": max(usage.ru_maxrss for _, _, usage in outcomes) / 1024,
        "lock_errors": sum("Could not set lock" in text for text in texts),
        "failures": sorted({line.strip()[:160] for text in texts for line in text.splitlines() if "Error:" in line}),
    }


def throughput(
    n: int, base_dir: Path, base_lake: dict[str, str], work: Path, lakes: Lakes, states: list[str]
) -> dict[str, Any]:
    """The last ``n`` windows of the day: at once on a lake (a clone; per ``states``, the polling state shared by
    the runs or one folder per run), one after another on a copy of the file."""
    from tiktok_pipeline.windows import window_key

    first = AFTER - n * WINDOW
    keys = [window_key(first + i * WINDOW) for i in range(n)]
    out: dict[str, Any] = {"windows": keys}
    modes = [("lake" if state == "shared" else f"lake, state {state}", True, state != "shared") for state in states]
    for label, together, state_per_run in [*modes, ("file", False, False)]:
        run = work / f"n{n}-{label.replace(' ', '').replace(',', '-')}"
        home = run / "dagster_home"
        home.mkdir(parents=True)
        shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
        pg, instance_db = _database()
        lake = lakes.clone(base_lake) if label.startswith("lake") else None
        directory = base_dir if lake else _copy(base_dir, run / "warehouse")
        warehouse = (
            {"TIKTOK_WAREHOUSE_URL": lake["url"], "TIKTOK_LAKE_DATA_PATH": lake["data_path"]}
            if lake
            else {"TIKTOK_WAREHOUSE_PATH": str(directory / "warehouse.duckdb")}
        )
        try:
            load = _load()
            env = _cli_env(home, pg, warehouse, directory, run)
            result = window_runs(keys, env, run / "logs", together=together, state_per_run=state_per_run)
            result["load"] = load
            result["digest"] = run_child(
                "digest",
                script=Path(__file__).resolve(),
                dir=str(directory),
                lake=lake,
                start=first.isoformat(),
                end=AFTER.isoformat(),
            )["digest"]
        finally:
            if lake is not None:
                lakes.drop(lake)
            _admin(f'DROP DATABASE IF EXISTS "{instance_db}" WITH (FORCE)')
        out[label] = result
        print(
            f"[throughput N={n} {label}{' at once' if together else ' in series'}] load {load};"
            f" {result['succeeded']}/{n} succeeded in {result['seconds']:.1f} s"
            f" = {n / result['seconds'] * 60:.1f} windows/min; {result['conflicts']} commits re-run after a conflict;"
            f" largest process {result['largest_mb']:.0f} MB; rows {result['digest']}; errors {result['failures']}",
            flush=True,
        )
        shutil.rmtree(run, ignore_errors=True)
    return out


def _best(results: list[dict[str, Any]], kind: str) -> tuple[float, float, float, str]:
    """(best wall, best steps, largest peak MB, the loads) over every round and repeat."""
    walls = [w for r in results for w in r["walls"]]
    if kind == "p1":
        steps = [sum(s.values()) for r in results for s in r["steps"]]
    else:
        steps = [sum(r["steps"].values()) for r in results]
    return min(walls), min(steps), max(r["peak_mb"] for r in results), "/".join(r["load"] for r in results)


def _same(results: dict[str, list[dict[str, Any]]]) -> str:
    digests = {json.dumps(r["digest"], sort_keys=True) for rs in results.values() for r in rs}
    return "identical rows in every run" if len(digests) == 1 else f"DIFFERENT rows: {sorted(digests)}"


def report(kind: str, label: str, results: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Markdown rows: one per variant, with its ratio to the file on 1.5.5."""
    base = _best(results["file 1.5.5"], kind)
    lines = []
    for variant, rs in results.items():
        wall, steps, peak, loads = _best(rs, kind)
        ratio = "" if variant == "file 1.5.5" else f"{wall / base[0]:.2f}× (steps {steps / base[1]:.2f}×)"
        lines.append(f"| {label} | {variant} | {wall:.2f} s | {steps:.2f} s | {ratio} | {peak:.0f} MB | {loads} |")
    return lines


def _prepare(directory: Path, lake: dict[str, str], videos: int, history_rows: int, *, derived: bool) -> dict[str, Any]:
    """Build the same warehouse into the DuckDB file in ``directory`` and into ``lake`` (with the derived day and
    the next window for P1, raw only for P2)."""
    return run_child(
        "prepare",
        script=Path(__file__).resolve(),
        dir=str(directory),
        videos=videos,
        history_rows=history_rows,
        derived=derived,
        current=derived,
        lake=lake,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duckdb2-python", help="a python whose environment has duckdb==2.0.1 (the pin's 'before')")
    parser.add_argument("--quick", action="store_true", help="one round, 2 repeats")
    parser.add_argument(
        "--execute-reads", action="store_true", help="also the file on 1.5.5 with read_frame's queries run by execute()"
    )
    parser.add_argument(
        "--state",
        default="shared",
        help="throughput on the lake with the polling state folder shared by the runs (as deployed), per run, or"
        " both: shared,per-run",
    )
    parser.add_argument("--rounds", type=int, help="alternated rounds of P1 and P2 (default 2; 1 with --quick)")
    parser.add_argument("--concurrency", default="2,4,8", help="N window runs at once (comma-separated)")
    parser.add_argument("--history-rows", type=int, default=1_000_000)
    parser.add_argument("--p1-videos", type=int, default=100_000)
    parser.add_argument("--p2-videos", type=int, default=10_000)
    parser.add_argument("--skip", default="", help="comma-separated: p1,p2,throughput")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("params", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _emit(CHILDREN[args.child](json.loads(args.params)))
        return

    skip = set(filter(None, args.skip.split(",")))
    rounds = args.rounds or (1 if args.quick else 2)
    repeats = 2 if args.quick else 3
    variants = _variants(args.duckdb2_python, args.execute_reads)
    began, load_before = time.perf_counter(), _load()
    print(f"machine: {machine()}", flush=True)
    if args.duckdb2_python:
        other = subprocess.run(
            [args.duckdb2_python, "-c", "import duckdb, polars; print(duckdb.__version__, polars.__version__)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        print(f"before the pin: {args.duckdb2_python}: duckdb {other[0]}, polars {other[1]}", flush=True)
    print(f"load average at start {load_before}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="tiktok-backends-"))
    lakes = Lakes()
    rows: list[str] = []
    throughputs: list[dict[str, Any]] = []
    try:
        p1_dir, p1_lake = work / "p1", lakes.new(work / "p1-lake-data")
        if "p1" not in skip or "throughput" not in skip:
            built = _prepare(p1_dir, p1_lake, args.p1_videos, args.history_rows, derived=True)
            print(
                f"[prepare P1] {built['history_rows']:,} rows of history + {built['window_rows']:,} in the window,"
                f" file and lake, {built['seconds']:.0f} s",
                flush=True,
            )
        if "p1" not in skip:
            p1 = measure("p1", p1_dir, p1_lake, work, lakes, variants, rounds, repeats)
            rows += report("p1", f"P1: one window of {args.p1_videos:,} videos", p1)
            rows.append(f"| | rows compared | {_same(p1)} | | | | |")
        if "throughput" not in skip:
            for n in [int(x) for x in args.concurrency.split(",")]:
                throughputs.append(throughput(n, p1_dir, p1_lake, work, lakes, args.state.split(",")))
        if "p2" not in skip:
            p2_dir, p2_lake = work / "p2", lakes.new(work / "p2-lake-data")
            built = _prepare(p2_dir, p2_lake, args.p2_videos, args.history_rows, derived=False)
            print(f"[prepare P2] {built['history_rows']:,} raw rows over 288 windows, {built['seconds']:.0f} s")
            p2 = measure("p2", p2_dir, p2_lake, work, lakes, variants, rounds, 1)
            rows += report("p2", f"P2: one-day backfill of {args.p2_videos:,} videos, one run", p2)
            rows.append(f"| | rows compared | {_same(p2)} | | | | |")
    finally:
        lakes.drop_all()
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"Machine: {machine()}")
    print(
        f"Load average {load_before} at start, {_load()} at end; {time.perf_counter() - began:.0f} s in all;"
        f" {rounds} round(s) alternated, best of {repeats} repeats a round for P1"
    )
    if rows:
        print()
        print("| figure | backend, DuckDB | wall (best) | steps (best) | / file 1.5.5 | peak memory | load per round |")
        print("|---|---|---|---|---|---|---|")
        print("\n".join(rows))
    if throughputs:
        print()
        print("| N windows | DuckLake, at once | DuckDB file, in series | lake / file | rows |")
        print("|---|---|---|---|---|")
        for t in throughputs:
            n, file = len(t["windows"]), t["file"]
            file_rate = n / file["seconds"] * 60
            for label in [k for k in t if k.startswith("lake")]:
                lake = t[label]
                rate = n / lake["seconds"] * 60
                print(
                    f"| {n} | {label}: {lake['succeeded']}/{n} ok, {lake['seconds']:.1f} s = {rate:.1f} windows/min,"
                    f" {lake['conflicts']} commits re-run, {lake['lock_errors']} lock errors,"
                    f" largest {lake['largest_mb']:.0f} MB, load {lake['load']} | {file['succeeded']}/{n} ok,"
                    f" {file['seconds']:.1f} s = {file_rate:.1f} windows/min, largest {file['largest_mb']:.0f} MB,"
                    f" load {file['load']} | {rate / file_rate:.2f}× |"
                    f" {'identical' if lake['digest'] == file['digest'] else 'DIFFERENT'} |"
                )


if __name__ == "__main__":
    main()
