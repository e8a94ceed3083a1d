"""The hourly ad table in the warehouse: re-fetched hours replace what was stored, never append to it.

``raw_ad_metrics`` holds one row per ad and hour (``stat_time_hour``), not per window. Each window's
fetch covers a lookback of hours; writing it replaces **every row of each covered hour** (ads that
vanished from an hour disappear too) in one transaction, so a revised hour is corrected, not
double-counted. Rules:

- **Newest fetch wins.** Within a run (a backfill covers many windows whose lookbacks overlap) each hour
  is taken from the fetch with the latest ``fetched_at``; against the table, an hour is only replaced by
  a fetch at least as recent as the one stored (equal: a re-run of the same window, idempotent). So
  re-running an old partition never overwrites newer revisions with staler numbers.
- **A bad record loses nothing.** A row quarantined by the fetch keeps its previously stored value
  (older ``fetched_at``) instead of being deleted.
- **A known link stays.** A row whose fetch did not say which video its ad boosts (``ad/get`` left the ad
  out) takes the video and identity stored for that ad before.
- The quarantined records of the run's windows are replaced in ``ad_report_quarantine`` (this is its only
  writer) in the same transaction; they appear in the ``quarantined_records`` view with the other sources'.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from tiktok_pipeline.warehouse.io import create_or_extend, read_frame, write_transaction
from tiktok_pipeline.warehouse.quarantine import adopt_legacy_rows
from tiktok_pipeline.warehouse.tables import AD_REPORT_QUARANTINE, RAW_AD_METRICS
from tiktok_pipeline.windows import utc_naive

if TYPE_CHECKING:
    from tiktok_pipeline.ingest.parse.ads import ParsedFetch

ASSET = "raw_ad_metrics"


@dataclass(frozen=True)
class HoursWritten:
    """What one write did, for the asset's metadata."""

    hours_replaced: int
    hours_kept_newer: int
    new_hours: int
    revised_hours: int
    rows_deleted: int
    rows_inserted: int
    rows_kept_quarantined: int
    clicks_revised: int
    conversions_revised: int
    spend: float
    clicks: int
    impressions: int
    written: pl.DataFrame
    by_hour: pl.DataFrame
    """One row per hour a fetch of the run won (``fetched_in_window``): whether it was ``replaced`` (else the
    table kept a newer fetch), ``new``, ``revised``, the clicks and conversions revised, the rows deleted and
    kept (quarantined), and the hour's stored spend, clicks and impressions after the write (0 if not replaced)."""


def newest_per_hour(coverage: pl.DataFrame) -> pl.DataFrame:
    """For each ``stat_time_hour``, the fetch (``fetched_at``, ``fetched_in_window``) with the latest fetch instant.

    Ties (two windows fetched as of the same instant) go to the later window.
    """
    return (
        coverage.sort("stat_time_hour", "fetched_at", "fetched_in_window")
        .group_by("stat_time_hour", maintain_order=True)
        .last()
        .select("stat_time_hour", "fetched_at", "fetched_in_window")
    )


_TOTALS = """SELECT stat_time_hour, max(fetched_at) AS stored_at, count(*) AS stored_rows,
                    coalesce(sum(clicks), 0) AS clicks, coalesce(sum(conversion), 0) AS conversion,
                    coalesce(sum(impressions), 0) AS impressions, round(coalesce(sum(spend), 0), 6) AS spend
             FROM raw_ad_metrics WHERE stat_time_hour IN (SELECT stat_time_hour FROM _hours) GROUP BY 1"""


