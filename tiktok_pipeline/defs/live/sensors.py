"""``live_intake_sensor``: one LIVE intake run per closed window in which the intake folder has lines not taken.

It keeps the last window it requested in its cursor (state), so it stays a sensor. It reads files only.
"""

from datetime import UTC, datetime

import dagster as dg

from tiktok_pipeline.defs.live.assets import UNOFFICIAL_TAGS
from tiktok_pipeline.defs.live.jobs import LIVE_JOB_NAME
from tiktok_pipeline.defs.live.resources import LiveIntakeResource
from tiktok_pipeline.ingest.collect.live import pending_lines
from tiktok_pipeline.windows import latest_closed_window, window_key


def live_intake_tick(
    context: dg.SensorEvaluationContext, live_intake: LiveIntakeResource, now: datetime
) -> dg.SensorResult | dg.SkipReason:
    """A run request for the latest closed window when some intake file has bytes not taken yet, or why not."""
    key = window_key(latest_closed_window(now))
    if context.cursor == key:
        return dg.SkipReason(f"window {key} was already requested; new lines wait for the next window")
    pending = pending_lines(live_intake.intake, now)
    if not pending:
        return dg.SkipReason(f"no LIVE lines waiting in {live_intake.intake_dir}")
    request = dg.RunRequest(
        run_key=key, partition_key=key, tags={**UNOFFICIAL_TAGS, "tiktok/live_files": str(len(pending))}
    )
    return dg.SensorResult(run_requests=[request], cursor=key)


@dg.sensor(
    name="live_intake_sensor",
    job_name=LIVE_JOB_NAME,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,  # only loaded when the intake is configured and admitted
    tags=UNOFFICIAL_TAGS,
    description=(
        "UNOFFICIAL SOURCE. Watches TIKTOK_LIVE_INTAKE_DIR: when a *.jsonl file there has bytes not taken yet,"
        " launches live_intake_job once for the latest closed window (run key = window). Lines still being written"
        " (no newline yet) are taken by a later window. Reads files only, never the warehouse."
    ),
)
def live_intake_sensor(context: dg.SensorEvaluationContext, live_intake: LiveIntakeResource):
    """Launch the LIVE intake run for the latest closed window when new lines are waiting."""
    return live_intake_tick(context, live_intake, datetime.now(UTC))
