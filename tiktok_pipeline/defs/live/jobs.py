"""The LIVE intake job: what ``live_intake_sensor`` launches (its runs carry the UNOFFICIAL tags into alerts)."""

import dagster as dg

from tiktok_pipeline.defs.live.assets import LIVE_GROUP, UNOFFICIAL_TAGS

LIVE_JOB_NAME = "live_intake_job"

live_intake_job = dg.define_asset_job(
    LIVE_JOB_NAME,
    selection=dg.AssetSelection.groups(LIVE_GROUP),
    tags=UNOFFICIAL_TAGS,
    description=(
        "UNOFFICIAL SOURCE. Takes the LIVE event lines added to TIKTOK_LIVE_INTAKE_DIR since the last take, lands and"
        " validates them (live_events_raw, rejected lines to live_events_rejected) and computes per-stream figures"
        " (live_stream_metrics). Its runs carry the tag tiktok/source_terms=unofficial, which alerts about them show."
    ),
    executor_def=dg.in_process_executor,
)
