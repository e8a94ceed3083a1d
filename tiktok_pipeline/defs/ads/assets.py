"""Ads (group ``ads``): hourly ad metrics from the API for Business and CTR beside organic proxies.

- ``raw_ad_metrics``: every 5-minute window re-fetches the hourly ``AUCTION_AD`` report for its
  lookback (``TIKTOK_AD_LOOKBACK_HOURS`` before the window's end, current hour included), lands the
  raw answers under ``data/landing/business_api/report/`` (the landing path every source uses), and
  replaces those hours in the table (one row per ad and hour): revised hours are corrected, never
  double-counted, and never overwritten by an older fetch (``tiktok_pipeline/warehouse/ad_hours.py``).
  Launched by ``ad_metrics_sensor`` (``ad_metrics_job``), once per closed window; the first window of each
  day also re-fetches the attribution days (run config ``attribution_days``, landed under
  ``data/landing/business_api/report_days/``), since TikTok keeps revising conversions for days.
- ``ad_velocity``: per window and video, the ads' CTR over the trailing hour, its 30-minute change,
  the 2-second-view and profile-visit ratios, beside organic proxies for every observed video
  (``tiktok_pipeline/metrics/ctr.py``). Declarative: materialised by ``automation_condition_sensor`` as
  soon as a recent window has both its ads and its video metrics.

Ads never delay or fail the video pipeline's runs: a revoked ads token or an API outage fails only the
ads run, and the next window's lookback fetches the missed hours again.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from tiktok_pipeline.defs.ads.checks import AD_VELOCITY_CHECKS, BLOCKING, RAW_AD_CHECKS
from tiktok_pipeline.defs.ads.resources import AdReportingResource
from tiktok_pipeline.defs.metadata import (
    KINDS,
    check_specs,
    metadata_values,
    partition_range,
    report_windows,
    severities,
    window_check_events,
)
from tiktok_pipeline.defs.partitions import WINDOW_FRESHNESS, WINDOWS
from tiktok_pipeline.defs.resources import BusinessApiResource, TrackingRegistryResource
from tiktok_pipeline.governance.window_figures import range_totals
from tiktok_pipeline.ingest.collect.ads import land_ad_windows
from tiktok_pipeline.ingest.land import WindowNotObservableError
from tiktok_pipeline.ingest.parse.ads import PARSER_VERSION as ADS_PARSER_VERSION
from tiktok_pipeline.ingest.parse.ads import parse_landed_ads, per_window
from tiktok_pipeline.metrics.ad_figures import (
    ad_velocity_figures,
    raw_ad_figures,
    raw_ad_range_figures,
    request_figures,
)
from tiktok_pipeline.metrics.ctr import ad_velocity_in_warehouse
from tiktok_pipeline.quality.ad_schemas import ad_velocity_by_window, raw_ad_by_window
from tiktok_pipeline.sources.http.calllog import call_context, recording
from tiktok_pipeline.warehouse.ad_hours import replace_fetched_hours
from tiktok_pipeline.warehouse.call_log import write_calls
from tiktok_pipeline.warehouse.io import WarehouseResource, Write, replace_windows
from tiktok_pipeline.warehouse.tables import AD_REPORT_QUARANTINE, AD_VELOCITY, RAW_AD_METRICS
from tiktok_pipeline.windows import window_key, window_starts

ADS_GROUP = "ads"

RAW_AD_DOC = """One row per ad and hour (`stat_time_hour`, UTC): impressions, clicks, spend, conversions, video plays,
2s/6s views, likes, comments, shares, follows and profile visits, as TikTok's API for Business reports them.

