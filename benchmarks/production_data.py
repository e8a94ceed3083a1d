"""Synthetic-but-true warehouses for benchmarks/production.py, built fast.

The tracked videos are real videos of a simulator world (ids, creators, publication times and
curve parameters from :class:`~tiktok_pipeline.simulator.world.World`); their counts at each
observation are the simulator's curves evaluated in Polars, vectorised, instead of one
``World.counts`` call per row (45 µs each: 45 s for a million rows). :func:`check_counts` compares
a sample with ``World.counts``.

The tables are written through the pipeline's own ``replace_windows`` (Arrow into DuckDB, one
transaction), and the derived history (enriched metrics, velocity) through the pipeline's own pure
functions, so the warehouse looks exactly like one the assets wrote.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from tiktok_pipeline.ingest.registry import TrackedCreator, TrackingRegistry
from tiktok_pipeline.metrics.enrichment import enrich_snapshots
from tiktok_pipeline.metrics.velocity import compute_velocity
from tiktok_pipeline.settings.warehouse import WarehouseTarget
from tiktok_pipeline.simulator.curves import SURGE_MIDPOINT
from tiktok_pipeline.simulator.world import World, WorldConfig
from tiktok_pipeline.warehouse.io import Write, as_target, connect, replace_windows
from tiktok_pipeline.warehouse.tables import (
    ENRICHED_VIDEO_METRICS,
    POLL_TELEMETRY,
    RAW_CREATOR_SNAPSHOTS,
    RAW_VIDEO_SNAPSHOTS,
    VIDEO_VELOCITY,
)
from tiktok_pipeline.windows import WINDOW

WINDOWS_PER_DAY = 288
HORIZON_DAYS = 7
CREATORS = 1024  # the simulator's maximum (WorldConfig.creators <= 2**10)


def world_config(videos: int, seed: int = 7) -> WorldConfig:
    """A world of 1,024 creators posting often enough that ``videos`` are published within 7 days.

    (The world publishes about 72% of ``creators × 7 days / mean interval``; 20% slack on top.)
    """
    interval = CREATORS * HORIZON_DAYS * 24 * 0.72 / (videos * 1.2)
    return WorldConfig(
        seed=seed, creators=CREATORS, mean_post_interval_hours=round(interval, 4), history_days=HORIZON_DAYS
    )


def tracked_videos(config: WorldConfig, videos: int, as_of: datetime) -> pl.DataFrame:
    """The ``videos`` newest videos published by ``as_of``, with their curve parameters (one row each)."""
    world = World(config)
    rows = []
    for creator in world.creators():
        for v in world.videos_as_of(creator.username, as_of.timestamp()):
            c = v.curve
            rows.append(
                (
                    v.id,
                    v.creator_username,
                    v.create_time,
                    v.duration,
                    v.title,
                    c.base_views,
                    c.tau_seconds,
                    c.viral_onset,
                    c.viral_views,
                    c.viral_rise_seconds,
                    c.like_rate,
                    c.comment_rate,
                    c.share_rate,
                    c.wobble,
                    *c.lag_seconds,
                )
            )
    if len(rows) < videos:
        raise RuntimeError(f"the world has only {len(rows)} videos as of {as_of}; {videos} wanted")
    frame = pl.DataFrame(
        rows,
        schema=[
            ("video_id", pl.String),
            ("creator_username", pl.String),
            ("create_epoch", pl.Int64),
            ("duration_seconds", pl.Int32),
            ("title", pl.String),
            ("base_views", pl.Float64),
            ("tau", pl.Float64),
            ("viral_onset", pl.Int64),
            ("viral_views", pl.Float64),
            ("rise", pl.Float64),
            ("like_rate", pl.Float64),
            ("comment_rate", pl.Float64),
            ("share_rate", pl.Float64),
            ("wobble", pl.Float64),
            ("like_lag", pl.Float64),
            ("comment_lag", pl.Float64),
            ("share_lag", pl.Float64),
        ],
        orient="row",
    )
    return frame.sort("create_epoch", "video_id", descending=True).head(videos).with_row_index("idx")


def _organic(t: pl.Expr) -> pl.Expr:
    """Vectorised ``curves.organic_views``: saturating views plus the viral surge (0 before publication)."""
    floor = 1.0 / (1.0 + math.exp(SURGE_MIDPOINT))
    elapsed = t - pl.col("viral_onset")
    x = (elapsed / pl.col("rise")).clip(upper_bound=60.0)
    surge = ((1.0 / (1.0 + (-(x - SURGE_MIDPOINT)).exp())) - floor) / (1.0 - floor)
    surge = pl.when(pl.col("viral_onset").is_not_null() & (elapsed > 0)).then(surge).otherwise(0.0)
    age = t - pl.col("create_epoch")
    views = pl.col("base_views") * (1.0 - (-age / pl.col("tau")).exp()) + pl.col("viral_views") * surge
    return pl.when(age > 0).then(views).otherwise(0.0)


def _tracking(t: pl.Expr, rate: str, lag: str) -> pl.Expr:
    base = pl.col(rate) * _organic(t - pl.col(lag))
    return (base + pl.col("wobble") * base.sqrt()).floor().cast(pl.Int64)


def observe(videos: pl.DataFrame, observations: pl.DataFrame) -> pl.DataFrame:
    """Raw snapshot rows for ``observations`` (``idx``, ``window_start``) of ``videos``: counts as of each window's end."""
    t = pl.col("_t")
    frame = (
        observations.join(videos, on="idx")
        .with_columns(observed_at=pl.col("window_start") + WINDOW)
        .with_columns(_t=pl.col("observed_at").dt.epoch("us").cast(pl.Float64) / 1e6)
        .filter(pl.col("_t") >= pl.col("create_epoch"))
    )
    return frame.select(
        "window_start",
        "observed_at",
        "video_id",
        pl.lit("display_api").alias("source"),
        "creator_username",
        pl.from_epoch("create_epoch", time_unit="s").alias("create_time"),
        _organic(t).floor().clip(lower_bound=0).cast(pl.Int64).alias("view_count"),
        _tracking(t, "like_rate", "like_lag").alias("like_count"),
        _tracking(t, "comment_rate", "comment_lag").alias("comment_count"),
        _tracking(t, "share_rate", "share_lag").alias("share_count"),
        "duration_seconds",
        "title",
        pl.format("display_api/{}.jsonl.gz", pl.col("window_start").dt.strftime("%Y-%m-%d/%H%M")).alias("landing_file"),
        pl.format("sim-{}", pl.col("window_start").dt.strftime("%H%M")).alias("log_id"),
    )


