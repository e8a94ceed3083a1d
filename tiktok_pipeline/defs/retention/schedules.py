"""``window_retention_schedule``: retention (window rows, call log, quarantine, landing files) once a day, at
01:00 UTC (a schedule: it depends on the clock, not on data)."""

import dagster as dg

from tiktok_pipeline.defs.retention.jobs import RETENTION_JOB_NAME

window_retention_schedule = dg.ScheduleDefinition(
    name="window_retention_schedule",
    job_name=RETENTION_JOB_NAME,
    cron_schedule="0 1 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "At 01:00 UTC, deletes the window rows of rolled-up days older than TIKTOK_RETENTION_DAYS; days that "
        "are not rolled up are kept and listed in the run's output. Retention never touches days younger than "
        "the horizon, so it does not matter when the rollups ran: a day is pruned by the first retention run "
        "after it is both old and rolled up. Then call log rows, quarantined records and landing files past "
        "their declared days (TIKTOK_CALL_LOG_/QUARANTINE_/LANDING_RETENTION_DAYS) go, landing files only once "
        "nothing needs them."
    ),
)
