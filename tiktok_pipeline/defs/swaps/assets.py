"""``creative_swap_recommendations``: per window and campaign, a surging organic video to boost in place of a
fading ad (``tiktok_pipeline/metrics/swaps.py``), replaced per window (idempotent), with a Pandera check."""

from datetime import timedelta

import dagster as dg

from tiktok_pipeline.activation.window_signals import boosted_videos, momentum_history, window_videos
from tiktok_pipeline.defs.metadata import (
    KINDS,
    check_specs,
    partition_range,
    report_windows,
    severities,
    window_check_events,
)
from tiktok_pipeline.defs.partitions import WINDOW_FRESHNESS, WINDOWS
from tiktok_pipeline.defs.swaps.resources import SwapsResource
from tiktok_pipeline.governance.markdown import markdown_table
from tiktok_pipeline.governance.window_figures import range_totals
from tiktok_pipeline.metrics.surge import history_minutes, mark_surging
from tiktok_pipeline.metrics.swaps import fading_creatives, recommend_swaps, surging_videos, swap_figures
from tiktok_pipeline.quality.activation_schemas import by_window, creative_swap_schema
from tiktok_pipeline.warehouse.io import WarehouseResource, Write, replace_windows
from tiktok_pipeline.warehouse.tables import AD_VELOCITY, CREATIVE_SWAP_RECOMMENDATIONS, VIDEO_VELOCITY
from tiktok_pipeline.warehouse.tables.swaps import EXPECTED_GAIN_FORMULA
from tiktok_pipeline.windows import utc_naive, window_key, window_starts

ACTIVATION_GROUP = "activation"

SWAP_CHECKS = {
    "creative_swap_schema": (
        dg.AssetCheckSeverity.ERROR,
        "Structure (Pandera) of the window's recommendations: unique (campaign, fading video), ids of digits, never"
        " the fading video itself, the ad's CTR in [0, 1] and falling, impressions and momentum positive.",
    )
}

SWAPS_DOC = f"""Creative swaps: per window and campaign, when the Spark Ads boosting a video fade (their CTR's 30-minute
change, `ad_velocity.ctr_change_30m`, at or below `TIKTOK_SWAP_CTR_CHANGE_THRESHOLD`, with at least
`TIKTOK_SWAP_MIN_IMPRESSIONS` impressions in the trailing hour) and an organic video (no ad on it) of the same creator
or of a creator tracked under the campaign surges (`video_velocity.momentum` at least
`TIKTOK_SWAP_MOMENTUM_THRESHOLD`, held for `TIKTOK_SURGE_PERSIST_MINUTES` when set), recommend boosting that video (`boost_video_id`, a Spark Ad's `tiktok_item_id`)
instead: the one with the highest momentum. Each row carries both curves' figures (the ad's CTR now and 30 minutes
ago, its impressions; the video's views per minute, momentum, engagement rate, organic CTR proxy) and the expected
gain in clicks per hour = {EXPECTED_GAIN_FORMULA}.

Materialised automatically (`automation_condition_sensor`) for the last 30 minutes' windows once both `ad_velocity`
and `video_velocity` are in; a re-run replaces the window's rows (never duplicated)."""

SWAPS_AUTOMATION = dg.AutomationCondition.eager().replace(
    "in_latest_time_window", dg.AutomationCondition.in_latest_time_window(timedelta(minutes=30))
)
"""eager() over the windows of the last 30 minutes (a window whose ads land late still gets its swaps)."""


@dg.asset(
    name=CREATIVE_SWAP_RECOMMENDATIONS.name,
    deps=[AD_VELOCITY.name, VIDEO_VELOCITY.name, "enriched_video_metrics"],
    description=SWAPS_DOC,
    metadata=CREATIVE_SWAP_RECOMMENDATIONS.asset_metadata,
    check_specs=check_specs(CREATIVE_SWAP_RECOMMENDATIONS.name, SWAP_CHECKS),
    automation_condition=SWAPS_AUTOMATION,
    partitions_def=WINDOWS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=ACTIVATION_GROUP,
    kinds=KINDS,
    freshness_policy=WINDOW_FRESHNESS,
)
def creative_swap_recommendations(
    context: dg.AssetExecutionContext, swaps: SwapsResource, warehouse: WarehouseResource
):
    """Recommend, per window and campaign, the surging organic video to boost in place of each fading creative."""
    start, end = partition_range(context)
    policy = swaps.policy
    with warehouse.connection() as connection:
        ads = boosted_videos(connection, start, end)
        videos = window_videos(connection, start, end)
        if policy.persist_minutes > 0:  # TIKTOK_SURGE_PERSIST_MINUTES: held, not a burst
            history = momentum_history(connection, start, end, history_minutes(policy.surge_rule))
            videos = mark_surging(videos, history, policy.surge_rule)
        recommendations = recommend_swaps(ads, videos, policy)
        replace_windows(connection, start, end, Write(CREATIVE_SWAP_RECOMMENDATIONS, recommendations))
    starts = list(window_starts(start, end))
    fading, surging = fading_creatives(ads, policy), surging_videos(videos, policy)
    figures = {
        window_key(s): swap_figures(
            recommendations.filter(recommendations["window_start"] == utc_naive(s)),
            fading.filter(fading["window_start"] == utc_naive(s)).height,
            surging.filter(surging["window_start"] == utc_naive(s)).height,
        )
        for s in starts
    }
    report_windows(context, CREATIVE_SWAP_RECOMMENDATIONS.name, figures)
    metadata = range_totals(figures) if len(figures) > 1 else {}
    newest = recommendations.filter(recommendations["window_start"] == utc_naive(starts[-1]))
    shown = newest.sort("expected_gain_clicks_per_hour", descending=True, nulls_last=True).head(10)
    columns = ["campaign_id", "fading_video_id", "ad_ctr", "ad_ctr_30m_ago", "boost_video_id", "video_momentum"]
    table = markdown_table(shown.select(*columns, "expected_gain_clicks_per_hour"), empty="No swap in the window.")
    metadata["recommendations_table"] = dg.MetadataValue.md(table)
    yield dg.MaterializeResult(metadata=metadata)
    outcomes = by_window("creative_swap_schema", creative_swap_schema, recommendations, starts)
    yield from window_check_events(context, CREATIVE_SWAP_RECOMMENDATIONS.name, outcomes, severities(SWAP_CHECKS))
