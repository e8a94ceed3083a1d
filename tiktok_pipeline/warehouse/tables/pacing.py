"""What budget pacing writes: its recommendations per window, and the outbox and log of budget changes."""

from __future__ import annotations

from tiktok_pipeline.governance.owners import GROWTH
from tiktok_pipeline.warehouse.tables.spec import WINDOW_COLUMN, Column, Retention, TableSpec

PACING_RECOMMENDATIONS = TableSpec(
    "pacing_recommendations",
    (
        WINDOW_COLUMN,
        Column(
            "recommendation_id",
            "VARCHAR",
            "Key: a hash of (window_start, adgroup_id), the same on every re-run; budget_changes refers to it.",
        ),
        Column("observed_at", "TIMESTAMP", "The window's end: the instant the pace is computed at."),
        Column("adgroup_id", "VARCHAR", "TikTok ad group id (a daily-budget ad group: BUDGET_MODE_DAY)."),
        Column("campaign_id", "VARCHAR", "Campaign of the ad group (adgroup/get)."),
        Column("action", "VARCHAR", "'raise', 'lower', or 'hold' (a rule fired but a guardrail stopped the change)."),
        Column("budget_before", "DOUBLE", "Daily budget (adgroup/get) when the recommendation was made, USD."),
        Column("budget_after", "DOUBLE", "Recommended daily budget after the guardrails (= budget_before on a hold)."),
        Column(
            "spent_today",
            "DOUBLE",
            "Spend so far today (the ad account's local day) from raw_ad_metrics' hours before observed_at.",
        ),
        Column(
            "expected_by_now",
            "DOUBLE",
            "budget_before × the share of the hour-of-day spend curve (TIKTOK_PACING_HOUR_WEIGHTS) elapsed locally.",
        ),
        Column("pacing_ratio", "DOUBLE", "spent_today / expected_by_now; null at the day's first instant."),
        Column(
            "projected_eod",
            "DOUBLE",
            "Projected end-of-day spend: spent_today / the curve's elapsed share, at most the budget.",
        ),
        Column(
            "evidence_video_id",
            "VARCHAR",
            "The ad group's boosted video (Spark Ad tiktok_item_id) with the highest momentum in the window.",
        ),
        Column("momentum", "DOUBLE", "That video's video_velocity.momentum in the window; null when not observed."),
        Column("ctr", "DOUBLE", "CTR of the ad group's ads over the trailing hour (ad_velocity, a fraction)."),
        Column("ctr_change_30m", "DOUBLE", "30-minute change of that CTR (ad_velocity.ctr_change_30m)."),
        Column("reason", "VARCHAR", "Why, in words, with the figures."),
        Column(
            "guardrail",
            "VARCHAR",
            "The guardrail that shaped the recommendation: max_day_percent, floor, ceiling, cooldown, 'no room', or"
            " empty when none did (max_step_percent is the step itself).",
        ),
        Column("mode", "VARCHAR", "TIKTOK_PACING_MODE of the run: recommend (nothing sent) or apply."),
    ),
    description="Per window and daily-budget ad group whose pacing rules fired: pace figures, evidence and the recommended budget.",
    owner=GROWTH,
    sources=("business_reporting", "display_api"),
    retention=Retention.KEPT,
)

BUDGET_CHANGES = TableSpec(
    "budget_changes",
    (
        Column(
            "change_id",
            "VARCHAR",
            "Key: the recommendation_id for a change, 'revert-' + the reverted change_id for a revert.",
        ),
        Column("recommendation_id", "VARCHAR", "The pacing recommendation applied (the reverted one's for a revert)."),
        Column("adgroup_id", "VARCHAR", "TikTok ad group id."),
        Column("budget_before", "DOUBLE", "Daily budget before the change (as recommended or read back), USD."),
        Column("budget_after", "DOUBLE", "Daily budget the change sets, USD."),
        Column(
            "state",
            "VARCHAR",
            "queued (not sent yet), sent (claimed before the request: if the run died, the next one reads the budget"
            " back before any resend), answered (TikTok answered OK, or the read-back showed it applied) or failed"
            " (TikTok refused it: response_code and response_message say why). Never sent again once answered.",
        ),
        Column("attempts", "BIGINT", "Requests sent for the change (adgroup/budget/update)."),
        Column("request_id", "VARCHAR", "TikTok's request_id of the answering request."),
        Column("response_code", "BIGINT", "TikTok's envelope code of the last answer; null while none came."),
        Column("response_message", "VARCHAR", "TikTok's message of a refusal."),
        Column("queued_at", "TIMESTAMP", "When the change was queued (UTC)."),
        Column("applied_at", "TIMESTAMP", "When TikTok's answer (or the read-back) confirmed it (UTC)."),
        Column("reverted_by", "VARCHAR", "change_id of the revert that undid this change; null while in force."),
        Column("run_id", "VARCHAR", "Dagster run (or 'cli') that last wrote the row."),
    ),
    description="Outbox and log of ad group budget changes sent through adgroup/budget/update: each exactly once, reversible.",
    owner=GROWTH,
    sources=("business_reporting",),
    retention=Retention.KEPT,
)