def replace_ad_hours(
    connection: duckdb.DuckDBPyConnection,
    rows: pl.DataFrame,
    coverage: pl.DataFrame,
    kept_keys: pl.DataFrame,
    quarantine: pl.DataFrame,
    window_range: tuple[datetime, datetime],
) -> HoursWritten:
    """Replace the covered hours by the newest fetch's rows (see the module docstring), in ONE transaction.

    ``rows``: parsed rows of every fetch (with ``fetched_in_window``); ``coverage``: one row per
    (hour, fetch) that the fetches replace; ``kept_keys``: (ad_id, stat_time_hour, fetched_in_window)
    of quarantined rows; ``quarantine``: the records to store for the windows in ``window_range``.
    """
    winners = newest_per_hour(coverage)
    lo, hi = (utc_naive(moment) for moment in window_range)
    adopt_legacy_rows(connection, AD_REPORT_QUARANTINE, ASSET)

    def write(connection: duckdb.DuckDBPyConnection) -> HoursWritten:
        create_or_extend(connection, RAW_AD_METRICS)
        connection.register("_hours", winners.to_arrow())
        before = read_frame(connection, _TOTALS)
        connection.unregister("_hours")
        writable = winners.join(before.select("stat_time_hour", "stored_at"), on="stat_time_hour", how="left").filter(
            pl.col("stored_at").is_null() | (pl.col("fetched_at") >= pl.col("stored_at"))
        )
        incoming = rows.join(
            writable.select("stat_time_hour", "fetched_in_window"), on=["stat_time_hour", "fetched_in_window"]
        )
        kept = (
            kept_keys.join(
                writable.select("stat_time_hour", "fetched_in_window"), on=["stat_time_hour", "fetched_in_window"]
            )
            .select("ad_id", "stat_time_hour")
            .unique()
        )
        incoming = _with_known_links(
            connection, RAW_AD_METRICS.conform(incoming.join(kept, on=["ad_id", "stat_time_hour"], how="anti"))
        )
        connection.register("_hours", writable.select("stat_time_hour").to_arrow())
        connection.register("_kept", kept.to_arrow())
        [(deleted,)] = connection.execute(
            """DELETE FROM raw_ad_metrics AS t
               WHERE t.stat_time_hour IN (SELECT stat_time_hour FROM _hours)
                 AND NOT EXISTS (SELECT 1 FROM _kept k WHERE k.ad_id = t.ad_id AND k.stat_time_hour = t.stat_time_hour)"""
        ).fetchall()
        kept_rows = connection.execute(
            "SELECT count(*) FROM raw_ad_metrics WHERE stat_time_hour IN (SELECT stat_time_hour FROM _hours)"
        ).fetchall()[0][0]
        connection.register("_incoming", incoming.to_arrow())
        connection.execute("INSERT INTO raw_ad_metrics BY NAME SELECT * FROM _incoming").fetchall()
        after = read_frame(connection, _TOTALS)
        connection.execute(
            f"DELETE FROM {AD_REPORT_QUARANTINE.name} WHERE window_start >= ? AND window_start < ?", [lo, hi]
        ).fetchall()
        connection.register("_quarantine", AD_REPORT_QUARANTINE.conform(quarantine).to_arrow())
        connection.execute(f"INSERT INTO {AD_REPORT_QUARANTINE.name} BY NAME SELECT * FROM _quarantine").fetchall()
        for name in ("_hours", "_kept", "_incoming", "_quarantine"):
            connection.unregister(name)
        return _summary(winners, writable, before, after, deleted, incoming, kept_rows)

    return write_transaction(connection, write)  # re-run whole when another writer's commit conflicts


_KNOWN_LINKS = """SELECT ad_id, any_value(video_id) AS known_video_id, any_value(identity_id) AS known_identity_id
                  FROM raw_ad_metrics WHERE video_id IS NOT NULL AND ad_id IN (SELECT ad_id FROM _unlinked)
                  GROUP BY ad_id"""


def _with_known_links(connection: duckdb.DuckDBPyConnection, incoming: pl.DataFrame) -> pl.DataFrame:
    """``incoming`` with the stored video and identity of each ad whose fetch did not say them (``ad/get`` left it
    out): a Spark Ad boosts one video for life, so a link once known is never replaced by null."""
    unlinked = incoming.filter(pl.col("video_id").is_null()).select("ad_id").unique()
    if unlinked.is_empty():
        return incoming
    connection.register("_unlinked", unlinked.to_arrow())
    known = read_frame(connection, _KNOWN_LINKS)
    connection.unregister("_unlinked")
    return RAW_AD_METRICS.conform(
        incoming.join(known, on="ad_id", how="left")
        .with_columns(
            pl.coalesce("video_id", "known_video_id").alias("video_id"),
            pl.when(pl.col("video_id").is_null() & pl.col("known_video_id").is_not_null())
            .then(pl.col("known_identity_id"))
            .otherwise(pl.col("identity_id"))
            .alias("identity_id"),
        )
        .drop("known_video_id", "known_identity_id")
    )


