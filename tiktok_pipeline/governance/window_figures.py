"""Per-window figures of the video tables: what each window's materialisation reports (and the UI plots).

Each function returns ``{window key: {figure: value}}`` computed from that window's rows only, so a run
over many windows reports every window's own numbers. Range totals are separate and prefixed ``range_``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import polars as pl

from tiktok_pipeline.governance.markdown import markdown_table
from tiktok_pipeline.ingest.collect.display import PAGINATION_STOPS
from tiktok_pipeline.ingest.snapshots import ObservedRange
from tiktok_pipeline.metrics.velocity import top_movers
from tiktok_pipeline.windows import WINDOW, utc_naive, window_from_key, window_key

Figures = dict[str, dict[str, Any]]


class Markdown(str):
    """A figure shown as Markdown (a table) rather than as text."""


class Json:
    """A figure shown as JSON (a small mapping or list)."""

    def __init__(self, value: Any) -> None:
        self.value = value


REQUEST_FIGURES = (
    "requests",
    "retries",
    "throttled",
    "server_errors",
    "timeouts",
    "failed_calls",
    "retry_budget_stops",
    "pagination_stops_abnormal",
    "deferred_videos",
)
"""Request counters of a window, shown on raw_video_snapshots' materialisation too."""
FRESHNESS_FIGURES = ("requested_seconds_after_close", "queue_seconds", "collect_seconds")
"""Window close → run requested, → run started, → raw landed (:func:`tiktok_pipeline.governance.telemetry.freshness_breakdown`)."""
TELEMETRY_FIGURES = (
    *REQUEST_FIGURES,
    "videos_polled",
    *(f"pagination_stop_{reason}" for reason in PAGINATION_STOPS),
    "error_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "landed_seconds_after_close",
    *FRESHNESS_FIGURES,
)
"""poll_telemetry's figures of a window (its materialisation's metadata, plotted over time); the freshness
breakdown only where the run collected the window (a re-parse does not know it)."""


def by_window(frame: pl.DataFrame, keys: Iterable[str], column: str = "window_start") -> dict[str, pl.DataFrame]:
    """``frame``'s rows per window key of ``column`` (an empty frame for windows without rows)."""
    parts = {window_key(k[0]): part for k, part in frame.partition_by(column, as_dict=True).items()}
    return {key: parts.get(key, frame.clear()) for key in keys}


def raw_video_figures(observed: ObservedRange) -> Figures:
    figures: Figures = {}
    for w in observed.windows:
        videos, telemetry = w.parsed.videos, w.telemetry
        figures[w.key] = {
            "dagster/row_count": videos.height,
            "videos": videos["video_id"].n_unique(),
            "quarantined_records": w.parsed.quarantine.height,
            "creator_failures": len(w.failures),
            "creators_to_reauthorise": len(w.landed.reauthorise),
            "collected": w.landed.collected,
            "landing_file": observed.landing_file(w),
            **{k: int(telemetry[k] or 0) for k in REQUEST_FIGURES},
        }
    return figures


def raw_video_range_figures(observed: ObservedRange) -> dict[str, Any]:
    """Totals over every window of the run (shown on each window's materialisation, prefixed ``range_``)."""
    telemetry = observed.telemetry
    return {
        "range_windows": len(observed.windows),
        "range_first_window": observed.windows[0].key,
        "range_last_window": observed.windows[-1].key,
        "range_row_count": observed.videos.height,
        "range_windows_collected": sum(w.landed.collected for w in observed.windows),
        "range_windows_reparsed": sum(not w.landed.collected for w in observed.windows),
        "range_quarantined_records": observed.quarantine.height,
        "range_requests": int(telemetry["requests"].sum() or 0),
        "range_creator_failures": sum(len(w.failures) for w in observed.windows),
        "range_creators_to_reauthorise": sum(len(w.landed.reauthorise) for w in observed.windows),
    }


def row_count_figures(frame: pl.DataFrame, keys: list[str]) -> Figures:
    return {key: {"dagster/row_count": part.height} for key, part in by_window(frame, keys).items()}


def quarantine_figures(quarantine: pl.DataFrame, keys: list[str]) -> Figures:
    figures: Figures = {}
    for key, part in by_window(quarantine, keys).items():
        reasons = part.group_by("reason").len().sort("len", descending=True).head(10)
        figures[key] = {"dagster/row_count": part.height, "reasons": Markdown(markdown_table(reasons, empty="_none_"))}
    return figures


