"""What retention compares per source before a day may go: the rows of each window table a daily rollup summarises,
and the rollup's observations, both per source (plain functions over the warehouse).

Like is compared with like: ``enriched_video_metrics`` keeps one source per (window, video) (the Display API's rows
when it observed the video in the window, else the analytics provider's: :func:`one_source_per_video`), so of
``raw_video_snapshots`` only the rows of that kept source are summarised; the analytics provider's rows of a window
the Display API also observed are not, and counting them would keep a fully rolled-up day for ever.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import duckdb

from tiktok_pipeline.metrics.enrichment import PREFERRED_SOURCE
from tiktok_pipeline.warehouse.io import table_exists
from tiktok_pipeline.warehouse.tables import RAW_VIDEO_SNAPSHOTS
from tiktok_pipeline.windows import DAY, utc_naive

ONE_SOURCE_PER_VIDEO: frozenset[str] = frozenset({RAW_VIDEO_SNAPSHOTS.name})
"""Window tables whose rows are summarised only through enrichment's choice of one source per (window, video)."""

_SOURCE = f"coalesce(source, '{PREFERRED_SOURCE}')"  # rows before sources were recorded: the Display API's
_KEPT_ROWS = f"""
WITH rows AS (SELECT window_start, video_id, {_SOURCE} AS source FROM "{{table}}" WHERE window_start >= ? AND window_start < ?),
kept AS (
    SELECT window_start, video_id,
           CASE WHEN bool_or(source = '{PREFERRED_SOURCE}') THEN '{PREFERRED_SOURCE}' ELSE min(source) END AS source
    FROM rows GROUP BY window_start, video_id
)
SELECT rows.source, count(*) FROM rows JOIN kept USING (window_start, video_id, source) GROUP BY rows.source
"""
_ALL_ROWS = f'SELECT {_SOURCE}, count(*) FROM "{{table}}" WHERE window_start >= ? AND window_start < ? GROUP BY 1'


def covered_rows(
    connection: duckdb.DuckDBPyConnection, day: datetime, tables: tuple[str, ...]
) -> dict[str, dict[str, int]]:
    """Per window table (of ``tables`` that exist) and source, the rows of ``day`` its daily rollup summarises."""
    lo = utc_naive(day)
    found: dict[str, dict[str, int]] = {}
    for table in tables:
        if not table_exists(connection, table):
            continue
        sql = (_KEPT_ROWS if table in ONE_SOURCE_PER_VIDEO else _ALL_ROWS).format(table=table)
        found[table] = {str(source): int(count) for source, count in connection.execute(sql, [lo, lo + DAY]).fetchall()}
    return found


def rolled_up_by_source(
    connection: duckdb.DuckDBPyConnection, day: datetime, rollups: tuple[str, ...]
) -> dict[str, dict[str, int]]:
    """Per rollup (of ``rollups`` that exist) and source, the sum of ``observations`` stored for ``day``."""
    found: dict[str, dict[str, int]] = {}
    for rollup in rollups:
        if not table_exists(connection, rollup):
            continue
        rows = connection.execute(
            f'SELECT {_SOURCE}, sum(observations) FROM "{rollup}" WHERE window_start = ? GROUP BY 1', [utc_naive(day)]
        ).fetchall()
        found[rollup] = {str(source): int(total) for source, total in rows if total}
    return found


def nonzero(counts: Mapping[str, int]) -> dict[str, int]:
    """``counts`` without its zeros, by source name (so two tables' counts compare as equal or not)."""
    return {source: count for source, count in sorted(counts.items()) if count}


def per_source(counts: Mapping[str, int]) -> str:
    """``counts`` for a reason: ``analytics_provider 1, display_api 2`` (``none`` when empty)."""
    return ", ".join(f"{source} {count}" for source, count in counts.items()) or "none"
