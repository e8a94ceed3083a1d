"""``governance_report``'s figures: per UTC day and source, the calls of ``api_call_log`` against the declared limits.

*Quota used* is a day's calls as a share of what the source's declared rate limits allow in a day
(:func:`daily_allowance`): ``requests`` per ``window_seconds`` over 86,400 s, once per endpoint for a
``per_endpoint`` limit, once for a ``per_app`` limit. The API for Business's reporting and Events API share
one app tier (a pool): each is measured against the whole tier, so their shares add up. A source without a
published limit (webhooks, oauth endpoints) has no allowance: its share is null.
"""

from __future__ import annotations

import duckdb
import polars as pl

from tiktok_pipeline.governance.source_models import SourceDeclaration
from tiktok_pipeline.governance.sources import SOURCES
from tiktok_pipeline.warehouse.io import read_frame, table_exists
from tiktok_pipeline.warehouse.tables.governance import API_CALL_LOG

DAY_SECONDS = 86_400
SUCCESS_CODES = ("ok", "0")
"""TikTok's envelope codes of success: the Display API's ``ok``, the API for Business's ``0``."""

REPORT_COLUMN_DOCS = {
    "day": ("DATE", "UTC day the calls ended."),
    "source": ("VARCHAR", "A SOURCES name, or webhook."),
    "calls": ("BIGINT", "Logical calls (each with its retries)."),
    "errors": ("BIGINT", "Calls without an answer, with HTTP >= 400, or with a TikTok code other than success."),
    "throttled_429": ("BIGINT", "Calls whose last answer was HTTP 429."),
    "attempts": ("BIGINT", "Attempts made, retries included."),
    "allowance_per_day": ("DOUBLE", "Requests a day the source's declared rate limits allow; null: none declared."),
    "quota_used_pct": ("DOUBLE", "calls as a percentage of allowance_per_day."),
    "p95_latency_ms": ("DOUBLE", "95th percentile of the calls' latency (waits between attempts included)."),
}
"""The report's columns: type and description (the asset's column schema in the UI)."""
REPORT_COLUMNS = tuple(REPORT_COLUMN_DOCS)


def daily_allowance(source: SourceDeclaration) -> float | None:
    """Requests a day the source's declared limits allow (None when it publishes none)."""
    total = 0.0
    for limit in source.rate_limits:
        if limit.requests is None:
            continue
        per_day = limit.requests * DAY_SECONDS / limit.window_seconds
        total += per_day * (len(limit.endpoints) if limit.counted == "per_endpoint" else 1)
    return total or None


def daily_call_summary(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per UTC day and source of ``api_call_log``: calls, errors, 429s, attempts, quota used, p95 latency.

    An error is a call without an answer, an HTTP status of 400 or more, or a TikTok code other than success.
    """
    if not table_exists(connection, API_CALL_LOG.name):
        return pl.DataFrame(schema=dict.fromkeys(REPORT_COLUMNS, pl.String))
    success = ", ".join(f"'{code}'" for code in SUCCESS_CODES)
    frame = read_frame(
        connection,
        f"""SELECT CAST(called_at AS DATE) AS day, source, COUNT(*) AS calls,
               COUNT(*) FILTER (WHERE http_status IS NULL OR http_status >= 400
                                OR (error_code IS NOT NULL AND error_code NOT IN ({success}))) AS errors,
               COUNT(*) FILTER (WHERE http_status = 429) AS throttled_429,
               SUM(attempts) AS attempts,
               quantile_cont(latency_ms, 0.95) AS p95_latency_ms
            FROM {API_CALL_LOG.name} GROUP BY ALL ORDER BY day, source""",
    )
    allowances = pl.DataFrame(
        {"source": list(SOURCES), "allowance_per_day": [daily_allowance(s) for s in SOURCES.values()]},
        schema={"source": pl.String, "allowance_per_day": pl.Float64},
    )
    return (
        frame.join(allowances, on="source", how="left")
        .with_columns(quota_used_pct=(pl.col("calls") * 100.0 / pl.col("allowance_per_day")).round(4))
        .select(REPORT_COLUMNS)
    )


def report_metadata(summary: pl.DataFrame) -> dict[str, float | int]:
    """Plottable figures of the latest day: ``<figure>_<source>`` for each source, and the day's totals."""
    if summary.is_empty():
        return {"calls": 0}
    latest = summary.filter(pl.col("day") == summary["day"].max())
    figures: dict[str, float | int] = {"calls": int(latest["calls"].sum()), "errors": int(latest["errors"].sum())}
    for row in latest.iter_rows(named=True):
        for name in ("calls", "errors", "throttled_429", "quota_used_pct", "p95_latency_ms"):
            if row[name] is not None:
                figures[f"{name}_{row['source']}"] = row[name]
    return figures