Each window re-fetches the current hour and the `TIKTOK_AD_LOOKBACK_HOURS` before it (`report/integrated/get`,
AUCTION_AD, all pages, then `ad/get` for the boosted video of each Spark Ad) and **replaces** those hours in one
transaction: attribution revisions correct them instead of adding to them, and an hour is only replaced by a
fetch at least as recent as the stored one, so re-running an old window never brings back staler numbers.
Attribution keeps revising conversions for days, so once a day (the first window `ad_metrics_sensor` launches on
a UTC day, run config `attribution_days`) the run also re-fetches every hour of the `TIKTOK_AD_ATTRIBUTION_DAYS`
before its lookback, landed under `data/landing/business_api/report_days/`, and replaces them the same way
(`attribution_hours` in its metadata). `ad/get` is asked for every status, so deleted ads keep their video.
Raw answers are landed under `data/landing/business_api/report/` first; rows that fail validation go to
`ad_report_quarantine` (written only by this asset, in the same transaction as the hours) and keep their last
good value here; analysts read them in `quarantined_records` (asset = raw_ad_metrics) with the other sources'.
Each window's materialisation reports its own `quarantined_records` count. `campaign_name` equals
the tracking registry's campaign ids; `video_id` links to the video tables. A window is a partition:
it names the fetch, not the hours (`fetched_in_window`). Each window's materialisation and check evaluations
describe the rows its own fetch wrote (`fetched_in_window` = the window: in a backfill, the hours no newer
window of the run took over); a run over several windows adds `range_...` totals, the request counters among them."""

AD_VELOCITY_DOC = """Per window and video: the Spark Ads' click-through rate (clicks / impressions) over the trailing
60 minutes, its change against the same rate 30 minutes earlier, the 2-second-view and profile-visit
ratios, next to organic CTR proxies for every observed video, boosted or not (like, comment and share
rates; shares gained per view gained over 30 minutes). Hourly ad rows are pro-rated into the trailing
hour (see the column descriptions); campaigns link to the tracking registry.

