"""``daily_rollup_job``: the rollups of one day, or of a range of days as one run (backfills)."""

import dagster as dg

DAILY_ROLLUP_JOB_NAME = "daily_rollup_job"

daily_rollup_job = dg.define_asset_job(
    DAILY_ROLLUP_JOB_NAME,
    selection=dg.AssetSelection.groups("retain"),
    description=(
        "Rolls one day (or, as a backfill, a range of days in one run) of 5-minute window rows into "
        "daily_video_metrics and daily_creator_metrics. automation_condition_sensor runs the latest day by "
        "itself; launch this job to roll up older days."
    ),
)
