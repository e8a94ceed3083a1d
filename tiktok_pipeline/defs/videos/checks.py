"""The checks of the window tables: one evaluation per window, evaluated inside the asset that wrote it.

The checks run in the step that writes the table (the rows are in memory there) and are emitted per window
after the materialisation (``tiktok_pipeline.defs.metadata.window_check_events``), so each evaluation
names its window and targets its own run's materialisation. The functions are in ``tiktok_pipeline.quality``; the specs are built by
``tiktok_pipeline.defs.metadata.check_specs``.
"""

from __future__ import annotations

import dagster as dg

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN

RAW_CHECKS = {
    "raw_video_schema": (
        ERROR,
        "Structure (Pandera): types, non-negative counts, unique (video, window), create_time ≤ observed_at, timestamps inside the window. Blocking.",
    ),
    "counts_never_decrease": (WARN, "Views or likes lower than at the video's previous observation."),
    "views_jump": (WARN, "Views that grew beyond TIKTOK_QUALITY_MAX_VIEW_JUMP_FACTOR× since the previous observation."),
    "creators_reporting": (
        WARN,
        "Tracked creators with no video observation for TIKTOK_QUALITY_CREATOR_SILENCE_MINUTES.",
    ),
    "no_duplicate_observations": (WARN, "The API returned the same video twice in one window."),
    "landed_matches_parsed": (WARN, "Every landed video record is a row or a quarantined record."),
    "bad_record_share": (ERROR, "Share of quarantined records at or below TIKTOK_QUALITY_MAX_BAD_RECORD_SHARE."),
}
ENRICHED_CHECKS = {
    "enriched_schema": (
        ERROR,
        "Structure (Pandera): the raw rules plus a non-negative engagement rate, null only at 0 views. Blocking.",
    ),
    "engagement_rate_plausible": (
        WARN,
        "Engagement rate at or below TIKTOK_QUALITY_MAX_ENGAGEMENT_RATE. TikTok's counters update separately, so a "
        "young video can briefly show more interactions than views: flagged, kept, never blocking.",
    ),
}
VELOCITY_CHECKS = {
    "velocity_schema": (
        ERROR,
        "Structure (Pandera): unique (video, window), timestamps inside the window, baselines ≥ 30 minutes before. Blocking.",
    )
}
BLOCKING = {"raw_video_schema", "enriched_schema", "velocity_schema"}
"""The structural checks: a failure stops the downstream assets."""
