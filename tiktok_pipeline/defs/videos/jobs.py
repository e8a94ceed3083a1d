"""The window job; the polling sensor (sensors.py) launches it once per closed 5-minute window."""

from __future__ import annotations

import dagster as dg

WINDOW_JOB_NAME = "window_pipeline_job"

window_pipeline_job = dg.define_asset_job(
    WINDOW_JOB_NAME,
    selection=dg.AssetSelection.groups("collect", "process"),
    description=(
        "Collects one 5-minute window from TikTok (or the simulator), lands the raw responses, and "
        "builds enriched metrics and velocity for it. Launch it over a range of windows to backfill: "
        "the range runs as one run. Its steps run one after the other in the run's own process (in-process "
        "executor): a process start per step cost seconds of every window's freshness."
    ),
    executor_def=dg.in_process_executor,
)
