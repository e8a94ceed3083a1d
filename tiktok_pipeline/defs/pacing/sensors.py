"""``pacing_automation_sensor``: launches ``pacing_recommendations`` for each recent window once its inputs landed.

Pacing's own automation sensor (not ``automation_condition_sensor``'s target), so the pacing domain is switched
on or off on its own in the UI. In apply mode every run it launches sends the window's changes (exactly once).
"""

import dagster as dg

from tiktok_pipeline.warehouse.tables import PACING_RECOMMENDATIONS

pacing_automation_sensor = dg.AutomationConditionSensorDefinition(
    "pacing_automation_sensor",
    target=dg.AssetSelection.assets(PACING_RECOMMENDATIONS.name),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description=(
        "Evaluates pacing_recommendations' automation condition (each of the last 30 minutes' windows once its"
        " raw_ad_metrics, ad_velocity and video_velocity are in, again when one is re-materialised) and launches"
        " its runs; with TIKTOK_PACING_MODE=apply those runs send the budget changes."
    ),
)
