"""Budget pacing (group ``pacing``): ``pacing_recommendations`` per 5-minute window, sent in apply mode.

Each run reads the ad groups' budgets (``adgroup/get``, once, as of its last window, landed under
``data/landing/business_api/adgroup/`` before use), their hourly spend today in the ad
account's time zone (``raw_ad_metrics``), their boosted videos' momentum (``video_velocity``) and CTR
(``ad_velocity``), and writes the recommendations the rules and guardrails give
(:mod:`tiktok_pipeline.activation.pacing.compute`, :mod:`tiktok_pipeline.metrics.pacing`). With
``TIKTOK_PACING_MODE=apply`` each raise or lower is then sent through ``adgroup/budget/update`` exactly once
(:mod:`tiktok_pipeline.activation.pacing.outbox`, table ``budget_changes``); in ``recommend`` mode (the default)
nothing is sent.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl

from tiktok_pipeline.activation.pacing.compute import pace_windows
from tiktok_pipeline.activation.pacing.outbox import enqueue, relay
from tiktok_pipeline.defs.metadata import (
    KINDS,
    check_specs,
    partition_range,
    report_windows,
    severities,
    window_check_events,
)
from tiktok_pipeline.defs.pacing.resources import PacingResource
from tiktok_pipeline.defs.partitions import WINDOWS
from tiktok_pipeline.defs.resources import BusinessApiResource
from tiktok_pipeline.ingest.collect.adgroups import BudgetsUnavailableError, land_budgets
from tiktok_pipeline.ingest.collect.ads import ZoneLookup
from tiktok_pipeline.ingest.land import WindowNotObservableError
from tiktok_pipeline.metrics.pacing_figures import pacing_figures
from tiktok_pipeline.quality.pacing_schemas import pacing_by_window
from tiktok_pipeline.sources.http.calllog import call_context, recording
from tiktok_pipeline.warehouse.call_log import write_calls
from tiktok_pipeline.warehouse.io import WarehouseResource
from tiktok_pipeline.warehouse.tables import AD_VELOCITY, BUDGET_CHANGES, PACING_RECOMMENDATIONS, RAW_AD_METRICS
from tiktok_pipeline.windows import utc_naive, window_starts

APPLY_WITHIN = timedelta(minutes=15)
"""Apply mode sends the run's LAST window's changes only, and against TikTok only while that window ended less than
this long ago: a backfill or a late re-run recommends (its rows are written) but never sends stale changes."""

PACING_CHECKS = {
    "pacing_recommendations_schema": (
        dg.AssetCheckSeverity.ERROR,
        "Structure (Pandera) of the window's recommendations: ids of digits, a known action, budgets that move in"
        " the action's direction and stay within TIKTOK_PACING_FLOOR / TIKTOK_PACING_CEILING, one row per ad group.",
    )
}

PACING_DOC = """Per window, the daily-budget ad groups whose pacing rules fired: spend so far today (the ad account's
local day), expected by now on the hour-of-day curve (`TIKTOK_PACING_HOUR_WEIGHTS`), projected end-of-day spend,
pacing ratio, the evidence (the boosted video's momentum, its ads' CTR and 30-minute change), the recommended
budget after the guardrails (step, day, floor, ceiling, cooldown) and which guardrail applied.

`TIKTOK_PACING_MODE=recommend` (default) sends nothing. `apply` sends each raise or lower through
`adgroup/budget/update` exactly once (the run's last window only, and against TikTok only within 15 minutes of its
end: a backfill never sends stale changes) (table `budget_changes`: queued, sent, answered; read back with `adgroup/get`
before any resend); `tiktok-pipeline pacing revert <change_id>` undoes one."""


PACING_AUTOMATION = dg.AutomationCondition.eager().replace(
    "in_latest_time_window", dg.AutomationCondition.in_latest_time_window(timedelta(minutes=30))
)
"""eager() over the last 30 minutes' windows (like ad_velocity's): a window runs once its ads, CTR and video
velocity are in (``pacing_automation_sensor``); older windows are left to backfills."""


class PacingConfig(dg.Config):
    """Run options of pacing."""

    send: bool = True
    """In apply mode, relay the queued changes (off: queue only, e.g. for a backfill to inspect)."""


@dg.asset(
    name=PACING_RECOMMENDATIONS.name,
    deps=[RAW_AD_METRICS.name, AD_VELOCITY.name, "video_velocity"],
    description=PACING_DOC,
    metadata={**PACING_RECOMMENDATIONS.asset_metadata, "outbox_table": BUDGET_CHANGES.name},
    check_specs=check_specs(PACING_RECOMMENDATIONS.name, PACING_CHECKS),
    partitions_def=WINDOWS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    automation_condition=PACING_AUTOMATION,
    group_name="pacing",
    kinds=KINDS,
)
def pacing_recommendations(
    context: dg.AssetExecutionContext,
    config: PacingConfig,
    business_api: BusinessApiResource,
    pacing: PacingResource,
    warehouse: WarehouseResource,
):
    """Pace every daily-budget ad group per window and recommend budget changes; send them in apply mode."""
    start, end = partition_range(context)
    starts = list(window_starts(start, end))
    as_of = end if business_api.observe_at_window_end else datetime.now(UTC)
    rules = pacing.rules
    with (
        recording() as calls,
        call_context(source="business_reporting", purpose="budget pacing", subject=business_api.advertiser_id),
        business_api.client() as client,
    ):
        zone, _ = ZoneLookup(client, business_api.advertiser_id, pacing.advertiser_timezone).resolve(as_of)
        if zone is None:
            raise dg.Failure(description="the ad account's time zone is unknown (advertiser/info failed); retry later")
        try:
            budgets = land_budgets(
                client,
                business_api.advertiser_id,
                starts[-1],
                now=datetime.now(UTC),
                landing_dir=Path(pacing.landing_dir),
                observe_at_window_end=business_api.observe_at_window_end,
            )
        except (BudgetsUnavailableError, WindowNotObservableError) as exc:
            raise dg.Failure(description=f"ad group budgets unavailable, nothing recommended: {exc}") from exc
        with warehouse.connection() as connection:
            frame = pace_windows(connection, starts, budgets, ZoneInfo(zone.name), rules)
        outcomes: dict[str, int] = {}
        if rules.mode == "apply":
            # one relay at a time (its own lock); the warehouse is held per transaction, never during a request
            with warehouse.serialised("pacing-relay"):
                latest = frame.filter(pl.col("window_start") == utc_naive(starts[-1]))
                if not business_api.observe_at_window_end and datetime.now(UTC) - end > APPLY_WITHIN:
                    latest = latest.clear()  # an old window re-run: its budgets are not the current ones
                with warehouse.connection() as connection:
                    outcomes = {"queued": enqueue(connection, latest, datetime.now(UTC), context.run.run_id)}
                if config.send:
                    outcomes.update(
                        relay(
                            warehouse.connection,
                            client,
                            business_api.advertiser_id,
                            now=as_of,
                            run_id=context.run.run_id,
                        )
                    )
    with warehouse.connection() as connection:
        write_calls(connection, calls)
    by_window = pacing_figures(frame, starts, rules.mode)
    report_windows(context, PACING_RECOMMENDATIONS.name, by_window)
    yield dg.MaterializeResult(
        metadata={"mode": rules.mode, "timezone": zone.describe(), **{f"changes_{k}": v for k, v in outcomes.items()}}
    )
    outcomes_by_window = pacing_by_window(frame, starts, pacing.floor, pacing.ceiling)
    yield from window_check_events(context, PACING_RECOMMENDATIONS.name, outcomes_by_window, severities(PACING_CHECKS))