Materialised automatically (`automation_condition_sensor`) for each of the last 30 minutes' windows once
both its `raw_ad_metrics` and its `enriched_video_metrics` are in, and again when either is re-materialised."""

AD_VELOCITY_AUTOMATION = dg.AutomationCondition.eager().replace(
    "in_latest_time_window", dg.AutomationCondition.in_latest_time_window(timedelta(minutes=30))
)
"""eager(), over the windows of the last 30 minutes instead of the latest only: a window whose ads land a
few minutes late still gets its velocity; older windows are left to backfills."""


WINDOW_TABLE: dict[str, Any] = dict(
    partitions_def=WINDOWS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=ADS_GROUP,
    kinds=KINDS,
    freshness_policy=WINDOW_FRESHNESS,
)
"""What both ads assets share: 5-minute partitions, one run per backfill, window freshness."""


class RawAdMetricsConfig(dg.Config):
    """Run options for fetching ad reports."""

    refetch: bool = False
    """Call the API again even when a window's report is already landed (the new fetch replaces hours only
    where it is at least as recent as what is stored)."""
    attribution_days: bool = False
    """Also re-fetch the TIKTOK_AD_ATTRIBUTION_DAYS days before the lookback (for the run's last window) and
    replace those hours: attribution keeps revising them. ad_metrics_sensor sets it once a day."""


@dg.asset(
    name=RAW_AD_METRICS.name,
    description=RAW_AD_DOC,
    metadata={**RAW_AD_METRICS.asset_metadata, "quarantine_table": AD_REPORT_QUARANTINE.name},
    code_version=ADS_PARSER_VERSION,
    check_specs=check_specs(RAW_AD_METRICS.name, RAW_AD_CHECKS, BLOCKING),
    **WINDOW_TABLE,
)
def raw_ad_metrics(
    context: dg.AssetExecutionContext,
    config: RawAdMetricsConfig,
    business_api: BusinessApiResource,
    ad_reporting: AdReportingResource,
    tracking_registry: TrackingRegistryResource,
    warehouse: WarehouseResource,
):
    """Re-fetch each window's lookback of hourly ad rows, land them, and replace those hours; its calls go to
    api_call_log (their own transaction, written even when a fetch fails)."""
    start, end = partition_range(context)
    root = Path(ad_reporting.landing_dir)
    with (
        recording() as calls,
        call_context(source="business_reporting", purpose="ad report", subject=business_api.advertiser_id),
        business_api.client() as client,
    ):
        try:
            landed = land_ad_windows(
                client,
                business_api.advertiser_id,
                start,
                end,
                now=datetime.now(UTC),
                landing_dir=root,
                options=ad_reporting.options,
                observe_at_window_end=business_api.observe_at_window_end,
                refetch=config.refetch,
                attribution_days=config.attribution_days,
            )
        except WindowNotObservableError as exc:
            raise dg.Failure(description=str(exc)) from exc
        stats = dict(client.stats)
    with warehouse.connection() as connection:
        write_calls(connection, calls)
    fetches = parse_landed_ads(landed, root)
    usable = [f for f in fetches if f.error is None]
    failed = {f"{window_key(f.window_start)} ({f.landing_file})": f.error for f in fetches if f.error is not None}
    for key, error in failed.items():
        context.log.error(f"ads of window {key} not used: {error}")
    written = None
    if usable:
        with warehouse.connection() as connection:
            written = replace_fetched_hours(connection, usable, (start, end))
    if failed:
        raise dg.Failure(
            description=f"{len(failed)} of {len(fetches)} fetches (lookbacks and attribution days) could not be used; "
            f"{'the others were written' if usable else 'nothing was written'}. First: {next(iter(failed.values()))}",
            metadata={"failures": dg.MetadataValue.json(failed)},
        )
    assert written is not None  # every fetch is usable when none failed
    registry_campaigns = {c for creator in tracking_registry.load().creators for c in creator.campaign_ids}
    fetched: dict[str, bool] = {}
    for window in landed:  # a window's lookback says whether it was fetched (its attribution days come after it)
        fetched.setdefault(window_key(window.window_start), window.collected)
    by_window = raw_ad_figures(written, per_window(fetches), fetched)
    if len(by_window) == 1:  # the run is the window's: its request counters are the window's
        for figures in by_window.values():
            figures.update(request_figures(stats))
    report_windows(context, RAW_AD_METRICS.name, by_window)
    totals = raw_ad_range_figures(written, by_window, stats) if len(by_window) > 1 else {}
    yield dg.MaterializeResult(metadata=metadata_values(totals))
    outcomes = raw_ad_by_window(written.written, list(window_starts(start, end)), registry_campaigns)
    yield from window_check_events(context, RAW_AD_METRICS.name, outcomes, severities(RAW_AD_CHECKS))


@dg.asset(
    name=AD_VELOCITY.name,
    deps=[RAW_AD_METRICS.name, "enriched_video_metrics"],
    description=AD_VELOCITY_DOC,
    metadata=AD_VELOCITY.asset_metadata,
    check_specs=check_specs(AD_VELOCITY.name, AD_VELOCITY_CHECKS),
    automation_condition=AD_VELOCITY_AUTOMATION,
    **WINDOW_TABLE,
)
def ad_velocity(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """CTR, its 30-minute change and organic CTR proxies per video and window."""
    start, end = partition_range(context)
    with warehouse.connection() as connection:
        velocity = ad_velocity_in_warehouse(connection, start, end)
        replace_windows(connection, start, end, Write(AD_VELOCITY, velocity))
    starts = list(window_starts(start, end))
    by_window = ad_velocity_figures(velocity, [window_key(s) for s in starts])
    report_windows(context, AD_VELOCITY.name, by_window)
    yield dg.MaterializeResult(metadata=range_totals(by_window) if len(by_window) > 1 else {})
    outcomes = ad_velocity_by_window(velocity, starts)
    yield from window_check_events(context, AD_VELOCITY.name, outcomes, severities(AD_VELOCITY_CHECKS))
