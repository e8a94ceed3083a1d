"""The ads tables' checks: one evaluation per window, evaluated in the step that wrote the window.

Emitted after the materialisation (``tiktok_pipeline.defs.metadata.window_check_events``), so each evaluation
names its window and targets its own run's materialisation. The functions are in ``tiktok_pipeline.quality.ad_schemas``.
"""

from __future__ import annotations

import dagster as dg

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN

WINDOW_ROWS = (
    " A window's rows are the hourly rows its fetch wrote (fetched_in_window = the window): the hours of its"
    " lookback that no newer fetch, of the same run or already stored, took over."
)

RAW_AD_CHECKS = {
    "raw_ad_metrics_schema": (
        ERROR,
        "Structure (Pandera) of the window's rows: types, ids of digits, non-negative counts and spend, unique "
        "(ad, hour), hours starting on a quarter hour (the UTC start of a local hour), fetched after the hour began. Blocking."
        + WINDOW_ROWS,
    ),
    "campaigns_in_registry": (
        WARN,
        "Every ad's campaign_name is a campaign id of the tracking registry (the ads ↔ campaigns link)." + WINDOW_ROWS,
    ),
}
AD_VELOCITY_CHECKS = {
    "ad_velocity_schema": (
        ERROR,
        "Structure (Pandera) of the window's rows (window_start = the window): unique (video, window), "
        "rates within [0, 1].",
    )
}
BLOCKING = {"raw_ad_metrics_schema"}
"""A raw rows' structure failure stops ad_velocity; ad_velocity's own check does not block (nothing is downstream)."""
