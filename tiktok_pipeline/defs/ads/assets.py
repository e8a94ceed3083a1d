"""Ads (group ``ads``): hourly ad metrics from the API for Business and CTR beside organic proxies.

- ``raw_ad_metrics``: every 5-minute window re-fetches the hourly ``AUCTION_AD`` report for its
  lookback (``TIKTOK_AD_LOOKBACK_HOURS`` before the window's end, current hour included), lands the
  raw answers under ``data/landing/business_api/report/``, and replaces those hours in the table (one
  row per ad and hour): revised hours are corrected, never double-counted, and never overwritten by
  an older fetch (see ``tiktok_pipeline/ad_hours.py``).
- ``ad_velocity``: per window and video, the ads' CTR over the trailing hour, its 30-minute change,
  the 2-second-view and profile-visit ratios, beside organic proxies (like, comment, share rates)
  for every observed video (``tiktok_pipeline/metrics/ctr.py``).

Both run in their own job, ``ad_metrics_job``, launched once per closed window by
``ad_metrics_sensor`` after that window's video metrics are in (or after a short wait). Ads therefore
never delay or fail the video pipeline's runs: a revoked ads token or an API outage fails only the ads
run, and the next window's lookback fetches the missed hours again.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from tiktok_pipeline.defs.resources import BusinessApiResource, TrackingRegistryResource
from tiktok_pipeline.defs.videos.assets import KINDS, _check, _range
from tiktok_pipeline.defs.videos.jobs import latest_closed_window
from tiktok_pipeline.governance.markdown import markdown_table
from tiktok_pipeline.ingest.landing import landing_path, read_landing, write_landing
from tiktok_pipeline.metrics.ctr import CHANGE, SPAN, ad_rates, ad_velocity, organic_rates
from tiktok_pipeline.quality.ad_schemas import ad_velocity_schema, campaigns_in_registry, raw_ad_metrics_schema
from tiktok_pipeline.quality.checks import validate_schema
from tiktok_pipeline.settings import Settings
from tiktok_pipeline.sources.business_api.reporting import (
    LANDING_SOURCE,
    FetchPlan,
    ParsedFetch,
    fetch_window,
    parse_fetch,
    plan_fetch,
)
from tiktok_pipeline.warehouse.ad_hours import replace_ad_hours
from tiktok_pipeline.warehouse.io import (
    WRITER_POOL,
    WarehouseResource,
    Write,
    read_frame,
    replace_windows,
    table_exists,
)
from tiktok_pipeline.warehouse.tables import AD_VELOCITY, ENRICHED_VIDEO_METRICS, RAW_AD_METRICS
from tiktok_pipeline.windows import WINDOW, utc_naive, window_from_key, window_key, window_starts

ADS_GROUP = "ads"
AD_JOB_NAME = "ad_metrics_job"
ORGANIC_HISTORY = timedelta(hours=24)
"""How far back ad_velocity looks for an organic 30-minute baseline."""

RAW_AD_DOC = """One row per ad and hour (`stat_time_hour`, UTC): impressions, clicks, spend, conversions, video plays,
2s/6s views, likes, comments, shares, follows and profile visits, as TikTok's API for Business reports them.

