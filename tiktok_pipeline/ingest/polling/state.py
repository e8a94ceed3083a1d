"""The polling state: per tracked video, when it was last polled and how fast it moves; per creator,
when it was last discovered. Written as Parquet beside the warehouse after each velocity run, so
the sensor reads it without opening DuckDB (one writer process at a time may hold the file).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb
import polars as pl

from tiktok_pipeline.ingest.polling.plan import CREATOR_STATE_SCHEMA, VIDEO_STATE_SCHEMA
from tiktok_pipeline.warehouse.io import read_frame, table_exists
from tiktok_pipeline.warehouse.tables import RAW_CREATOR_SNAPSHOTS, RAW_VIDEO_SNAPSHOTS, VIDEO_VELOCITY

STATE_LOOKBACK = timedelta(days=1)


@dataclass
class PollingState:
    videos: pl.DataFrame
    creators: pl.DataFrame

    @classmethod
    def empty(cls) -> PollingState:
        return cls(pl.DataFrame(schema=VIDEO_STATE_SCHEMA), pl.DataFrame(schema=CREATOR_STATE_SCHEMA))


def compute_polling_state(connection: duckdb.DuckDBPyConnection, horizon: timedelta) -> PollingState:
    """Polling state as of the newest observation in the warehouse (backfilling old windows never rewinds it)."""
    if not table_exists(connection, RAW_VIDEO_SNAPSHOTS.name):
        return PollingState.empty()
    has_velocity = table_exists(connection, VIDEO_VELOCITY.name)
    velocity = (
        f"""SELECT video_id,
                   arg_max(views_per_minute, observed_at) FILTER (WHERE views_per_minute IS NOT NULL) AS views_per_minute,
                   arg_max(momentum, observed_at) FILTER (WHERE momentum IS NOT NULL) AS momentum,
                   bool_or(baseline_observed_at IS NOT NULL) AS has_history
            FROM {VIDEO_VELOCITY.name} WHERE observed_at >= (SELECT since FROM bounds) GROUP BY video_id"""
        if has_velocity
        else "SELECT NULL::VARCHAR AS video_id, NULL::DOUBLE AS views_per_minute, NULL::DOUBLE AS momentum, NULL::BOOLEAN AS has_history WHERE false"
    )
    videos = read_frame(
        connection,
        f"""WITH bounds AS (SELECT max(observed_at) AS newest, max(observed_at) - ?::INTERVAL AS since
                            FROM {RAW_VIDEO_SNAPSHOTS.name}),
             last AS (SELECT video_id, arg_max(creator_username, observed_at) AS creator_username,
                             max(observed_at) AS last_polled_at, max(create_time) AS create_time
                      FROM {RAW_VIDEO_SNAPSHOTS.name} WHERE observed_at >= (SELECT since FROM bounds) GROUP BY video_id),
             velocity AS ({velocity})
        SELECT last.video_id, creator_username, last_polled_at, views_per_minute, momentum,
               coalesce(has_history, false) AS has_history, create_time
        FROM last LEFT JOIN velocity USING (video_id)
        WHERE create_time >= (SELECT newest FROM bounds) - ?::INTERVAL
        ORDER BY video_id""",
        [STATE_LOOKBACK, horizon],
    )
    creators = (
        read_frame(
            connection,
            f"""SELECT creator_username, max(observed_at) AS last_discovered_at
                FROM {RAW_CREATOR_SNAPSHOTS.name} GROUP BY 1 ORDER BY 1""",
        )
        if table_exists(connection, RAW_CREATOR_SNAPSHOTS.name)
        else PollingState.empty().creators
    )
    return PollingState(videos.cast(pl.Schema(VIDEO_STATE_SCHEMA)), creators.cast(pl.Schema(CREATOR_STATE_SCHEMA)))


def _atomic_parquet(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    frame.write_parquet(tmp)
    os.replace(tmp, path)


def write_polling_state(state: PollingState, directory: Path) -> None:
    """Write both frames atomically (each file is replaced whole)."""
    _atomic_parquet(state.videos, Path(directory) / "videos.parquet")
    _atomic_parquet(state.creators, Path(directory) / "creators.parquet")


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