def _summary(
    winners: pl.DataFrame,
    writable: pl.DataFrame,
    before: pl.DataFrame,
    after: pl.DataFrame,
    deleted: int,
    incoming: pl.DataFrame,
    kept_rows: int,
) -> HoursWritten:
    hours = writable.select("stat_time_hour")
    old = hours.join(before, on="stat_time_hour", how="inner")
    new = hours.join(after, on="stat_time_hour", how="left")
    compared = old.join(new, on="stat_time_hour", suffix="_new", how="left").fill_null(0)
    changed = compared.filter(
        (pl.col("clicks") != pl.col("clicks_new"))
        | (pl.col("conversion") != pl.col("conversion_new"))
        | (pl.col("impressions") != pl.col("impressions_new"))
        | (pl.col("spend") != pl.col("spend_new"))
    )
    return HoursWritten(
        by_hour=_by_hour(winners, writable, before, after, incoming),
        hours_replaced=writable.height,
        hours_kept_newer=winners.height - writable.height,
        new_hours=hours.height - old.height,
        revised_hours=changed.height,
        rows_deleted=int(deleted),
        rows_inserted=incoming.height,
        rows_kept_quarantined=int(kept_rows),
        clicks_revised=int((compared["clicks_new"] - compared["clicks"]).sum() or 0),
        conversions_revised=int((compared["conversion_new"] - compared["conversion"]).sum() or 0),
        spend=float(new["spend"].fill_null(0).sum() or 0.0),
        clicks=int(new["clicks"].fill_null(0).sum() or 0),
        impressions=int(new["impressions"].fill_null(0).sum() or 0),
        written=incoming,
    )


def _by_hour(
    winners: pl.DataFrame, writable: pl.DataFrame, before: pl.DataFrame, after: pl.DataFrame, incoming: pl.DataFrame
) -> pl.DataFrame:
    """What the write did to each hour, so that a run over many windows can say what each window's fetch did."""
    totals = ["stored_rows", "clicks", "conversion", "impressions", "spend"]
    inserted = incoming.group_by("stat_time_hour").len("inserted")
    hours = (
        winners.select("stat_time_hour", "fetched_in_window")
        .join(writable.select("stat_time_hour", pl.lit(True).alias("replaced")), on="stat_time_hour", how="left")
        .join(before.select("stat_time_hour", *totals), on="stat_time_hour", how="left")
        .join(after.select("stat_time_hour", *totals), on="stat_time_hour", how="left", suffix="_after")
        .join(inserted, on="stat_time_hour", how="left")
        .with_columns(pl.col("replaced").fill_null(False), pl.col("inserted").fill_null(0))
    )
    replaced, existed = pl.col("replaced"), pl.col("stored_rows").is_not_null()
    changed = pl.any_horizontal(
        pl.col(c).fill_null(0) != pl.col(f"{c}_after").fill_null(0)
        for c in ("clicks", "conversion", "impressions", "spend")
    )
    kept = (pl.col("stored_rows_after").fill_null(0) - pl.col("inserted")).clip(lower_bound=0)
    after_or_zero = lambda c: pl.when(replaced).then(pl.col(f"{c}_after").fill_null(0)).otherwise(0)  # noqa: E731
    return hours.select(
        "stat_time_hour",
        "fetched_in_window",
        "replaced",
        (replaced & ~existed).alias("new"),
        (replaced & existed & changed).alias("revised"),
        pl.when(replaced & existed)
        .then(pl.col("clicks_after").fill_null(0) - pl.col("clicks"))
        .otherwise(0)
        .alias("clicks_revised"),
        pl.when(replaced & existed)
        .then(pl.col("conversion_after").fill_null(0) - pl.col("conversion"))
        .otherwise(0)
        .alias("conversions_revised"),
        pl.when(replaced).then(pl.col("stored_rows").fill_null(0) - kept).otherwise(0).alias("rows_deleted"),
        pl.when(replaced).then(kept).otherwise(0).alias("rows_kept_quarantined"),
        after_or_zero("spend").alias("spend"),
        after_or_zero("clicks").alias("clicks"),
        after_or_zero("impressions").alias("impressions"),
    )


def replace_fetched_hours(
    connection: duckdb.DuckDBPyConnection, fetches: list[ParsedFetch], window_range: tuple[datetime, datetime]
) -> HoursWritten:
    """:func:`replace_ad_hours` with the rows, coverage, kept keys and quarantine of usable parsed fetches."""
    kept = [f.kept_keys.with_columns(pl.lit(utc_naive(f.window_start)).alias("fetched_in_window")) for f in fetches]
    return replace_ad_hours(
        connection,
        pl.concat([f.rows for f in fetches]),
        pl.concat([f.coverage for f in fetches]),
        pl.concat(kept),
        pl.concat([f.quarantine for f in fetches]),
        window_range,
    )
