"""Click-through rates from hourly ad rows, and organic CTR proxies from public video counts.

**Paid CTR now.** Ad reports are hourly, a window needs a rate for *now*. Each hourly row is spread
uniformly over the part of its hour that its numbers cover, ``[stat_time_hour, min(stat_time_hour + 1 h,
fetched_at))`` (the current hour is still filling), and the share of it that falls in the 60 minutes
before a reference instant is counted (:func:`trailing_totals`). CTR = clicks / impressions over that
trailing hour, at the window's end and 30 minutes earlier; its change is the difference. Volumes
carry the reporting latency (the last ~10 minutes are not reported yet), but a ratio of two volumes
from the same rows barely does. Each ratio uses only rows where both of its metrics are present
(TikTok's ``"-"`` is null), and is null when its denominator is 0.

**Organic proxies**, for every observed video, with or without ads: like, comment and share rates
(cumulative interactions / views) and the 30-minute share rate (shares gained / views gained since
the latest observation at or before 30 minutes earlier). For boosted videos the ads add the
2-second-view ratio (video_watched_2s / video_play_actions) and the profile-visit rate
(profile_visits / impressions).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import polars as pl

from tiktok_pipeline.metrics.velocity import join_baseline
from tiktok_pipeline.warehouse.io import read_frame, table_exists
from tiktok_pipeline.warehouse.tables import AD_VELOCITY, ENRICHED_VIDEO_METRICS, RAW_AD_METRICS
from tiktok_pipeline.windows import WINDOW, utc_naive, window_starts

SPAN = timedelta(minutes=60)
CHANGE = timedelta(minutes=30)
HOUR = timedelta(hours=1)

RATES: dict[str, tuple[str, str]] = {
    "ctr": ("clicks", "impressions"),
    "watched_2s_rate": ("video_watched_2s", "video_play_actions"),
    "profile_visit_rate": ("profile_visits", "impressions"),
}
"""Paid rates: name → (numerator, denominator) metrics of the hourly rows."""
VOLUMES = ("impressions", "clicks", "spend")


def ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """``numerator / denominator`` as a float; null when either is null or the denominator is not > 0."""
    return pl.when(denominator > 0).then(numerator.cast(pl.Float64) / denominator.cast(pl.Float64)).otherwise(None)


def trailing_totals(hourly: pl.DataFrame, references: pl.DataFrame, span: timedelta = SPAN) -> pl.DataFrame:
    """Pro-rated totals per (``window_start``, ``reference_at``, ``video_id``) over ``[reference_at - span, reference_at)``.

    ``hourly`` has one row per ad and hour: ``ad_id``, ``video_id``, ``campaign_name``, ``stat_time_hour``,
    ``fetched_at`` and the metrics of :data:`RATES` and :data:`VOLUMES` (nullable). ``references`` has
    ``window_start`` and ``reference_at``. Rows without a video (not Spark Ads) are left out.

    Returns the volumes (null when every contributing value was null), the rates of :data:`RATES`,
    ``active_ads`` (ads with a row in the span), ``ad_ids`` and ``ad_campaign_names`` (sorted, distinct).
    """
    metrics = sorted({*VOLUMES, *(m for pair in RATES.values() for m in pair)})
    rows = (
        hourly.filter(pl.col("video_id").is_not_null())
        .select("ad_id", "video_id", "campaign_name", "stat_time_hour", "fetched_at", *metrics)
        .with_columns(pl.min_horizontal(pl.col("stat_time_hour") + HOUR, pl.col("fetched_at")).alias("_cover_end"))
        .filter(pl.col("_cover_end") > pl.col("stat_time_hour"))
    )
    refs = references.select("window_start", "reference_at").unique()
    joined = refs.join_where(
        rows,
        pl.col("stat_time_hour") < pl.col("reference_at"),
        pl.col("_cover_end") > pl.col("reference_at") - span,
    )
    overlap = (
        pl.min_horizontal(pl.col("_cover_end"), pl.col("reference_at"))
        - pl.max_horizontal(pl.col("stat_time_hour"), pl.col("reference_at") - span)
    ).dt.total_microseconds()
    cover = (pl.col("_cover_end") - pl.col("stat_time_hour")).dt.total_microseconds()
    weighted = joined.with_columns((overlap.cast(pl.Float64) / cover.cast(pl.Float64)).alias("_w")).filter(
        pl.col("_w") > 0
    )

    aggregations: list[pl.Expr] = [
        pl.col("ad_id").n_unique().cast(pl.Int64).alias("active_ads"),
        pl.col("ad_id").unique().sort().alias("ad_ids"),
        pl.col("campaign_name").drop_nulls().unique().sort().alias("ad_campaign_names"),
    ]
    for volume in VOLUMES:
        aggregations.append(
            pl.when(pl.col(volume).is_not_null().any())
            .then((pl.col(volume) * pl.col("_w")).sum())
            .otherwise(None)
            .alias(f"{volume}_60m")
        )
    for name, (numerator, denominator) in RATES.items():
        paired = pl.col(numerator).is_not_null() & pl.col(denominator).is_not_null()
        aggregations.append(
            ratio(
                (pl.when(paired).then(pl.col(numerator) * pl.col("_w"))).sum(),
                (pl.when(paired).then(pl.col(denominator) * pl.col("_w"))).sum(),
            ).alias(name)
        )
    return weighted.group_by("window_start", "reference_at", "video_id").agg(aggregations)


def ad_rates(hourly: pl.DataFrame, window_starts: list, *, window: timedelta = WINDOW) -> pl.DataFrame:
    """Per window and boosted video: trailing-60-minute volumes and rates at the window's end, and the CTR
    30 minutes earlier with its change (``ctr_30m_ago``, ``ctr_change_30m``; null without both)."""
    starts = pl.DataFrame({"window_start": window_starts}, schema={"window_start": pl.Datetime("us")})
    now = starts.with_columns((pl.col("window_start") + window).alias("reference_at"))
    before = starts.with_columns((pl.col("window_start") + window - CHANGE).alias("reference_at"))
    current = trailing_totals(hourly, now)
    earlier = trailing_totals(hourly, before).select("window_start", "video_id", pl.col("ctr").alias("ctr_30m_ago"))
    return (
        current.join(earlier, on=["window_start", "video_id"], how="left")
        .with_columns((pl.col("ctr") - pl.col("ctr_30m_ago")).alias("ctr_change_30m"))
        .drop("reference_at")
    )


def organic_rates(current: pl.DataFrame, history: pl.DataFrame, *, lookback: timedelta = CHANGE) -> pl.DataFrame:
    """Organic CTR proxies for ``current`` video observations (``window_start``, ``observed_at``, ``video_id``,
    ``creator_username``, ``campaign_ids`` and the four counts), using ``history`` for the 30-minute
    baseline: the latest observation of the same video at or before ``observed_at - lookback``."""
    joined = join_baseline(
        current,
        history,
        {"view_count": "_base_views", "share_count": "_base_shares"},
        observed_alias="organic_baseline_observed_at",
        lookback=lookback,
    )
    views_gained = pl.col("view_count") - pl.col("_base_views")
    return joined.select(
        "window_start",
        "observed_at",
        "video_id",
        "creator_username",
        "campaign_ids",
        "view_count",
        ratio(pl.col("like_count"), pl.col("view_count")).alias("like_rate"),
        ratio(pl.col("comment_count"), pl.col("view_count")).alias("comment_rate"),
        ratio(pl.col("share_count"), pl.col("view_count")).alias("share_rate"),
        ratio(pl.col("share_count") - pl.col("_base_shares"), views_gained).alias("share_rate_30m"),
        "organic_baseline_observed_at",
    )


def ad_velocity(paid: pl.DataFrame, organic: pl.DataFrame, *, window: timedelta = WINDOW) -> pl.DataFrame:
    """One row per window and video that was observed or boosted: paid rates beside organic proxies.

    Boosted videos that were not observed in the window keep null organic columns; observed videos
    without ads keep null paid columns.
    """
    joined = organic.join(paid, on=["window_start", "video_id"], how="full", coalesce=True)
    return joined.with_columns(
        pl.coalesce("observed_at", pl.col("window_start") + window).alias("observed_at"),
        pl.col("active_ads").fill_null(0),
    ).sort("window_start", "video_id")


ORGANIC_HISTORY = timedelta(hours=24)
"""How far back ad_velocity looks for an organic 30-minute baseline."""


def ad_velocity_in_warehouse(connection: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> pl.DataFrame:
    """``ad_velocity`` rows of the windows ``[start, end)`` from ``raw_ad_metrics`` and ``enriched_video_metrics``.

    Reads the hourly ad rows that can reach a trailing hour of the windows, the windows' enriched rows and
    the organic history (:data:`ORGANIC_HISTORY` before the first 30-minute baseline); a missing table
    reads as empty.
    """
    starts = [utc_naive(w) for w in window_starts(start, end)]
    hourly = RAW_AD_METRICS.empty()
    if table_exists(connection, RAW_AD_METRICS.name):
        hourly = read_frame(
            connection,
            f"SELECT * FROM {RAW_AD_METRICS.name} WHERE stat_time_hour >= ? AND stat_time_hour < ?",
            [utc_naive(start + WINDOW - CHANGE - SPAN) - HOUR, utc_naive(end)],
        )
    current = history = ENRICHED_VIDEO_METRICS.empty()
    if table_exists(connection, ENRICHED_VIDEO_METRICS.name):
        current = read_frame(
            connection,
            f"""SELECT window_start, observed_at, video_id, creator_username, campaign_ids, view_count, like_count,
                       comment_count, share_count
                FROM {ENRICHED_VIDEO_METRICS.name} WHERE window_start >= ? AND window_start < ?""",
            [utc_naive(start), utc_naive(end)],
        )
        history = read_frame(
            connection,
            f"""SELECT video_id, observed_at, view_count, share_count FROM {ENRICHED_VIDEO_METRICS.name}
                WHERE observed_at >= ? AND observed_at < ?""",
            [utc_naive(start - CHANGE - ORGANIC_HISTORY), utc_naive(end)],
        )
    return AD_VELOCITY.conform(ad_velocity(ad_rates(hourly, starts), organic_rates(current, history)))