Each window re-fetches the current hour and the `TIKTOK_AD_LOOKBACK_HOURS` before it (`report/integrated/get`,
AUCTION_AD, all pages, then `ad/get` for the boosted video of each Spark Ad) and **replaces** those hours in one
transaction: attribution revisions correct them instead of adding to them, and an hour is only replaced by a
fetch at least as recent as the stored one, so re-running an old window never brings back staler numbers.
Raw answers are landed under `data/landing/business_api/report/` first; rows that fail validation go to
`quarantined_records` (asset = raw_ad_metrics) and keep their last good value here. `campaign_name` equals
the tracking registry's campaign ids; `video_id` links to the video tables. A window is a partition:
it names the fetch, not the hours (`fetched_in_window`)."""

AD_VELOCITY_DOC = """Per window and video: the Spark Ads' click-through rate (clicks / impressions) over the trailing
60 minutes, its change against the same rate 30 minutes earlier, the 2-second-view and profile-visit
ratios, next to organic CTR proxies for every observed video, boosted or not (like, comment and share
rates; shares gained per view gained over 30 minutes). Hourly ad rows are pro-rated into the trailing
hour (see the column descriptions); campaigns link to the tracking registry."""


class AdReportingResource(dg.ConfigurableResource):
    """Where ad reports are landed and how much of the report each window re-fetches."""

    landing_dir: str
    lookback_hours: int = Field(default=6, ge=1, description="Hours before the window's end re-fetched and replaced.")
    advertiser_timezone: str = Field(
        default="UTC", description="The advertiser account's time zone (report dates, hours)."
    )
    page_size: int = Field(default=1000, ge=1, le=1000, description="Rows per report page.")


class RawAdMetricsConfig(dg.Config):
    """Run options for fetching ad reports."""

    refetch: bool = False
    """Call the API again even when a window's report is already landed (the new fetch replaces hours only
    where it is at least as recent as what is stored)."""


def _land(
    client,
    ad_reporting: AdReportingResource,
    advertiser_id: str,
    window_start: datetime,
    now: datetime,
    refetch: bool,
    observe_at_window_end: bool,
) -> tuple[list[dict], Path, bool]:
    """A window's landed fetch: re-read when landed and complete, else fetched and landed, as of the
    window's end when ``observe_at_window_end`` (a simulator), else as of now."""
    root = Path(ad_reporting.landing_dir)
    path = landing_path(root, LANDING_SOURCE, window_start)
    if path.exists() and not refetch:
        records = read_landing(path)
        if not any(record.get("error") for record in records):
            return records, path, False
    fetched_at = window_start + WINDOW if observe_at_window_end else now
    plan: FetchPlan = plan_fetch(
        window_start, fetched_at, ad_reporting.lookback_hours, ad_reporting.advertiser_timezone
    )
    records = fetch_window(client, advertiser_id, plan, page_size=ad_reporting.page_size)
    write_landing(path, records)
    return records, path, True


