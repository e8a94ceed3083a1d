"""The window job; the polling sensor (sensors.py) launches it once per closed 5-minute window."""

from __future__ import annotations

import dagster as dg

from tiktok_pipeline.windows import RANGE_END_TAG, RANGE_START_TAG, latest_closed_window

__all__ = ["RANGE_END_TAG", "RANGE_START_TAG", "WINDOW_JOB_NAME", "latest_closed_window", "window_pipeline_job"]
# RANGE_*_TAG and latest_closed_window live in tiktok_pipeline.windows; re-exported until ads/conversions import them there

WINDOW_JOB_NAME = "window_pipeline_job"

window_pipeline_job = dg.define_asset_job(
    WINDOW_JOB_NAME,
    selection=dg.AssetSelection.groups("collect", "process"),
    description=(
        "Collects one 5-minute window from TikTok (or the simulator), lands the raw responses, and "
        "builds enriched metrics and velocity for it. Launch it over a range of windows to backfill: "
        "the range runs as one run."
    ),
)
