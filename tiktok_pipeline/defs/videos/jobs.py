"""The window job; the polling sensor (defs/sensors.py) launches it once per closed 5-minute window."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from tiktok_pipeline.windows import WINDOW

WINDOW_JOB_NAME = "window_pipeline_job"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


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


def latest_closed_window(moment: datetime) -> datetime:
    """Start of the last 5-minute window that had closed at ``moment``."""
    moment = moment.astimezone(UTC)
    floored = moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)
    return floored - WINDOW