def telemetry_figures(observed: ObservedRange, raw_warehouse_wait_seconds: float | None = None) -> Figures:
    """poll_telemetry's figures of each window, with the raw step's wait for the warehouse when known (the rest of
    the steps' wait, ``warehouse_wait_seconds``, is on video_velocity's materialisation: it comes after)."""
    waited = {} if raw_warehouse_wait_seconds is None else {"raw_warehouse_wait_seconds": raw_warehouse_wait_seconds}
    return {
        w.key: {
            **{
                k: float(w.telemetry[k] or 0.0)
                for k in TELEMETRY_FIGURES
                if k not in FRESHNESS_FIGURES or w.telemetry[k] is not None
            },
            **waited,
        }
        for w in observed.windows
    }


def _per_window(frame: pl.DataFrame, keys: list[str], figures: list[pl.Expr]) -> dict[str, dict[str, Any]]:
    """``figures`` aggregated per window of ``frame`` in one ``group_by`` (windows without rows: the empty frame's)."""
    grouped = frame.group_by("window_start").agg(figures)
    rows = {window_key(row.pop("window_start").replace(tzinfo=UTC)): row for row in grouped.iter_rows(named=True)}
    empty = frame.clear().select(figures).row(0, named=True) if keys and len(rows) < len(keys) else {}
    return {key: rows.get(key, empty) for key in keys}


def enriched_figures(enriched: pl.DataFrame, keys: list[str]) -> Figures:
    per_window = _per_window(
        enriched,
        keys,
        [
            pl.len().alias("rows"),
            pl.col("creator_username").n_unique().alias("creators"),
            (pl.col("campaign_ids").list.len() == 0).sum().alias("without_campaign"),
            pl.col("engagement_rate").mean().alias("mean_engagement_rate"),
        ],
    )
    return {
        key: {
            "dagster/row_count": int(row["rows"]),
            "creators": int(row["creators"]),
            "rows_without_campaign": int(row["without_campaign"] or 0),
            "mean_engagement_rate": float(row["mean_engagement_rate"] or 0.0),
        }
        for key, row in per_window.items()
    }


MOVER_COLUMNS = ("video_id", "creator_username", "view_count", "view_delta_30m", "views_per_minute", "momentum")
"""The columns of the top-movers table."""


def velocity_figures(
    velocity: pl.DataFrame, keys: list[str], computed_at: datetime, warehouse_waits: dict[str, float] | None = None
) -> Figures:
    """Row counts, baselines, momentum, how long after the window's close velocity was ready and how much of it its
    steps waited for the warehouse (``warehouse_waits``: poll_telemetry's totals, windows with a row), per window;
    the top-movers table only on the newest window of the range (a backfill's older windows are history, and a
    table copied into every window's materialisation made a day's backfill store 288 of them)."""
    with_baseline = pl.col("baseline_observed_at").is_not_null()
    per_window = _per_window(
        velocity,
        keys,
        [
            pl.len().alias("rows"),
            with_baseline.sum().alias("with_baseline"),
            pl.col("momentum").max().alias("max_momentum"),
            pl.col("views_per_minute").filter(with_baseline).median().alias("median_views_per_minute"),
        ],
    )
    figures: Figures = {}
    for key, row in per_window.items():
        window_end = utc_naive(window_from_key(key)) + WINDOW
        figures[key] = {
            "dagster/row_count": int(row["rows"]),
            "rows_with_baseline": int(row["with_baseline"] or 0),
            "max_momentum": float(row["max_momentum"] or 0.0),
            "median_views_per_minute": float(row["median_views_per_minute"] or 0.0),
            "ready_seconds_after_close": (utc_naive(computed_at) - window_end).total_seconds(),
        }
        if warehouse_waits and key in warehouse_waits:
            figures[key]["warehouse_wait_seconds"] = warehouse_waits[key]
    if keys:
        newest = velocity.filter(pl.col("window_start") == utc_naive(window_from_key(keys[-1])))
        figures[keys[-1]]["top_movers"] = Markdown(markdown_table(top_movers(newest).select(*MOVER_COLUMNS)))
    return figures


def range_totals(figures: Figures) -> dict[str, Any]:
    """Sums of the numeric per-window figures, prefixed ``range_`` (for runs over more than one window)."""
    keys = list(figures)
    totals: dict[str, Any] = {"range_windows": len(keys), "range_first_window": keys[0], "range_last_window": keys[-1]}
    if "dagster/row_count" in figures[keys[0]]:
        totals["range_row_count"] = sum(int(f["dagster/row_count"]) for f in figures.values())
    return totals
