"""Per-window polling telemetry, derived from the landed records (so a re-parse reproduces it), the freshness
breakdown of the run that collected the window (close → requested → started → landed, from Dagster's run record),
and how long the window's steps waited for the warehouse (:func:`stamp_warehouse_waits`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import duckdb
import polars as pl

from tiktok_pipeline.ingest.collect.display import ABNORMAL_STOPS, PAGINATION_STOPS
from tiktok_pipeline.ingest.polling.plan import WindowPlan
from tiktok_pipeline.warehouse.io import create_or_extend, table_exists
from tiktok_pipeline.warehouse.tables import POLL_TELEMETRY
from tiktok_pipeline.windows import WINDOW, utc_naive, window_key


@dataclass(frozen=True)
class RunTiming:
    """When a run was requested (its run record created: by the sensor's tick, a backfill, the UI or a shell) and
    when it started (its process began executing it; None while not started)."""

    requested_at: datetime
    started_at: datetime | None

    @classmethod
    def of_run(cls, instance: dg.DagsterInstance, run_id: str) -> RunTiming | None:
        """The timing of ``run_id`` from Dagster's run record (None without a record)."""
        record = instance.get_run_record_by_id(run_id)
        if record is None:
            return None
        started = datetime.fromtimestamp(record.start_time, UTC) if record.start_time else None
        return cls(requested_at=record.create_timestamp.astimezone(UTC), started_at=started)


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    return None if later is None or earlier is None else (later - earlier).total_seconds()


def freshness_breakdown(window_end: datetime, landed_at: datetime, run: RunTiming | None) -> dict[str, float | None]:
    """Close → run requested, requested → started (the queue and the run's process starting), started → landed
    (collection); all None without the timing of the run that collected the window (a re-parse has none)."""
    started = run.started_at if run else None
    return {
        "requested_seconds_after_close": _seconds(run.requested_at if run else None, window_end),
        "queue_seconds": _seconds(started, run.requested_at if run else None),
        "collect_seconds": _seconds(landed_at, started),
    }


def window_telemetry(
    window_start: datetime,
    records: list[dict[str, Any]],
    *,
    landed_at: datetime,
    videos_polled: int,
    plan: WindowPlan | None,
    gap_windows_before: int = 0,
    run: RunTiming | None = None,
    collected: bool = False,
) -> dict[str, Any]:
    """One ``poll_telemetry`` row for a window; ``run``: the timing of the run parsing it, which says how fresh the
    window was only if that run ``collected`` it (not for a window re-parsed from an earlier run's landing file)."""
    statuses = [s for r in records for s in (r.get("attempt_statuses") or [r.get("status") or "transport"])]
    latencies = pl.Series([float(r.get("latency_ms") or 0.0) for r in records], dtype=pl.Float64)
    failed_attempts = sum(1 for s in statuses if s != 200)
    stops = Counter(str(r["pagination_stop"]) for r in records if r.get("pagination_stop"))

    def percentile(q: float) -> float | None:
        value = None if latencies.is_empty() else latencies.quantile(q, "linear")
        return None if value is None else float(value)

    return {
        "window_start": utc_naive(window_start),
        "mode": "full" if plan is None else "planned",
        "requests": len(statuses),
        "videos_polled": videos_polled,
        "due_videos": None if plan is None else plan.due_videos,
        "deferred_videos": 0 if plan is None else plan.deferred_videos,
        "deferred_creators": 0 if plan is None else plan.deferred_creators,
        "budget": None if plan is None else plan.budget,
        "backoff": None if plan is None else plan.backoff,
        "retries": sum(max(0, len(r.get("attempt_statuses") or [None]) - 1) for r in records),
        "throttled": statuses.count(429),
        "server_errors": sum(1 for s in statuses if isinstance(s, int) and s >= 500),
        "timeouts": statuses.count("timeout"),
        "failed_calls": sum(1 for r in records if r.get("error")),
        "retry_budget_stops": sum(1 for r in records if r.get("gave_up") == "retry_budget"),
        **{f"pagination_stop_{reason}": stops[reason] for reason in PAGINATION_STOPS},
        "pagination_stops_abnormal": sum(stops[reason] for reason in ABNORMAL_STOPS),
        "error_rate": failed_attempts / len(statuses) if statuses else 0.0,
        "latency_p50_ms": percentile(0.5),
        "latency_p95_ms": percentile(0.95),
        "latency_p99_ms": percentile(0.99),
        "landed_seconds_after_close": (landed_at - (window_start + WINDOW)).total_seconds(),
        **freshness_breakdown(window_start + WINDOW, landed_at, run if collected else None),
        "gap_windows_before": gap_windows_before,
    }


def stamp_warehouse_waits(
    connection: duckdb.DuckDBPyConnection, start: datetime, end: datetime, seconds: float, *, raw: bool
) -> dict[str, float]:
    """Record in ``poll_telemetry``'s rows of ``[start, end)`` the ``seconds`` a step of their run waited for the
    warehouse (``warehouse.waits``), inside the caller's transaction; returns each window's total (by key).

    The raw snapshots step (``raw``) sets its own part and the total to it; the enriched/velocity step sets the
    total to the raw step's part plus its own (so re-running either step never counts a wait twice). Windows
    without a row (poll_telemetry not written yet) are left alone."""
    if not table_exists(connection, POLL_TELEMETRY.name):
        return {}
    create_or_extend(connection, POLL_TELEMETRY)  # a table from before these columns gains them
    assignment = (
        "raw_warehouse_wait_seconds = $seconds, warehouse_wait_seconds = $seconds"
        if raw
        else "warehouse_wait_seconds = coalesce(raw_warehouse_wait_seconds, 0) + $seconds"
    )
    span = "WHERE window_start >= $lo AND window_start < $hi"
    bounds = {"lo": utc_naive(start), "hi": utc_naive(end)}
    connection.execute(f"UPDATE {POLL_TELEMETRY.name} SET {assignment} {span}", {"seconds": seconds, **bounds})
    rows = connection.execute(  # not UPDATE … RETURNING: DuckLake does not support it
        f"SELECT window_start, warehouse_wait_seconds FROM {POLL_TELEMETRY.name} {span}", bounds
    ).fetchall()
    return {window_key(w.replace(tzinfo=UTC)): float(total) for w, total in rows}
