"""The window job and the schedule that runs it for every closed 5-minute window."""

from __future__ import annotations

import dagster as dg

WINDOW_JOB_NAME = "window_pipeline_job"


def build_window_job() -> dg.UnresolvedAssetJobDefinition:
    """Raw snapshots → enriched metrics → velocity for a window (or a range of windows)."""
    return dg.define_asset_job(
        WINDOW_JOB_NAME,
        selection=dg.AssetSelection.groups("collect", "process"),
        description=(
            "Collects one 5-minute window from TikTok (or the simulator), lands the raw responses, and "
            "builds enriched metrics and velocity for it. Launch it over a range of windows to backfill: "
            "the range runs as one run."
        ),
    )


def build_window_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    """Every 5 minutes, run the job for the window that just closed. Running by default."""
    return dg.build_schedule_from_partitioned_job(
        job,
        name="every_closed_window",
        description="Materialises the latest closed 5-minute window every 5 minutes.",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
