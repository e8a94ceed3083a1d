"""``automation_condition_sensor``: evaluates the declarative assets (daily rollups, ad_velocity, the
``quarantined_records`` view, ``video_current_state``, ``creative_swap_recommendations``, ``merchandising_feed``)
every 30 seconds.

Those assets are only ever run *after* their upstream windows land, which a sensor would do without any
state of its own: their ``automation_condition`` says when, this sensor (on by default) launches the runs.
"""

import dagster as dg

automation_condition_sensor = dg.AutomationConditionSensorDefinition(
    "automation_condition_sensor",
    target=dg.AssetSelection.assets("ad_velocity", "quarantined_records", "video_current_state")
    | dg.AssetSelection.groups("retain")
    | dg.AssetSelection.assets("creative_swap_recommendations", "merchandising_feed"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description=(
        "Evaluates the automation conditions of ad_velocity (each of the last 30 minutes' windows once its ads "
        "and video metrics are in, again when either is re-materialised) and of the daily rollups (the latest "
        "day when its windows land or change, or at 00:30 UTC if still missing) and of quarantined_records "
        "(the view over every source's quarantine table, after any source writes) and of video_current_state "
        "(after any window's video_velocity lands), and of creative_swap_recommendations and merchandising_feed "
        "(each of the last 30 minutes' windows once its inputs are in), and launches their runs."
    ),
)