def build_ad_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """``raw_ad_metrics`` and ``ad_velocity`` on ``partitions_def``, with their checks."""
    common = dict(
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WRITER_POOL,
        group_name=ADS_GROUP,
        kinds=KINDS,
    )

    @dg.asset(
        name="raw_ad_metrics",
        description=RAW_AD_DOC,
        metadata=RAW_AD_METRICS.asset_metadata,
        check_specs=[
            dg.AssetCheckSpec(
                "raw_ad_metrics_schema",
                asset="raw_ad_metrics",
                blocking=True,
                description="Structure (Pandera) of the rows written: types, ids of digits, non-negative counts and spend, "
                "unique (ad, hour), hours on the hour, fetched after the hour began. Blocking.",
            ),
            dg.AssetCheckSpec(
                "campaigns_in_registry",
                asset="raw_ad_metrics",
                description="Every ad's campaign_name is a campaign id of the tracking registry (the ads ↔ campaigns link).",
            ),
        ],
        **common,
    )
    def raw_ad_metrics(
        context: dg.AssetExecutionContext,
        config: RawAdMetricsConfig,
        business_api: BusinessApiResource,
        ad_reporting: AdReportingResource,
        tracking_registry: TrackingRegistryResource,
        warehouse: WarehouseResource,
    ):
        """Re-fetch each window's lookback of hourly ad rows, land them, and replace those hours."""
        start, end = _range(context)
        now = datetime.now(UTC)
        root = Path(ad_reporting.landing_dir)
        fetches: list[ParsedFetch] = []
        refetched = 0
        with business_api.client() as client:
            for window_start in window_starts(start, end):
                if window_start + WINDOW > now:
                    raise dg.Failure(
                        description=f"window {window_key(window_start)} has not closed yet; its ads cannot be fetched"
                    )
                records, path, fetched = _land(
                    client,
                    ad_reporting,
                    business_api.advertiser_id,
                    window_start,
                    now,
                    config.refetch,
                    business_api.observe_at_window_end,
                )
                refetched += fetched
                fetches.append(parse_fetch(records, str(path.relative_to(root)), window_start))
            stats = dict(client.stats)
        usable = [f for f in fetches if f.error is None]
        failed = {window_key(f.window_start): f.error for f in fetches if f.error is not None}
        for key, error in failed.items():
            context.log.error(f"ads of window {key} not used: {error}")
        written = None
        if usable:
            rows = pl.concat([f.rows for f in usable])
            coverage = pl.concat([f.coverage for f in usable])
            kept = pl.concat(
                [f.kept_keys.with_columns(pl.lit(utc_naive(f.window_start)).alias("fetched_in_window")) for f in usable]
            )
            quarantine = pl.concat([f.quarantine for f in usable])
            with warehouse.connection() as connection:
                written = replace_ad_hours(connection, rows, coverage, kept, quarantine, (start, end))
        if failed:
            raise dg.Failure(
                description=f"{len(failed)} of {len(fetches)} windows could not be fetched; "
                f"{'the others were written' if usable else 'nothing was written'}. First: {next(iter(failed.values()))}",
                metadata={"failures": dg.MetadataValue.json(failed)},
            )
        assert written is not None
        registry_campaigns = {c for creator in tracking_registry.load().creators for c in creator.campaign_ids}
        yield _check(
            "raw_ad_metrics",
            "raw_ad_metrics_schema",
            validate_schema(raw_ad_metrics_schema(), written.written),
            dg.AssetCheckSeverity.ERROR,
        )
        yield _check(
            "raw_ad_metrics",
            "campaigns_in_registry",
            campaigns_in_registry(written.written, registry_campaigns),
            dg.AssetCheckSeverity.WARN,
        )
        by_campaign = (
            written.written.group_by("campaign_name")
            .agg(
                pl.col("spend").sum(),
                pl.col("impressions").sum(),
                pl.col("clicks").sum(),
                pl.col("ad_id").n_unique().alias("ads"),
            )
            .sort("spend", descending=True)
        )
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": written.rows_inserted,
                "windows": len(fetches),
                "windows_fetched": refetched,
                "windows_reparsed": len(fetches) - refetched,
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
                "ads": written.written["ad_id"].n_unique(),
                "videos": written.written["video_id"].drop_nulls().n_unique(),
                "quarantined_records": sum(f.quarantine.height for f in usable),
                "duplicate_rows": sum(f.duplicates for f in usable),
                "rows_without_video": sum(f.ads_without_video for f in usable),
                "report_pages": sum(f.pages for f in usable),
                "requests": int(sum(v for k, v in stats.items() if k.startswith("requests."))),
                "retries": int(stats.get("retries", 0)),
                "throttled": int(stats.get("throttled", 0)),
                "server_errors": int(stats.get("server_errors", 0)),
                "spend_by_campaign": dg.MetadataValue.md(markdown_table(by_campaign)),
                "landing_files": dg.MetadataValue.json([f.landing_file for f in fetches][:50]),
            }
        )

    @dg.asset(
        name="ad_velocity",
        deps=["raw_ad_metrics", "enriched_video_metrics"],
        description=AD_VELOCITY_DOC,
        metadata=AD_VELOCITY.asset_metadata,
        check_specs=[
            dg.AssetCheckSpec(
                "ad_velocity_schema",
                asset="ad_velocity",
                description="Structure (Pandera): unique (video, window), windows inside the partition, rates within [0, 1].",
            )
        ],
        **common,
    )
    def ad_velocity_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        """CTR, its 30-minute change and organic CTR proxies per video and window."""
        start, end = _range(context)
        starts = [utc_naive(w) for w in window_starts(start, end)]
        with warehouse.connection() as connection:
            hourly = RAW_AD_METRICS.empty()
            if table_exists(connection, RAW_AD_METRICS.name):
                hourly = read_frame(
                    connection,
                    f"SELECT * FROM {RAW_AD_METRICS.name} WHERE stat_time_hour >= ? AND stat_time_hour < ?",
                    [utc_naive(start + WINDOW - CHANGE - SPAN) - timedelta(hours=1), utc_naive(end)],
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
            velocity = AD_VELOCITY.conform(ad_velocity(ad_rates(hourly, starts), organic_rates(current, history)))
            replace_windows(connection, start, end, Write(AD_VELOCITY, velocity))
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
        yield _check(
            "ad_velocity",
            "ad_velocity_schema",
            validate_schema(ad_velocity_schema(start, end), velocity),
            dg.AssetCheckSeverity.ERROR,
        )
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": velocity.height,
                "boosted_videos": boosted["video_id"].n_unique(),
                "organic_only_videos": velocity.filter(pl.col("active_ads") == 0)["video_id"].n_unique(),
                "mean_ctr": float(boosted["ctr"].mean() or 0.0),
                "mean_share_rate": float(velocity["share_rate"].mean() or 0.0),
                "top_ctr_gainers": dg.MetadataValue.md(markdown_table(movers)),
            }
        )

    return [raw_ad_metrics, ad_velocity_asset]


