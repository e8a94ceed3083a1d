"""What a run of the ads assets reports: figures (numbers the UI plots) and small Markdown tables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from tiktok_pipeline.governance.markdown import markdown_table
from tiktok_pipeline.ingest.parse.ads import ParsedFetch
from tiktok_pipeline.warehouse.ad_hours import HoursWritten


def raw_ad_figures(
    written: HoursWritten, fetches: list[ParsedFetch], fetched: int, stats: Mapping[str, float]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Figures and tables of one raw_ad_metrics write: hours, revisions, volumes, requests, spend by campaign.

    ``fetches``: every window's parsed fetch (all usable); ``fetched``: how many were fetched (the others
    were re-parsed from their landing files); ``stats``: the client's counters.
    """
    rows = written.written
    by_campaign = (
        rows.group_by("campaign_name")
        .agg(
            pl.col("spend").sum(),
            pl.col("impressions").sum(),
            pl.col("clicks").sum(),
            pl.col("ad_id").n_unique().alias("ads"),
        )
        .sort("spend", descending=True)
    )
    figures = {
        "dagster/row_count": written.rows_inserted,
        "windows": len(fetches),
        "windows_fetched": fetched,
        "windows_reparsed": len(fetches) - fetched,
        "hours_replaced": written.hours_replaced,
        "hours_kept_newer": written.hours_kept_newer,
        "new_hours": written.new_hours,
        "revised_hours": written.revised_hours,
        "clicks_revised": written.clicks_revised,
        "conversions_revised": written.conversions_revised,
        "rows_deleted": written.rows_deleted,
        "rows_kept_quarantined": written.rows_kept_quarantined,
        "spend_total": round(written.spend, 2),
        "clicks_total": written.clicks,
        "impressions_total": written.impressions,
        "ads": rows["ad_id"].n_unique(),
        "videos": rows["video_id"].drop_nulls().n_unique(),
        "duplicate_rows": sum(f.duplicates for f in fetches),
        "rows_without_video": sum(f.ads_without_video for f in fetches),
        "report_pages": sum(f.pages for f in fetches),
        "requests": int(sum(v for k, v in stats.items() if k.startswith("requests."))),
        "retries": int(stats.get("retries", 0)),
        "throttled": int(stats.get("throttled", 0)),
        "server_errors": int(stats.get("server_errors", 0)),
    }
    return figures, {"spend_by_campaign": markdown_table(by_campaign)}


def ad_velocity_figures(velocity: pl.DataFrame) -> tuple[dict[str, Any], dict[str, str]]:
    """Figures of an ad_velocity write, and its ten boosted videos whose CTR gained most in 30 minutes."""
    boosted = velocity.filter(pl.col("active_ads") > 0)
    movers = (
        boosted.sort("ctr_change_30m", descending=True, nulls_last=True)
        .head(10)
        .select(
            "window_start",
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
    figures = {
        "dagster/row_count": velocity.height,
        "boosted_videos": boosted["video_id"].n_unique(),
        "organic_only_videos": velocity.filter(pl.col("active_ads") == 0)["video_id"].n_unique(),
        "mean_ctr": float(boosted["ctr"].mean() or 0.0),  # type: ignore[arg-type]  # a Float64 column's mean
        "mean_share_rate": float(velocity["share_rate"].mean() or 0.0),  # type: ignore[arg-type]
    }
    return figures, {"top_ctr_gainers": markdown_table(movers)}
