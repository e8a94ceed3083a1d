"""The polling sensor: decides, once per closed 5-minute window, what is worth polling."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from tiktok_pipeline.defs.resources import DisplayApiResource, PollingResource, TrackingRegistryResource
from tiktok_pipeline.defs.videos.jobs import WINDOW_JOB_NAME
from tiktok_pipeline.ingest.polling.retry import WindowFollowing
from tiktok_pipeline.ingest.polling.tick import PollCursor, polling_tick
from tiktok_pipeline.sources.display_api.consent import revoked_creators

__all__ = ["TICK_SECONDS", "PollCursor", "polling_sensor"]

TICK_SECONDS = 5
"""How often the daemon evaluates the sensor: its own loop's floor (5 s), so a closed window waits at most that long
for its run request. A tick that finds its window already requested costs ~25 ms, one that plans a window ~50 ms
(the shipped registry, README → "Freshness"); the cursor makes every tick after the first of a window a skip."""


@dg.sensor(
    name="polling_sensor",
    job_name=WINDOW_JOB_NAME,
    minimum_interval_seconds=TICK_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Once per closed 5-minute window, plans what to poll: every tracked video while the request budgets "
        "(one per endpoint: user/info, video/list, video/query) cover it; when they do not, hot videos every "
        "window, warm every 10 minutes, cold every 15 (from momentum), each creator's last video/query request "
        "filled to 20 ids with its stalest videos. Discovery of new videos per creator on its own cadence; the "
        "budgets shrink after 429s/5xx. Ticks every 5 s and launches one run per window "
        "(run key = window), first in the run queue (dagster/priority 10; retries 5, other runs 0); windows missed while the daemon was down are marked as gaps, never filled "
        "with invented observations. A window whose run failed (or was canceled, or died) is requested again "
        "(run key = window:retry-n, after the live window, one at a time, at most TIKTOK_POLL_MAX_RETRIES times) "
        "while it can still be observed, else marked as a gap naming the failed run and why. With an empty "
        "tracking registry it skips (naming the file) and claims no window. Creators whose grant was revoked "
        "(TikTok's authorization.removed webhook, an invalid_grant before the horizon, tokens revoke) are left out "
        "of the plan from the next tick on (see creator_consent)."
    ),
)
def polling_sensor(
    context: dg.SensorEvaluationContext,
    polling: PollingResource,
    tracking_registry: TrackingRegistryResource,
    display_api: DisplayApiResource,
) -> dg.SensorResult | dg.SkipReason:
    """Plan and launch the run for the latest closed window; retry or mark earlier windows whose run failed."""
    now = datetime.now(UTC)
    return polling_tick(
        context.instance,
        context.cursor,
        now,
        registry=tracking_registry.load(),
        registry_path=tracking_registry.path,
        policy=polling.policy,
        state_dir=polling.state_dir,
        partitions_start=polling.start,
        warm_up=polling.warm_up,
        following=WindowFollowing(
            WINDOW_JOB_NAME,
            at_window_end=display_api.observe_at_window_end,
            max_age=display_api.max_window_age,
            landing_dir=Path(display_api.landing_dir),
        ),
        paused=revoked_creators(Path(display_api.token_store_path), now),
    )
