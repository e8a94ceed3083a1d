"""The polling state: per tracked video, when it was last polled and how fast it moves; per creator,
when it was last discovered. Written as Parquet beside the warehouse after each velocity run, so
the sensor reads it without opening DuckDB (one writer process at a time may hold the file).

The video state is a day's aggregates (latest observation, latest velocity). Rebuilding them from a
day of observations costs a scan of a million rows per window, so each velocity run keeps them
*folded* (:class:`Fold`, ``fold.parquet`` + ``fold.json`` beside the state): per video the latest
observation, create time, latest non-null velocity and momentum and latest baseline, each with its
time, and how far into the tables the fold has read. A velocity run for windows after everything
folded reads only the rows written since and folds them in (max and arg-max are decomposable): from the
rows it holds in memory when those are all there are (a live window's run: no query of the tables for
them), finishing the state in a thread while its connection checkpoints (:func:`prepare_polling_state`); any
other run (a backfill of earlier windows, a first run, a missing or unreadable fold) rebuilds from the
day. Both give the same state (``tiktok_pipeline_tests/unit/test_polling_state_fold.py``). The fold
cannot see a raw window re-collected after a later window's velocity ran (nothing marks it changed):
the next rebuild does. Retention never deletes inside the day (it keeps at least two).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
from polars._typing import PolarsDataType

from tiktok_pipeline.ingest.parse.display import DISPLAY_SOURCE
from tiktok_pipeline.ingest.polling.plan import CREATOR_STATE_SCHEMA, VIDEO_STATE_SCHEMA
from tiktok_pipeline.warehouse.io import read_frame, tables_present
from tiktok_pipeline.warehouse.tables import RAW_CREATOR_SNAPSHOTS, RAW_VIDEO_SNAPSHOTS, VIDEO_VELOCITY
from tiktok_pipeline.windows import utc_naive

STATE_LOOKBACK = timedelta(days=1)

FOLD_SCHEMA: dict[str, PolarsDataType] = {
    "video_id": pl.String,
    "creator_username": pl.String,
    "last_polled_at": pl.Datetime("us"),
    "create_time": pl.Datetime("us"),
    "views_per_minute": pl.Float64,
    "views_per_minute_at": pl.Datetime("us"),
    "momentum": pl.Float64,
    "momentum_at": pl.Datetime("us"),
    "history_at": pl.Datetime("us"),
}
"""Per video: the aggregates the video state is derived from, each non-null velocity figure with its observation time."""


@dataclass(frozen=True)
class Fold:
    """The video aggregates and how far they have read: ``newest`` observation, last raw and velocity window folded."""

    videos: pl.DataFrame
    newest: datetime | None
    raw_through: datetime | None
    velocity_through: datetime | None

    def covers_before(self, window_start: datetime) -> bool:
        """Whether velocity of windows from ``window_start`` on can be folded in (nothing at or after it folded yet)."""
        return self.velocity_through is not None and self.velocity_through < utc_naive(window_start)


@dataclass
class PollingState:
    videos: pl.DataFrame
    creators: pl.DataFrame
    fold: Fold | None = None

    @classmethod
    def empty(cls) -> PollingState:
        return cls(pl.DataFrame(schema=VIDEO_STATE_SCHEMA), pl.DataFrame(schema=CREATOR_STATE_SCHEMA))


_AGGREGATE = """
WITH raw AS ({raw}), velocity AS ({velocity}),
last AS (SELECT video_id, arg_max(creator_username, observed_at) AS creator_username,
                max(observed_at) AS last_polled_at, max(create_time) AS create_time
         FROM raw GROUP BY video_id),
moving AS (SELECT video_id,
                  arg_max(views_per_minute, views_per_minute_at) FILTER (WHERE views_per_minute_at IS NOT NULL)
                      AS views_per_minute,
                  max(views_per_minute_at) AS views_per_minute_at,
                  arg_max(momentum, momentum_at) FILTER (WHERE momentum_at IS NOT NULL) AS momentum,
                  max(momentum_at) AS momentum_at,
                  max(history_at) AS history_at
           FROM velocity GROUP BY video_id)
