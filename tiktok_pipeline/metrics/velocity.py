"""Velocity: how fast each video is moving now, against its own recent past.

Videos are not observed every window, so each observation is compared with the latest
observation of the same video **by the same source** at or before 30 minutes earlier (an as-of join on
``observed_at``, by video and ``source``), and deltas are divided by the real elapsed minutes. Two sources'
counts of one video differ (the analytics provider's are its last crawl's), so a delta between them would be
noise: it is never taken. A provider row's ``observed_at`` is the provider's ``updated_at``, so a count it repeats
between its crawls is never read as "no views in 5 minutes".

Two ways to find the baselines, one set of maths (:func:`velocity_from_baselines`):
:func:`compute_velocity` joins Polars frames (tests, benchmarks), and
:func:`velocity_in_warehouse` runs the same as-of join inside DuckDB, so a day of history never
has to leave the warehouse (what the ``video_velocity`` asset does).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from tiktok_pipeline.warehouse.io import read_frame, table_exists
from tiktok_pipeline.windows import utc_naive

HISTORY_LIMIT = timedelta(hours=24)
"""How far back velocity looks for a baseline when a video was not observed recently."""
LOOKBACK = timedelta(minutes=30)
MIN_LIFETIME_RATE = 1.0  # views per minute: keeps tiny videos from producing huge momentum


def join_baseline(
    current: pl.DataFrame,
    history: pl.DataFrame,
    columns: dict[str, str],
    *,
    observed_alias: str,
    lookback: timedelta = LOOKBACK,
) -> pl.DataFrame:
    """``current`` with each row's baseline: the latest ``history`` row of the same video observed at or
    before ``observed_at - lookback`` (an as-of join; null when there is none).

    ``columns`` maps history columns to their names in the result; the baseline's ``observed_at``
    becomes ``observed_alias``. Duplicate history observations count once.
    """
    keys = ["video_id", "source"] if "source" in current.columns and "source" in history.columns else ["video_id"]
    baseline = (
        history.select(
            *keys,
            pl.col("observed_at").alias(observed_alias),
            *(pl.col(source).alias(target) for source, target in columns.items()),
        )
        .unique(subset=[*keys, observed_alias], keep="last")
        .sort(*keys, observed_alias)
    )
    probe = current.with_columns((pl.col("observed_at") - lookback).alias("_target")).sort(*keys, "_target")
    return probe.join_asof(
        baseline,
        left_on="_target",
        right_on=observed_alias,
        by=keys,
        strategy="backward",
        check_sortedness=False,
    )


def compute_velocity(
    current: pl.DataFrame,
    history: pl.DataFrame,
    *,
    lookback: timedelta = LOOKBACK,
    min_lifetime_rate: float = MIN_LIFETIME_RATE,
    history_limit: timedelta | None = None,
) -> pl.DataFrame:
    """Velocity rows for ``current`` observations, using ``history`` (which may include ``current``).

    Both frames need ``video_id``, ``observed_at``, ``view_count`` and ``engagement_rate``;
    ``current`` also ``window_start``, ``creator_username`` and ``create_time``. ``history_limit``: a baseline
    observed before the row's own window start less ``lookback`` and the limit is none (as in the warehouse).
    """
    joined = join_baseline(
        current,
        history,
        {"view_count": "baseline_view_count", "engagement_rate": "baseline_engagement_rate"},
        observed_alias="baseline_observed_at",
        lookback=lookback,
    )
    if history_limit is not None:
        fresh = pl.col("baseline_observed_at") >= pl.col("window_start") - lookback - history_limit
        baselines = ["baseline_observed_at", "baseline_view_count", "baseline_engagement_rate"]
        joined = joined.with_columns(pl.when(fresh).then(pl.col(c)).alias(c) for c in baselines)
    return velocity_from_baselines(joined, min_lifetime_rate=min_lifetime_rate)


def velocity_from_baselines(joined: pl.DataFrame, *, min_lifetime_rate: float = MIN_LIFETIME_RATE) -> pl.DataFrame:
    """Velocity of observations already paired with their baselines.

    ``joined`` has the observation's ``window_start``, ``observed_at``, ``video_id``,
    ``creator_username``, ``create_time``, ``view_count`` and ``engagement_rate``, and its
    baseline's ``baseline_observed_at``, ``baseline_view_count`` and ``baseline_engagement_rate``
    (null when there is none).
    """
    elapsed = (pl.col("observed_at") - pl.col("baseline_observed_at")).dt.total_seconds() / 60.0
    age_minutes = (pl.col("observed_at") - pl.col("create_time")).dt.total_seconds() / 60.0
    lifetime_rate = pl.max_horizontal(
        pl.when(age_minutes > 0).then(pl.col("view_count") / age_minutes).otherwise(0.0),
        pl.lit(min_lifetime_rate),
    )
    return (
        joined.with_columns(elapsed.alias("elapsed_minutes"))
        .with_columns(
            (pl.col("view_count") - pl.col("baseline_view_count")).alias("view_delta_30m"),
            (pl.col("engagement_rate") - pl.col("baseline_engagement_rate")).alias("engagement_rate_change_30m"),
        )
        .with_columns((pl.col("view_delta_30m") / pl.col("elapsed_minutes")).alias("views_per_minute"))
        .with_columns((pl.col("views_per_minute") / lifetime_rate).alias("momentum"))
        .sort("window_start", "video_id")
    )


_CURRENT_COLUMNS = "window_start, observed_at, video_id, creator_username, create_time, view_count, engagement_rate"
_HISTORY_COLUMNS = "video_id, coalesce(source, 'display_api') AS source, observed_at, view_count, engagement_rate"

_BASELINES_SQL = """
WITH current AS (
    SELECT {current_columns}, coalesce(source, 'display_api') AS source FROM {current}),