def check_counts(config: WorldConfig, raw: pl.DataFrame, sample: int = 200) -> tuple[int, int]:
    """(matching, sampled): rows whose counts equal ``World.counts`` at ``observed_at``."""
    world = World(config)
    rows = raw.sample(n=min(sample, raw.height), seed=1)
    good = 0
    for row in rows.iter_rows(named=True):
        truth = world.counts(row["video_id"], row["observed_at"].replace(tzinfo=UTC).timestamp())
        good += (row["view_count"], row["like_count"], row["comment_count"], row["share_count"]) == (
            truth.view_count,
            truth.like_count,
            truth.comment_count,
            truth.share_count,
        )
    return good, rows.height


def staggered(videos: pl.DataFrame, first_window: datetime, windows: int, every: int) -> pl.DataFrame:
    """Observations: video ``i`` in windows ``w`` with ``(w + i) % every == 0`` (as a cold-tier cadence spreads them)."""
    start = first_window.replace(tzinfo=None)
    return (
        videos.select(
            "idx",
            pl.int_ranges((every - pl.col("idx") % every) % every, windows, every, dtype=pl.Int64).alias("w"),
        )
        .explode("w")
        .drop_nulls("w")
        .select("idx", (pl.lit(start) + pl.duration(minutes=pl.col("w") * 5)).alias("window_start"))
    )


def cadence(videos: pl.DataFrame, day: datetime, rows: int) -> int:
    """The polling interval (in windows) whose day of observations comes closest to ``rows`` rows."""

    def count(every: int) -> int:
        observed = staggered(videos, day, WINDOWS_PER_DAY, every).join(videos.select("idx", "create_epoch"), on="idx")
        end = (pl.col("window_start") + WINDOW).dt.epoch("s")
        return observed.filter(end >= pl.col("create_epoch")).height

    guess = max(1, round(WINDOWS_PER_DAY * videos.height / rows))
    return min(range(max(1, guess - 3), guess + 4), key=lambda every: abs(count(every) - rows))


def every_window(videos: pl.DataFrame, window_start: datetime) -> pl.DataFrame:
    """One observation of every video in one window."""
    return videos.select("idx", pl.lit(window_start.replace(tzinfo=None)).alias("window_start"))


def registry(config: WorldConfig) -> TrackingRegistry:
    """Every creator of the world, with one or two campaigns, SKUs and audience tags each."""
    rng = random.Random(config.seed)
    campaigns = [f"cmp-{i:03d}" for i in range(40)]
    tags = ["gen-z", "millennials", "travel", "fashion", "food", "gaming", "beauty", "fitness", "tech", "diy"]
    return TrackingRegistry(
        creators=[
            TrackedCreator(
                username=c.username,
                campaign_ids=rng.sample(campaigns, rng.randint(1, 2)),
                product_skus=[f"SKU-{c.index:04d}-{k}" for k in range(rng.randint(1, 2))],
                audience_tags=rng.sample(tags, 2),
            )
            for c in World(config).creators()
        ]
    )


