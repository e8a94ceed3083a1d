"""The window job and the schedule that runs it for every closed 5-minute window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster as dg

from ..metrics.velocity import LOOKBACK
from ..partitions import WINDOW, window_key

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
    moment = moment.astimezone(timezone.utc)
    floored = moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)
    return floored - WINDOW


def window_request(latest: datetime, *, first_run: bool, warm_up: bool, earliest: datetime) -> dg.RunRequest:
    """The run for the window starting at ``latest``.

    On a fresh warehouse against the simulator (``warm_up``), the run also covers the preceding 30
    minutes, in one run, so velocity has its baseline at once instead of after half an hour.
    """
    start = max(latest - LOOKBACK, earliest) if first_run and warm_up else latest
    if start == latest:
        return dg.RunRequest(run_key=window_key(latest), partition_key=window_key(latest))
    return dg.RunRequest(
        run_key=f"{window_key(start)}...{window_key(latest)}",
        tags={RANGE_START_TAG: window_key(start), RANGE_END_TAG: window_key(latest)},
    )


def build_window_schedule(
    job: dg.UnresolvedAssetJobDefinition, *, partitions_start: datetime, warm_up: bool
) -> dg.ScheduleDefinition:
    """Every 5 minutes, run the job for the window that just closed. Running by default."""

    @dg.schedule(
        name="every_closed_window",
        cron_schedule="*/5 * * * *",
        execution_timezone="UTC",
        job=job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            "Materialises the latest closed 5-minute window every 5 minutes. Against the simulator, the first "
            "run on an empty warehouse also fills the preceding 30 minutes, so velocity appears at once."
        ),
    )
    def every_closed_window(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        """Materialises the latest closed 5-minute window every 5 minutes.

        Against the simulator, the first run on an empty warehouse also fills the preceding 30
        minutes (one run), so velocity numbers appear within minutes of starting the UI.
        """
        latest = latest_closed_window(context.scheduled_execution_time or datetime.now(timezone.utc))
        if latest < partitions_start:
            return dg.SkipReason(f"window {window_key(latest)} is before TIKTOK_PARTITIONS_START")
        first_run = context.instance.get_latest_materialization_event(dg.AssetKey("video_velocity")) is None
        return window_request(latest, first_run=first_run, warm_up=warm_up, earliest=partitions_start)

    return every_closed_window