observations AS NOT MATERIALIZED ({history}),  -- filters pushed into each use: never a copy of the table
first_target AS (SELECT min(observed_at) - $lookback AS target FROM current),
-- Of the observations before the earliest target, only each video's latest can be anyone's
-- baseline: reduce them to one row per video and source (a hash aggregate) before the as-of join.
older AS (
    SELECT video_id, source, max(observed_at) AS baseline_observed_at,
           arg_max_null(view_count, observed_at) AS baseline_view_count,
           arg_max_null(engagement_rate, observed_at) AS baseline_engagement_rate
    FROM observations
    WHERE observed_at >= $history_start AND observed_at < (SELECT target FROM first_target)
    GROUP BY ALL),
recent AS (
    SELECT video_id, source, observed_at, view_count, engagement_rate
    FROM observations WHERE observed_at >= (SELECT target FROM first_target) AND observed_at < $end),
history AS (SELECT * FROM older UNION ALL SELECT * FROM recent),
joined AS (
    SELECT current.*, history.baseline_observed_at, history.baseline_view_count, history.baseline_engagement_rate
    FROM current ASOF LEFT JOIN history
      ON current.video_id = history.video_id AND current.source = history.source
     AND current.observed_at - $lookback >= history.baseline_observed_at)
-- a baseline older than the history limit before the row's OWN window is none, however many windows are asked:
-- a window's velocity does not depend on the range it was computed in
SELECT * EXCLUDE (baseline_observed_at, baseline_view_count, baseline_engagement_rate),
       CASE WHEN {fresh} THEN baseline_observed_at END AS baseline_observed_at,
       CASE WHEN {fresh} THEN baseline_view_count END AS baseline_view_count,
       CASE WHEN {fresh} THEN baseline_engagement_rate END AS baseline_engagement_rate
FROM joined
"""
_FRESH = "baseline_observed_at >= window_start - $lookback - $history_limit"
_IN_WINDOWS = "window_start >= $start AND window_start < $end"


def _baselines(
    connection: duckdb.DuckDBPyConnection, current: str, history: str, params: dict[str, Any]
) -> pl.DataFrame:
    sql = _BASELINES_SQL.format(current_columns=_CURRENT_COLUMNS, current=current, history=history, fresh=_FRESH)
    return read_frame(connection, sql, {k: v for k, v in params.items() if f"${k}" in sql})  # DuckDB: no unused ones


def velocity_in_warehouse(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    start: datetime,
    end: datetime,
    *,
    history_limit: timedelta,
    rows: pl.DataFrame | None = None,
    lookback: timedelta = LOOKBACK,
    min_lifetime_rate: float = MIN_LIFETIME_RATE,
) -> pl.DataFrame:
    """Velocity rows for the windows ``[start, end)`` of ``table`` (enriched metrics), as :func:`compute_velocity`
    would give with the table's observations up to ``end`` as history and ``history_limit``.

    The as-of join runs in DuckDB (``ASOF LEFT JOIN``) and only the windows' rows, each with its
    baseline, come back; observations older than every target are first reduced to each video's
    latest, which cannot change any baseline.

    ``rows``: the enriched rows of those windows about to replace the table's, given before they are written: the
    velocity they will have once written, from ``rows`` and the table's rows of every other window (none before the
    table's first write). A range step computes it so once, and its turns only write (a query a turn read up to a
    day of history again each time: issue 13).
    """
    params = {
        "start": utc_naive(start),
        "end": utc_naive(end),
        "history_start": utc_naive(start - lookback - history_limit),
        "history_limit": history_limit,
        "lookback": lookback,
    }
    if rows is None:
        table_sql = f'SELECT {_HISTORY_COLUMNS} FROM "{table}"'
        joined = _baselines(connection, f'"{table}" WHERE {_IN_WINDOWS}', table_sql, params)
        return velocity_from_baselines(joined, min_lifetime_rate=min_lifetime_rate)
    if "source" not in rows.columns:  # rows from before sources were recorded: the Display API's
        rows = rows.with_columns(pl.lit(None, pl.String).alias("source"))
    # A temporary table, not the Arrow scan itself: DuckDB estimates an Arrow scan at one row and plans the as-of
    # join over it as a nested loop (``asof_loop_join_threshold``), quadratic in the rows (minutes for a day).
    connection.register("_velocity_arrow", rows.select(*_CURRENT_COLUMNS.split(", "), "source").to_arrow())
    history = f"SELECT {_HISTORY_COLUMNS} FROM _velocity_rows"
    if table_exists(connection, table):
        history = f'SELECT {_HISTORY_COLUMNS} FROM "{table}" WHERE NOT ({_IN_WINDOWS}) UNION ALL {history}'
    try:
        connection.execute("CREATE OR REPLACE TEMP TABLE _velocity_rows AS FROM _velocity_arrow")
        joined = _baselines(connection, "_velocity_rows", history, params)
    finally:
        connection.execute("DROP TABLE IF EXISTS temp._velocity_rows")
        connection.unregister("_velocity_arrow")
    return velocity_from_baselines(joined, min_lifetime_rate=min_lifetime_rate)


def top_movers(velocity: pl.DataFrame, n: int = 10) -> pl.DataFrame:
    """The ``n`` rows with the highest momentum (nulls last)."""
    return velocity.sort("momentum", descending=True, nulls_last=True).head(n)