def creator_snapshots(config: WorldConfig, first_window: datetime, windows: int) -> pl.DataFrame:
    """Hourly ``user/info`` rows per creator (discovery cadence), staggered over the hour."""
    world = World(config)
    rows = []
    start = first_window.replace(tzinfo=None)
    for c in world.creators():
        for w in range(c.index % 12, windows, 12):
            window_start = start + w * WINDOW
            stats = world.user_stats(c.username, (window_start + WINDOW).replace(tzinfo=UTC).timestamp())
            rows.append(
                {
                    "window_start": window_start,
                    "observed_at": window_start + WINDOW,
                    "creator_username": c.username,
                    "open_id": c.open_id,
                    "display_name": c.display_name,
                    **stats,
                    "landing_file": f"display_api/{window_start:%Y-%m-%d/%H%M}.jsonl.gz",
                }
            )
    return RAW_CREATOR_SNAPSHOTS.conform(pl.DataFrame(rows))


def telemetry(first_window: datetime, windows: int) -> pl.DataFrame:
    """One planned-mode ``poll_telemetry`` row per window (figures are placeholders; velocity only stamps freshness)."""
    start = first_window.replace(tzinfo=None)
    return POLL_TELEMETRY.conform(
        pl.DataFrame(
            {
                "window_start": [start + w * WINDOW for w in range(windows)],
                "mode": "planned",
                "requests": 2700,
                "retries": 0,
                "throttled": 0,
                "server_errors": 0,
                "timeouts": 0,
                "failed_calls": 0,
                "error_rate": 0.0,
                "latency_p50_ms": 12.0,
                "latency_p95_ms": 30.0,
                "latency_p99_ms": 60.0,
                "landed_seconds_after_close": 240.0,
                "gap_windows_before": 0,
            }
        )
    )


@dataclass
class Built:
    """What a build wrote."""

    videos: int
    history_rows: int
    window_rows: int
    every: int
    counts_checked: tuple[int, int]


def build_warehouse(
    directory: Path,
    videos: int,
    history_rows: int,
    day: datetime,
    *,
    derived_history: bool,
    current_window: bool,
    seed: int = 7,
    also: Sequence[WarehouseTarget] = (),
) -> Built:
    """A warehouse in ``directory``: a day of raw history (~``history_rows`` rows) of ``videos`` videos.

    ``derived_history``: also enriched metrics and velocity for that day (as the assets would have
    written them). ``current_window``: plus the first window after the day with every video observed
    (raw only: it is the window the processing benchmark materialises). ``also``: the same rows written,
    the same way, into these warehouses too (e.g. a DuckLake, for benchmarks/backends.py).
    """
    directory.mkdir(parents=True, exist_ok=True)
    config = world_config(videos, seed)
    after = day + timedelta(days=1)
    frame = tracked_videos(config, videos, after + WINDOW)
    reg = registry(config)
    (directory / "tracking_registry.json").write_text(reg.model_dump_json(indent=1))
    (directory / "world.json").write_text(json.dumps(config.model_dump()))
    every = cadence(frame, day, history_rows)
    raw = observe(frame, staggered(frame, day, WINDOWS_PER_DAY, every))
    current = observe(frame, every_window(frame, after)) if current_window else RAW_VIDEO_SNAPSHOTS.empty()
    writes = [
        Write(RAW_VIDEO_SNAPSHOTS, raw),
        Write(RAW_CREATOR_SNAPSHOTS, creator_snapshots(config, day, WINDOWS_PER_DAY)),
        Write(POLL_TELEMETRY, telemetry(day, WINDOWS_PER_DAY)),
    ]
    if derived_history:
        enriched = enrich_snapshots(raw, reg.to_frame())
        writes += [Write(ENRICHED_VIDEO_METRICS, enriched), Write(VIDEO_VELOCITY, compute_velocity(enriched, enriched))]
    next_window = (
        [Write(RAW_VIDEO_SNAPSHOTS, current), Write(POLL_TELEMETRY, telemetry(after, 1))] if current_window else []
    )
    for target in [as_target(directory / "warehouse.duckdb"), *also]:
        with connect(target) as connection:
            replace_windows(connection, day, after, *writes)
            if next_window:
                replace_windows(connection, after, after + WINDOW, *next_window)
            if not target.is_lake:  # on a lake CHECKPOINT is DuckLake's maintenance (merging, expiring files)
                connection.execute("CHECKPOINT")
    return Built(frame.height, raw.height, current.height, every, check_counts(config, raw))