SELECT video_id, creator_username, last_polled_at, create_time, views_per_minute, views_per_minute_at,
       momentum, momentum_at, history_at
FROM last {join} JOIN moving USING (video_id)
WHERE {where}
"""
_DISPLAY_ONLY = "(SELECT * FROM {table} WHERE coalesce(source, 'display_api') = 'display_api') AS {table}"
"""The Display API's rows only: the polling plan paces Display API calls (the analytics provider is polled whole), so
a creator's last discovery is its last user/info, never the provider's crawl of its profile."""
_RAW_ROWS = f"""SELECT video_id, creator_username, observed_at, create_time
    FROM {_DISPLAY_ONLY.format(table=RAW_VIDEO_SNAPSHOTS.name)}"""
_VELOCITY_ROWS = f"""SELECT video_id,
    views_per_minute, CASE WHEN views_per_minute IS NOT NULL THEN observed_at END AS views_per_minute_at,
    momentum, CASE WHEN momentum IS NOT NULL THEN observed_at END AS momentum_at,
    CASE WHEN baseline_observed_at IS NOT NULL THEN observed_at END AS history_at
    FROM {_DISPLAY_ONLY.format(table=VIDEO_VELOCITY.name)}"""
_NO_VELOCITY = """SELECT video_id, views_per_minute, views_per_minute_at, momentum, momentum_at, history_at
    FROM (SELECT NULL::VARCHAR AS video_id, NULL::DOUBLE AS views_per_minute, NULL::TIMESTAMP AS views_per_minute_at,
          NULL::DOUBLE AS momentum, NULL::TIMESTAMP AS momentum_at, NULL::TIMESTAMP AS history_at,
          NULL::TIMESTAMP AS observed_at, NULL::TIMESTAMP AS window_start WHERE false) AS no_velocity"""
"""No velocity table yet (raw rows written, velocity not yet): no rows, and a ``WHERE`` on ``observed_at`` or
``window_start`` may follow it like :data:`_VELOCITY_ROWS`."""


@dataclass(frozen=True)
class WindowRows:
    """The rows a velocity run has just written for the windows ``[start, end)``, still in memory: ``observed``, their
    enriched rows (every raw Display API row of those windows: :func:`one_source_per_video` keeps them all), and
    ``velocity``. When they are all the fold has not read yet, it aggregates them instead of querying the tables."""

    start: datetime
    end: datetime
    observed: pl.DataFrame
    velocity: pl.DataFrame


@dataclass(frozen=True)
class _Bounds:
    """What lies after the fold: the first and last raw window and the newest observation written after
    ``raw_after``, the first and last velocity window after ``velocity_after`` (None when there is none)."""

    raw_first: datetime | None
    raw_through: datetime | None
    raw_newest: datetime | None
    velocity_first: datetime | None
    velocity_through: datetime | None

    def only_in(self, start: datetime, end: datetime) -> bool:
        """Whether every raw and velocity row after the fold lies in the windows ``[start, end)``."""
        lo, hi = utc_naive(start), utc_naive(end)
        return all(
            first is None or (lo <= first and last is not None and last < hi)
            for first, last in ((self.raw_first, self.raw_through), (self.velocity_first, self.velocity_through))
        )


def _bounds(
    connection: duckdb.DuckDBPyConnection,
    raw_after: datetime | None,
    velocity_after: datetime | None,
    *,
    velocity: bool,
) -> _Bounds:
    """The raw rows' windows and newest observation after ``raw_after``, the velocity rows' windows after
    ``velocity_after`` (all when None; none without ``velocity``): one query."""
    raw_where = "" if raw_after is None else " WHERE window_start > $raw_after"
    velocity_where = "" if velocity_after is None else " WHERE window_start > $velocity_after"
    velocity_sql = (
        f"(SELECT [min(window_start), max(window_start)] FROM {VIDEO_VELOCITY.name}{velocity_where})"
        if velocity
        else "[NULL::TIMESTAMP, NULL::TIMESTAMP]"
    )
    params = {
        **({} if raw_after is None else {"raw_after": raw_after}),
        **({} if velocity_after is None or not velocity else {"velocity_after": velocity_after}),
    }
    row = connection.execute(
        f"SELECT min(window_start), max(window_start), max(observed_at), {velocity_sql}"
        f" FROM {RAW_VIDEO_SNAPSHOTS.name}{raw_where}",
        params or None,
    ).fetchone()
    assert row is not None
    return _Bounds(row[0], row[1], row[2], *row[3])


def _latest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return max(present) if present else None


def _display_only(frame: pl.DataFrame) -> pl.DataFrame:
    """The Display API's rows of ``frame`` (rows without a source are the Display API's): see :data:`_DISPLAY_ONLY`."""
    if "source" not in frame.columns:
        return frame
    return frame.filter(pl.col("source").fill_null(DISPLAY_SOURCE) == DISPLAY_SOURCE)


def aggregate_rows(observed: pl.DataFrame, velocity: pl.DataFrame) -> pl.DataFrame:
    """:data:`_AGGREGATE` of rows in memory (the Display API's of ``observed`` and ``velocity``), per video: the same
    aggregates as the query's over the same rows (``unit/test_polling_state_fold.py``)."""

    def at(figure: str) -> pl.Expr:
        return pl.when(pl.col(figure).is_not_null()).then(pl.col("observed_at"))

    def latest(value: str, moment: str) -> pl.Expr:  # arg_max(value, moment): rows without a moment sort first
        return pl.col(value).sort_by(moment).last()

    last = (
        _display_only(observed)
        .group_by("video_id")
        .agg(
            latest("creator_username", "observed_at"),
            pl.col("observed_at").max().alias("last_polled_at"),
            pl.col("create_time").max(),
        )
    )
    moving = (
        _display_only(velocity)
        .select(
            "video_id",
            "views_per_minute",
            at("views_per_minute").alias("views_per_minute_at"),
            "momentum",
            at("momentum").alias("momentum_at"),
            at("baseline_observed_at").alias("history_at"),
        )
        .group_by("video_id")
        .agg(
            latest("views_per_minute", "views_per_minute_at"),
            pl.col("views_per_minute_at").max(),
            latest("momentum", "momentum_at"),
            pl.col("momentum_at").max(),
            pl.col("history_at").max(),
        )
    )
    return last.join(moving, on="video_id", how="full", coalesce=True).select(list(FOLD_SCHEMA))


def fold_videos(
    connection: duckdb.DuckDBPyConnection,
    previous: Fold | None,
    *,
    has_velocity: bool,
    rows: WindowRows | None = None,
) -> Callable[[], Fold]:
    """The video aggregates: ``previous`` with the rows written since folded in, or (``None``) rebuilt from the day
    (``has_velocity``: whether the warehouse has the velocity table yet). Reads what it needs from the warehouse now
    and returns what finishes the fold without it (to run beside the connection's closing checkpoint). The rows
    written since are aggregated from ``rows`` when they are all in its windows, else read from the tables."""
    raw_after = previous.raw_through if previous else None
    velocity_after = previous.velocity_through if previous else None
    bounds = _bounds(connection, raw_after, velocity_after, velocity=has_velocity)
    newest = _latest(previous.newest if previous else None, bounds.raw_newest)
    since = newest - STATE_LOOKBACK if newest is not None else datetime.min
    velocity_rows = _VELOCITY_ROWS if has_velocity else _NO_VELOCITY
    raw_through = _latest(raw_after, bounds.raw_through)
    velocity_through = _latest(velocity_after, bounds.velocity_through)
    if previous is None:
        sql = _AGGREGATE.format(
            raw=f"{_RAW_ROWS} WHERE observed_at >= $since",
            velocity=f"{velocity_rows} WHERE observed_at >= $since",
            join="LEFT",
            where="last_polled_at >= $since",
        )
        rebuilt = read_frame(connection, sql, {"since": since})
        return lambda: Fold(rebuilt.cast(pl.Schema(FOLD_SCHEMA)), newest, raw_through, velocity_through)
    # nothing written after the fold but windows the step holds in memory: aggregated from them, no query (rows the
    # fold read already, a raw window landed before its velocity ran, fold in again to no change: max and arg-max)
    since_fold: WindowRows | pl.DataFrame
    if rows is not None and bounds.only_in(rows.start, rows.end):
        since_fold = rows
    else:  # only the rows written since, aggregated per video, then merged into the previous aggregates
        sql = _AGGREGATE.format(
            raw=f"{_RAW_ROWS} WHERE window_start > $raw_after",
            velocity=f"{velocity_rows} WHERE window_start > $velocity_after",
            join="FULL",
            where="true",
        )
        params = {"raw_after": raw_after or datetime.min, "velocity_after": velocity_after or datetime.min}
        since_fold = read_frame(connection, sql, params)

    def finish() -> Fold:
        new = (
            aggregate_rows(since_fold.observed, since_fold.velocity)
            if isinstance(since_fold, WindowRows)
            else since_fold
        )
        merged = _merge(previous.videos, new.cast(pl.Schema(FOLD_SCHEMA)), since)
        return Fold(merged.cast(pl.Schema(FOLD_SCHEMA)), newest, raw_through, velocity_through)

    return finish


def _merge(previous: pl.DataFrame, new: pl.DataFrame, since: datetime) -> pl.DataFrame:
    """Per video, the later of each aggregate (the new one on a tie); videos never observed, or not since ``since``, go."""

    def later(value: str, at: str) -> pl.Expr:
        newer = pl.col(f"{at}_new").is_not_null() & (pl.col(at).is_null() | (pl.col(f"{at}_new") >= pl.col(at)))
        return pl.when(newer).then(pl.col(f"{value}_new")).otherwise(pl.col(value)).alias(value)

    def latest(at: str) -> pl.Expr:
        return pl.max_horizontal(at, f"{at}_new").alias(at)

    return (
        previous.join(new, on="video_id", how="full", coalesce=True, suffix="_new")
        .select(
            "video_id",
            later("creator_username", "last_polled_at"),
            latest("last_polled_at"),
            latest("create_time"),
            later("views_per_minute", "views_per_minute_at"),
            latest("views_per_minute_at"),
            later("momentum", "momentum_at"),
            latest("momentum_at"),
            latest("history_at"),
        )
        .filter(pl.col("last_polled_at") >= since)
    )


def state_of(fold: Fold, horizon: timedelta) -> pl.DataFrame:
    """The video state from the aggregates: the day's figures, videos published within ``horizon`` of the newest."""
    if fold.newest is None:
        return pl.DataFrame(schema=VIDEO_STATE_SCHEMA)
    since = fold.newest - STATE_LOOKBACK

    def recent(value: str, at: str) -> pl.Expr:
        return pl.when(pl.col(at) >= since).then(pl.col(value)).alias(value)

    return (
        fold.videos.filter(pl.col("last_polled_at") >= since, pl.col("create_time") >= fold.newest - horizon)
        .select(
            "video_id",
            "creator_username",
            "last_polled_at",
            recent("views_per_minute", "views_per_minute_at"),
            recent("momentum", "momentum_at"),
            (pl.col("history_at") >= since).fill_null(False).alias("has_history"),
            "create_time",
        )
        .sort("video_id")
        .cast(pl.Schema(VIDEO_STATE_SCHEMA))
    )


def compute_polling_state(
    connection: duckdb.DuckDBPyConnection,
    horizon: timedelta,
    *,
    previous: Fold | None = None,
    window_start: datetime | None = None,
    rows: WindowRows | None = None,
) -> PollingState:
    """Polling state as of the newest observation in the warehouse (backfilling old windows never rewinds it).

    With the ``previous`` fold and the first window just written (``window_start``) after everything it folded,
    only the rows written since are read (from ``rows`` when they are all there); otherwise the state is rebuilt
    from the day.
    """
    return prepare_polling_state(connection, horizon, previous=previous, window_start=window_start, rows=rows)()


def prepare_polling_state(
    connection: duckdb.DuckDBPyConnection,
    horizon: timedelta,
    *,
    previous: Fold | None = None,
    window_start: datetime | None = None,
    rows: WindowRows | None = None,
) -> Callable[[], PollingState]:
    """:func:`compute_polling_state` in two parts: its reads of the warehouse, now, and what it returns, which
    finishes the state without the connection (a step runs it in a thread while the connection checkpoints)."""
    present = tables_present(connection, [RAW_VIDEO_SNAPSHOTS.name, VIDEO_VELOCITY.name, RAW_CREATOR_SNAPSHOTS.name])
    if RAW_VIDEO_SNAPSHOTS.name not in present:
        return PollingState.empty
    usable = previous if previous and window_start and previous.covers_before(window_start) else None
    fold = fold_videos(connection, usable, has_velocity=VIDEO_VELOCITY.name in present, rows=rows)
    creators = (
        read_frame(
            connection,
            f"""SELECT creator_username, max(observed_at) AS last_discovered_at
                FROM {_DISPLAY_ONLY.format(table=RAW_CREATOR_SNAPSHOTS.name)} GROUP BY 1 ORDER BY 1""",
        )
        if RAW_CREATOR_SNAPSHOTS.name in present
        else PollingState.empty().creators
    )

    def finish() -> PollingState:
        folded = fold()
        return PollingState(state_of(folded, horizon), creators.cast(pl.Schema(CREATOR_STATE_SCHEMA)), folded)

    return finish


def _atomic_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` atomically, through a temporary file of its own (runs finishing together on a
    DuckLake write the state at once: a shared temporary name made the second rename fail). Working data, always
    read whole (the sensor's tick, the next run): neither compressed nor with column statistics, speed over size
    (at 100,000 videos writing the state took 42 ms of CPU with them, 29 without; the videos file is 1.6 times larger)."""
    _atomic(path, lambda name: frame.write_parquet(name, compression="uncompressed", statistics=False))


def _atomic_write(data: bytes, path: Path) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`_atomic_parquet`)."""
    _atomic(path, lambda name: Path(name).write_bytes(data))


def _atomic(path: Path, write: Callable[[str], object]) -> None:
    """``write`` a temporary file of this call's own beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(fd)
    try:
        write(name)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def _stamp(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


def write_polling_state(state: PollingState, directory: Path) -> None:
    """Write both frames atomically (each file is replaced whole), then the fold: its rows, and last what it read.

    A crash between the fold's two files leaves rows that already include some windows beside bounds that do not:
    folding those windows again changes nothing (max and arg-max).
    """
    directory = Path(directory)
    _atomic_parquet(state.videos, directory / "videos.parquet")
    _atomic_parquet(state.creators, directory / "creators.parquet")
    if state.fold is None:
        return
    _atomic_parquet(state.fold.videos, directory / "fold.parquet")
    bounds = {
        "newest": _stamp(state.fold.newest),
        "raw_through": _stamp(state.fold.raw_through),
        "velocity_through": _stamp(state.fold.velocity_through),
    }
    _atomic_write(json.dumps(bounds).encode(), directory / "fold.json")


def read_fold(directory: Path) -> Fold | None:
    """The fold the last velocity run wrote, or None (none yet, or unreadable: the next run rebuilds)."""
    directory = Path(directory)
    try:
        bounds = json.loads((directory / "fold.json").read_text())
        videos = pl.read_parquet(directory / "fold.parquet").cast(pl.Schema(FOLD_SCHEMA))
        return Fold(
            videos.select(list(FOLD_SCHEMA)),
            _moment(bounds["newest"]),
            _moment(bounds["raw_through"]),
            _moment(bounds["velocity_through"]),
        )
    except (OSError, ValueError, KeyError, TypeError, pl.exceptions.PolarsError):
        return None


def read_polling_state(directory: Path) -> PollingState:
    """The last written state, or an empty one before the first velocity run."""
    directory = Path(directory)
    if not (directory / "videos.parquet").exists() or not (directory / "creators.parquet").exists():
        return PollingState.empty()
    videos = pl.read_parquet(directory / "videos.parquet")
    # a state written before a column was added (create_time) gets it empty until the next velocity run
    missing = [pl.lit(None, dtype).alias(name) for name, dtype in VIDEO_STATE_SCHEMA.items() if name not in videos]
    return PollingState(
        videos.with_columns(missing).select(list(VIDEO_STATE_SCHEMA)).cast(pl.Schema(VIDEO_STATE_SCHEMA)),
        pl.read_parquet(directory / "creators.parquet").cast(pl.Schema(CREATOR_STATE_SCHEMA)),
    )
