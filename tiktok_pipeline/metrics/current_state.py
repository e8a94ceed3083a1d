"""The "now" view: one row per tracked video with its latest observation and velocity, and the top movers.

``video_current_state`` is refreshed incrementally (:func:`refresh_current_state`): :func:`latest_observations`
reads only the windows of ``video_velocity`` that changed since the last refresh (joined with
``enriched_video_metrics`` of the same windows for the other counts and the registry enrichment), keeps each
video's latest observation among them, and :func:`merge_current_state` merges those rows in one transaction,
where a row replaces a video's row only if it is at least as recent (``observed_at``, then ``window_start``):
re-materialising or backfilling an old window never puts an older observation over a newer one, and
re-materialising the window a row came from replaces it with the window's new figures (a video that window no
longer holds falls back to its latest row in any window: :func:`vanished_videos`). ``windows=None`` rebuilds the
table from every window (the first refresh, or when the table is missing). Staleness (seconds since observed)
is as of the refresh."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import polars as pl

from tiktok_pipeline.warehouse.io import create_or_extend, read_frame, table_exists, write_transaction
from tiktok_pipeline.warehouse.tables import (
    ENRICHED_VIDEO_METRICS,
    TOP_MOVERS_VIEW,
    VIDEO_CURRENT_STATE,
    VIDEO_VELOCITY,
)
from tiktok_pipeline.warehouse.tables.now import REFRESH_COLUMNS, VELOCITY_FIGURES
from tiktok_pipeline.windows import utc_naive

TOP_MOVERS = 20
"""How many videos ``top_movers_last_hour`` (and the asset's Top movers table) lists."""
MOVER_HOUR = timedelta(hours=1)
"""Top movers are the videos whose latest observation is at most this old, relative to the newest one."""

_FROM_VELOCITY = ("video_id", "window_start", "observed_at", *VELOCITY_FIGURES)
_FROM_ENRICHED = tuple(c for c in VIDEO_CURRENT_STATE.column_names if c not in (*_FROM_VELOCITY, *REFRESH_COLUMNS))
"""The counts, creator and registry enrichment come from the same window's ``enriched_video_metrics`` row."""


@dataclass(frozen=True)
class Merged:
    """What a refresh did: rows read, rows that replaced or added a video's row, the table's size after, whether it
    rebuilt the table, and how many videos' rows had vanished from their window (re-read from every window)."""

    read: int
    applied: int
    rows: int
    rebuilt: bool
    vanished: int


def refresh_current_state(
    connection: duckdb.DuckDBPyConnection, windows: list[datetime] | None, refreshed_at: datetime
) -> Merged:
    """Bring ``video_current_state`` up to date after ``windows`` of ``video_velocity`` changed (None: rebuild from
    every window; also when the table is missing). A video whose row came from a changed window that no longer
    holds it gets its latest row from any window (or leaves the table when it has none left)."""
    rebuild = windows is None or not table_exists(connection, VIDEO_CURRENT_STATE.name)
    changed = None if rebuild else windows
    vanished = [] if changed is None else vanished_videos(connection, changed)
    latest = latest_observations(connection, changed, videos=vanished)
    return merge_current_state(connection, latest, refreshed_at, rebuild=rebuild, vanished=vanished)


def vanished_videos(connection: duckdb.DuckDBPyConnection, windows: list[datetime]) -> list[str]:
    """Videos of ``video_current_state`` whose row came from one of ``windows`` that no longer has the video."""
    if not windows or not table_exists(connection, VIDEO_VELOCITY.name):
        return []
    within = "window_start IN (SELECT unnest($windows::TIMESTAMP[]))"  # both sides read the changed windows only
    sql = f"""SELECT s.video_id FROM (SELECT * FROM "{VIDEO_CURRENT_STATE.name}" WHERE {within}) s
        ANTI JOIN (SELECT video_id, window_start FROM "{VIDEO_VELOCITY.name}" WHERE {within}) v
        USING (video_id, window_start)"""
    rows = connection.execute(sql, {"windows": [utc_naive(w) for w in windows]}).fetchall()
    return sorted(row[0] for row in rows)


def latest_observations(
    connection: duckdb.DuckDBPyConnection,
    windows: list[datetime] | None,
    *,
    videos: list[str] = (),  # type: ignore[assignment]
) -> pl.DataFrame:
    """Each video's latest velocity row among ``windows`` (every window when None) and, for ``videos``, among
    every window, with the same window's enriched counts and registry enrichment; in ``video_current_state``'s
    columns (refresh columns null)."""
    if not (table_exists(connection, VIDEO_VELOCITY.name) and table_exists(connection, ENRICHED_VIDEO_METRICS.name)):
        return VIDEO_CURRENT_STATE.empty()
    if windows is not None and not windows and not videos:
        return VIDEO_CURRENT_STATE.empty()
    where = "" if windows is None else "WHERE window_start IN (SELECT unnest($windows::TIMESTAMP[]))"
    if windows is not None and videos:  # (the OR reads every window: only when a video vanished from its window)
        where += " OR video_id IN (SELECT unnest($videos))"
    select = ", ".join([*(f"v.{c}" for c in _FROM_VELOCITY), *(f"e.{c}" for c in _FROM_ENRICHED)])
    # each video's latest (observed_at, window_start) first: a hash aggregate, then the joins touch those rows only
    sql = f"""
        WITH latest AS (
            SELECT video_id, arg_max(window_start, (observed_at, window_start)) AS window_start
            FROM "{VIDEO_VELOCITY.name}" {where} GROUP BY video_id
        )
        SELECT {select}
        FROM latest
        JOIN "{VIDEO_VELOCITY.name}" v USING (video_id, window_start)
        JOIN "{ENRICHED_VIDEO_METRICS.name}" e USING (video_id, window_start)
    """
    params: dict[str, object] | None = None if windows is None else {"windows": [utc_naive(w) for w in windows]}
    if params is not None and videos:
        params["videos"] = list(videos)
    return VIDEO_CURRENT_STATE.conform(read_frame(connection, sql, params))


def merge_current_state(
    connection: duckdb.DuckDBPyConnection,
    latest: pl.DataFrame,
    refreshed_at: datetime,
    *,
    rebuild: bool = False,
    vanished: Sequence[str] = (),
) -> Merged:
    """Merge ``latest`` (one row per video) into ``video_current_state`` in ONE transaction; ``rebuild`` replaces
    the whole table instead; the rows of ``vanished`` videos go first (``latest`` holds their replacements). A row replaces a video's row only when it is at least as recent (``observed_at``,
    then ``window_start``). Every row's ``refreshed_at`` and ``staleness_seconds`` are set as of ``refreshed_at``;
    the view ``top_movers_last_hour`` is (re)created in the same transaction. A commit that conflicts with another
    writer's (DuckLake) re-runs the whole merge against the rows that writer committed."""
    name = VIDEO_CURRENT_STATE.name
    arrow = VIDEO_CURRENT_STATE.conform(latest).to_arrow()
    at = utc_naive(refreshed_at)

    def merge(connection: duckdb.DuckDBPyConnection) -> tuple[int, int]:
        create_or_extend(connection, VIDEO_CURRENT_STATE)
        connection.register("_latest", arrow)
        try:
            if rebuild:
                connection.execute(f'DELETE FROM "{name}"').fetchall()
            if vanished:
                connection.execute(
                    f'DELETE FROM "{name}" WHERE video_id IN (SELECT unnest($videos))', {"videos": list(vanished)}
                ).fetchall()
            connection.execute(
                f"""DELETE FROM "{name}" s USING _latest i WHERE s.video_id = i.video_id
                    AND (i.observed_at, i.window_start) >= (s.observed_at, s.window_start)"""
            ).fetchall()
            applied = connection.execute(
                f"""INSERT INTO "{name}" BY NAME SELECT * FROM _latest i
                    WHERE NOT EXISTS (SELECT 1 FROM "{name}" s WHERE s.video_id = i.video_id)"""
            ).fetchall()[0][0]
        finally:
            connection.unregister("_latest")
        connection.execute(
            f'UPDATE "{name}" SET refreshed_at = $at, staleness_seconds = epoch($at) - epoch(observed_at)',
            {"at": at},
        ).fetchall()
        connection.execute(top_movers_view_sql()).fetchall()
        rows = connection.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0]
        return int(applied), int(rows)

    applied, rows = write_transaction(connection, merge)
    return Merged(read=latest.height, applied=applied, rows=rows, rebuilt=rebuild, vanished=len(vanished))