def build_ad_job() -> "dg.UnresolvedAssetJobDefinition":
    """The ads job: raw_ad_metrics → ad_velocity for a window (or a range of windows, as one run)."""
    return dg.define_asset_job(
        AD_JOB_NAME,
        selection=dg.AssetSelection.groups(ADS_GROUP),
        description=(
            "Re-fetches the hourly ad report for a window's lookback from TikTok's API for Business (or the simulator), "
            "replaces those hours in raw_ad_metrics and computes CTR and organic proxies in ad_velocity. Separate from "
            "window_pipeline_job so ad failures never fail or delay the video runs."
        ),
    )


def build_ad_metrics_sensor(
    job: "dg.UnresolvedAssetJobDefinition",
    *,
    partitions_start: datetime,
    wait_for_videos: timedelta,
    default_on: bool,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    minimum_interval_seconds: int = 20,
) -> dg.SensorDefinition:
    """One ``ad_metrics_job`` run per closed window, once that window's video metrics are in."""

    @dg.sensor(
        name="ad_metrics_sensor",
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING if default_on else dg.DefaultSensorStatus.STOPPED,
        description=(
            "Launches ad_metrics_job once per closed 5-minute window (run key = window), as soon as "
            "enriched_video_metrics holds that window, or after TIKTOK_AD_WAIT_FOR_VIDEOS_MINUTES without it. "
            "Only the latest closed window is launched: the lookback of each run re-fetches the hours of any "
            "window skipped while the daemon was down."
        ),
    )
    def ad_metrics_sensor(context: dg.SensorEvaluationContext):
        """Launch the ads run for the latest closed window when its video metrics are ready."""
        now = clock()
        latest = latest_closed_window(now)
        if latest < partitions_start:
            return dg.SkipReason(f"window {window_key(latest)} is before TIKTOK_PARTITIONS_START")
        if context.cursor and window_from_key(context.cursor) >= latest:
            return dg.SkipReason(f"ads of window {context.cursor} already requested")
        key = window_key(latest)
        ready = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("enriched_video_metrics"), asset_partitions=[key]), limit=1
        ).records
        waited = now - (latest + WINDOW)
        if not ready and waited < wait_for_videos:
            return dg.SkipReason(f"waiting for enriched_video_metrics of {key} ({waited.total_seconds():.0f}s so far)")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(run_key=key, partition_key=key, tags={"tiktok/videos_ready": str(bool(ready)).lower()})
            ],
            cursor=key,
        )

    return ad_metrics_sensor


def build_ad_definitions(settings: Settings, partitions_def: dg.PartitionsDefinition) -> dg.Definitions:
    """The ads assets, job, sensor and the ``ad_reporting`` resource for ``settings``.

    The ``business_api``, ``tracking_registry`` and ``warehouse`` resources come from the main definitions.
    """
    job = build_ad_job()
    return dg.Definitions(
        assets=build_ad_assets(partitions_def),
        jobs=[job],
        sensors=[
            build_ad_metrics_sensor(
                job,
                partitions_start=settings.partitions_start,
                wait_for_videos=timedelta(minutes=settings.ads.ad_wait_for_videos_minutes),
                default_on=settings.ads_sensor_on,
            )
        ],
        resources={
            "ad_reporting": AdReportingResource(
                landing_dir=str(settings.landing_dir),
                lookback_hours=settings.ads.ad_lookback_hours,
                advertiser_timezone=settings.ads.advertiser_timezone,
                page_size=settings.ads.ad_report_page_size,
            )
        },
    )
