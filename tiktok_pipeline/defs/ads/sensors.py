"""``ad_metrics_sensor``: one ads run per closed window, once that window's video metrics are in (or after a wait).

It carries state (the last window requested, in its cursor) and waits on another domain's asset, so it
stays a sensor; ``ad_velocity`` downstream is declarative.
"""

from datetime import UTC, datetime

import dagster as dg

from tiktok_pipeline.defs.ads.jobs import AD_JOB_NAME
from tiktok_pipeline.defs.ads.resources import AdReportingResource
from tiktok_pipeline.defs.partitions import WINDOWS
from tiktok_pipeline.ingest.polling.ads import decide_ad_window
from tiktok_pipeline.settings import load_settings
from tiktok_pipeline.windows import latest_closed_window


def ad_metrics_tick(
    context: dg.SensorEvaluationContext, ad_reporting: AdReportingResource, now: datetime
) -> dg.SensorResult | dg.SkipReason:
    """The sensor's evaluation at ``now``: a run request for the latest closed window, or why not."""

    def videos_ready(key: str) -> bool:
        return bool(
            context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("enriched_video_metrics"), asset_partitions=[key]), limit=1
            ).records
        )

    decision = decide_ad_window(
        latest_closed_window(now),
        now,
        last_requested=context.cursor,
        partitions_start=WINDOWS.start,
        wait_for_videos=ad_reporting.wait_for_videos,
        videos_ready=videos_ready,
    )
    if decision.key is None:
        return dg.SkipReason(decision.reason)
    request = dg.RunRequest(
        run_key=decision.key,
        partition_key=decision.key,
        tags={
            "tiktok/videos_ready": str(decision.videos_ready).lower(),
            "tiktok/attribution_days": str(decision.attribution_days).lower(),
        },
        run_config=(
            {"ops": {"raw_ad_metrics": {"config": {"attribution_days": True}}}} if decision.attribution_days else None
        ),
    )
    return dg.SensorResult(run_requests=[request], cursor=decision.key)


@dg.sensor(
    name="ad_metrics_sensor",
    job_name=AD_JOB_NAME,
    minimum_interval_seconds=20,
    default_status=dg.DefaultSensorStatus.RUNNING if load_settings().ads_sensor_on else dg.DefaultSensorStatus.STOPPED,
    description=(
        "Launches ad_metrics_job once per closed 5-minute window (run key = window), as soon as "
        "enriched_video_metrics holds that window, or after TIKTOK_AD_WAIT_FOR_VIDEOS_MINUTES without it. "
        "Only the latest closed window is launched: the lookback of each run re-fetches the hours of any "
        "window skipped while the daemon was down. The first window launched on a UTC day also re-fetches the "
        "TIKTOK_AD_ATTRIBUTION_DAYS days before its lookback (run config attribution_days, tag tiktok/attribution_days)."
    ),
)
def ad_metrics_sensor(context: dg.SensorEvaluationContext, ad_reporting: AdReportingResource):
    """Launch the ads run for the latest closed window when its video metrics are ready."""
    return ad_metrics_tick(context, ad_reporting, datetime.now(UTC))
