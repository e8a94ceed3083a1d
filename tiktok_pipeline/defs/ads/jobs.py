"""The ads job: what ``ad_metrics_sensor`` launches once per closed window."""

import dagster as dg

AD_JOB_NAME = "ad_metrics_job"

ad_metrics_job = dg.define_asset_job(
    AD_JOB_NAME,
    selection=dg.AssetSelection.assets("raw_ad_metrics"),
    description=(
        "Re-fetches the hourly ad report for a window's lookback from TikTok's API for Business (or the simulator) "
        "and replaces those hours in raw_ad_metrics (a range of windows runs as one run); with run config "
        "attribution_days (set by ad_metrics_sensor once a day) also the TIKTOK_AD_ATTRIBUTION_DAYS before the "
        "lookback, which attribution keeps revising; ad_velocity follows by "
        "declarative automation. Separate from window_pipeline_job so ad failures never fail or delay the video runs. "
        "Its step runs in the run's own process (in-process executor), no step process to start."
    ),
    executor_def=dg.in_process_executor,
)