def top_movers_view_sql(limit: int = TOP_MOVERS, hour: timedelta = MOVER_HOUR) -> str:
    """``CREATE OR REPLACE VIEW top_movers_last_hour``: the ``limit`` videos of ``video_current_state`` with the
    highest momentum among those observed within ``hour`` of the newest observation, ranked (``mover_rank``)."""
    seconds = int(hour.total_seconds())
    name = VIDEO_CURRENT_STATE.name
    return f"""CREATE OR REPLACE VIEW "{TOP_MOVERS_VIEW}" AS
        SELECT row_number() OVER (ORDER BY momentum DESC, views_per_minute DESC, video_id) AS mover_rank, *
        FROM "{name}"
        WHERE momentum IS NOT NULL
          AND observed_at >= (SELECT max(observed_at) FROM "{name}") - INTERVAL {seconds} SECOND
        ORDER BY mover_rank
        LIMIT {int(limit)}"""


def top_movers(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The rows of ``top_movers_last_hour`` (empty before the first refresh)."""
    if not table_exists(connection, TOP_MOVERS_VIEW):
        return pl.DataFrame()
    return read_frame(connection, f'SELECT * FROM "{TOP_MOVERS_VIEW}"')


def current_state_figures(connection: duckdb.DuckDBPyConnection) -> dict[str, float | int | str]:
    """Numeric figures of ``video_current_state`` for the UI's plots: videos, the latest window, how many moved in
    the last hour (momentum above 1), the highest momentum, and staleness (median, p95, max) as of the refresh."""
    row = connection.execute(
        f"""WITH s AS (SELECT * FROM "{VIDEO_CURRENT_STATE.name}"),
            hour AS (SELECT * FROM s WHERE observed_at >= (SELECT max(observed_at) FROM s)
                     - INTERVAL {int(MOVER_HOUR.total_seconds())} SECOND)
            SELECT (SELECT count(*) FROM s), (SELECT strftime(max(window_start), '%Y-%m-%d-%H:%M') FROM s),
                   (SELECT count(*) FROM hour), (SELECT count(*) FROM hour WHERE momentum > 1),
                   (SELECT max(momentum) FROM hour), (SELECT median(staleness_seconds) FROM s),
                   (SELECT quantile_cont(staleness_seconds, 0.95) FROM s), (SELECT max(staleness_seconds) FROM s)"""
    ).fetchall()[0]
    names = (
        "videos",
        "latest_window",
        "videos_observed_last_hour",
        "movers_last_hour",
        "max_momentum_last_hour",
        "staleness_p50_seconds",
        "staleness_p95_seconds",
        "staleness_max_seconds",
    )
    return {name: value for name, value in zip(names, row, strict=True) if value is not None}
