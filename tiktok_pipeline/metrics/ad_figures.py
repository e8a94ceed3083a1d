"""What a run of the ads assets reports, window by window: figures (numbers the UI plots) and small Markdown tables.

A window's figures describe what **that window** did, however many windows the run covered:

- ``raw_ad_metrics``: the window's fetch (or re-parse of its landing file) and the hours it wrote. The table
  holds one row per ad and hour, and in a run over several windows each hour is taken from the newest fetch
  (``warehouse/ad_hours.py``), so **a window's rows are the rows whose ``fetched_in_window`` is that window**:
  the hours of its lookback that no newer fetch of the run, nor a newer stored fetch, took over.
- ``ad_velocity``: the rows whose ``window_start`` is the window.

The client's request counters cover the whole run: they are a one-window run's own figures, and ``range_...``
totals (see :func:`raw_ad_range_figures`) for a run over several windows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from tiktok_pipeline.governance.markdown import markdown_table
from tiktok_pipeline.governance.window_figures import Figures, Markdown, by_window, range_totals
from tiktok_pipeline.ingest.parse.ads import ParsedFetch
from tiktok_pipeline.warehouse.ad_hours import HoursWritten
from tiktok_pipeline.windows import window_key

REQUEST_FIGURES = ("requests", "retries", "throttled", "server_errors")
"""The Business client's counters: one run's, not one window's."""


def request_figures(stats: Mapping[str, float]) -> dict[str, int]:
    """The client's counters of a run."""
    return {
        "requests": int(sum(v for k, v in stats.items() if k.startswith("requests."))),
        "retries": int(stats.get("retries", 0)),
        "throttled": int(stats.get("throttled", 0)),
        "server_errors": int(stats.get("server_errors", 0)),
    }


def spend_by_campaign(rows: pl.DataFrame) -> Markdown:
    table = (
        rows.group_by("campaign_name")
        .agg(
            pl.col("spend").sum(),
            pl.col("impressions").sum(),
            pl.col("clicks").sum(),
            pl.col("ad_id").n_unique().alias("ads"),
        )
        .sort("spend", descending=True)
    )
    return Markdown(markdown_table(table))


def raw_ad_figures(written: HoursWritten, fetches: list[ParsedFetch], fetched: Mapping[str, bool]) -> Figures:
    """Each window's figures of one raw_ad_metrics write: its fetch, the hours it replaced, revised or lost to a
    newer fetch, the rows it wrote, and the stored spend, clicks and impressions of the hours it replaced (rows
    kept from an earlier fetch because this one quarantined them included).

    ``fetches``: every window's parsed fetch (all usable); ``fetched``: window key → whether its report was
    fetched (else re-parsed from its landing file).
    """
    keys = [window_key(f.window_start) for f in fetches]
    rows = by_window(written.written, keys, column="fetched_in_window")
    hours = by_window(written.by_hour, keys, column="fetched_in_window")
    figures: Figures = {}
    for key, fetch in zip(keys, fetches, strict=True):
        mine, won = rows[key], hours[key]
        replaced = won.filter(pl.col("replaced"))
        figures[key] = {
            "dagster/row_count": mine.height,
            "fetched": fetched[key],
            "landing_file": fetch.landing_file,
            "hours_covered": len(fetch.hours),
            "attribution_hours": fetch.attribution_hours,
            "hours_replaced": replaced.height,
            "hours_kept_newer": won.height - replaced.height,
            "hours_taken_by_newer_window": len(fetch.hours) - won.height,
            "new_hours": int(replaced["new"].sum()),
            "revised_hours": int(replaced["revised"].sum()),
            "clicks_revised": int(replaced["clicks_revised"].sum()),
            "conversions_revised": int(replaced["conversions_revised"].sum()),
            "rows_deleted": int(replaced["rows_deleted"].sum()),
            "rows_kept_quarantined": int(replaced["rows_kept_quarantined"].sum()),
            "spend_total": round(float(replaced["spend"].sum()), 2),
            "clicks_total": int(replaced["clicks"].sum()),
            "impressions_total": int(replaced["impressions"].sum()),
            "ads": mine["ad_id"].n_unique(),
            "videos": mine["video_id"].drop_nulls().n_unique(),
            "quarantined_records": fetch.quarantine.height,
            "dst_quarantined_rows": fetch.dst_rows,
            "advertiser_timezone": fetch.timezone_source or fetch.timezone,
            "duplicate_rows": fetch.duplicates,
            "rows_without_video": fetch.ads_without_video,
            "report_pages": fetch.pages,
            "spend_by_campaign": spend_by_campaign(mine),
        }
    return figures


def raw_ad_range_figures(
    written: HoursWritten, by_window_figures: Figures, stats: Mapping[str, float]
) -> dict[str, Any]:
    """Totals of a run over several windows, prefixed ``range_`` (the same on every window's materialisation)."""
    windows = list(by_window_figures.values())
    return {
        **range_totals(by_window_figures),
        "range_windows_fetched": sum(bool(f["fetched"]) for f in windows),
        "range_windows_reparsed": sum(not f["fetched"] for f in windows),
        "range_hours_replaced": written.hours_replaced,
        "range_hours_kept_newer": written.hours_kept_newer,
        "range_spend_total": round(written.spend, 2),
        "range_quarantined_records": sum(int(f["quarantined_records"]) for f in windows),
        **{f"range_{name}": value for name, value in request_figures(stats).items()},
        "range_spend_by_campaign": spend_by_campaign(written.written),
    }


def ad_velocity_figures(velocity: pl.DataFrame, keys: list[str]) -> Figures:
    """Each window's rows, boosted and organic videos, mean CTR and share rate, and its ten boosted videos
    whose CTR gained most in 30 minutes."""
    figures: Figures = {}
    for key, part in by_window(velocity, keys).items():
        boosted = part.filter(pl.col("active_ads") > 0)
        movers = (
            boosted.sort("ctr_change_30m", descending=True, nulls_last=True)
            .head(10)
            .select(
                "video_id",
                "creator_username",
                "ad_campaign_names",
                "impressions_60m",
                "ctr",
                "ctr_change_30m",
                "share_rate",
            )
            .with_columns(pl.col("ad_campaign_names").list.join(","))
        )
        figures[key] = {
            "dagster/row_count": part.height,
            "boosted_videos": boosted["video_id"].n_unique(),
            "organic_only_videos": part.filter(pl.col("active_ads") == 0)["video_id"].n_unique(),
            "mean_ctr": float(boosted["ctr"].mean() or 0.0),  # type: ignore[arg-type]  # a Float64 column's mean
            "mean_share_rate": float(part["share_rate"].mean() or 0.0),  # type: ignore[arg-type]
            "top_ctr_gainers": Markdown(markdown_table(movers)),
        }
    return figures
