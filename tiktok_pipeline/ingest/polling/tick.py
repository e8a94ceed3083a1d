"""One tick of the polling sensor as a plain function: plan the latest closed window, follow up the failed ones.

The sensor (``tiktok_pipeline/defs/videos/sensors.py``) only calls :func:`polling_tick` with the clock, the
instance and its resources, so every decision here is tested with a fixed clock. Windows whose run failed are
retried or marked as gaps by :mod:`tiktok_pipeline.ingest.polling.retry`; the live window's plan holds back, from its
polls of videos not due, what the oldest pending retry needs.
"""

from __future__ import annotations

import json
from datetime import datetime

import dagster as dg
from pydantic import BaseModel

from tiktok_pipeline.ingest.polling.plan import (
    TOTAL,
    budget_left,
    plan_costs,
    plan_run_config,
    plan_window,
    window_observe_at,
)
from tiktok_pipeline.ingest.polling.policy import PollingPolicy
from tiktok_pipeline.ingest.polling.retry import WindowFollowing, fit_retry, follow_windows, retry_reserve
from tiktok_pipeline.ingest.polling.state import read_polling_state
from tiktok_pipeline.ingest.registry import TrackingRegistry
from tiktok_pipeline.metrics.velocity import LOOKBACK
from tiktok_pipeline.runs import LIVE_WINDOW_PRIORITY, PRIORITY_TAG
from tiktok_pipeline.windows import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    WINDOW,
    latest_closed_window,
    window_from_key,
    window_key,
    window_starts,
)

MAX_GAP_EVENTS = 288  # a day of windows: enough to see an outage, bounded so a tick stays cheap


class PollCursor(BaseModel):
    """Sensor cursor: the last window requested (only ever moves forward), the backoff state, the windows
    requested but not settled yet (``followed``) and the requests planned since ``last_window`` was requested
    (``period_requests``: the live window's plus its retries', within one window's budget; per endpoint in
    ``period_endpoint_requests``, within each endpoint's)."""

    last_window: str | None = None
    backoff: float = 1.0
    telemetry_storage_id: int | None = None
    followed: list[str] = []
    period_requests: int = 0
    period_endpoint_requests: dict[str, int] = {}

    def spent(self) -> dict[str, int]:
        """Requests planned in the period, overall (``total``) and per endpoint."""
        return {**self.period_endpoint_requests, TOTAL: self.period_requests}

    @classmethod
    def parse(cls, raw: str | None) -> PollCursor:
        return cls.model_validate(json.loads(raw)) if raw else cls()


def _backoff(instance: dg.DagsterInstance, cursor: PollCursor, policy: PollingPolicy) -> tuple[float, int | None]:
    """The backoff after the newest window's telemetry (applied once per new telemetry materialisation)."""
    backoff, telemetry_id = cursor.backoff, cursor.telemetry_storage_id
    newest = instance.fetch_materializations(dg.AssetKey("poll_telemetry"), limit=1).records
    if newest and newest[0].storage_id != telemetry_id:
        metadata = newest[0].asset_materialization.metadata  # type: ignore[union-attr]
        throttled = int(metadata["throttled"].value) if "throttled" in metadata else 0  # type: ignore[arg-type]
        errors = int(metadata["server_errors"].value) if "server_errors" in metadata else 0  # type: ignore[arg-type]
        backoff, telemetry_id = policy.next_backoff(backoff, throttled, errors), newest[0].storage_id
    return backoff, telemetry_id


def polling_tick(
    instance: dg.DagsterInstance,
    raw_cursor: str | None,
    now: datetime,
    *,
    registry: TrackingRegistry,
    registry_path: str,
    policy: PollingPolicy,
    state_dir: str,
    partitions_start: datetime,
    warm_up: bool,
    following: WindowFollowing,
    paused: frozenset[str] = frozenset(),
) -> dg.SensorResult | dg.SkipReason:
    """The run request for the latest closed window (one per window, run key = window), then the retries and gap
    marks of earlier windows whose run failed (:func:`tiktok_pipeline.ingest.polling.retry.follow_windows`), or a
    skip reason.

    An empty registry skips without moving the cursor: nothing can be collected, so no window is
    claimed; once creators are added, the windows in between are marked as gaps like any downtime.
    ``paused``: creators not to poll (their grant was revoked,
    :func:`~tiktok_pipeline.sources.display_api.consent.revoked_creators`), left out of the plan from this tick on;
    when every creator is paused the tick skips like an empty registry, naming them.
    """
    cursor = PollCursor.parse(raw_cursor)
    latest = latest_closed_window(now)
    if latest < partitions_start:
        return dg.SkipReason(f"window {window_key(latest)} is before TIKTOK_PARTITIONS_START")
    key = window_key(latest)
    new_window = cursor.last_window is None or window_from_key(cursor.last_window) < latest
    already = f"window {cursor.last_window} already requested; next one closes at {latest + 2 * WINDOW:%H:%M} UTC"
    if registry.usernames and not [u for u in registry.usernames if u not in paused]:
        return dg.SkipReason(
            f"not polling window {key}: every creator of the tracking registry has revoked the app"
            f" ({', '.join(sorted(paused & set(registry.usernames)))}); see creator_consent"
            if new_window
            else already
        )
    if not registry.usernames:
        return dg.SkipReason(
            f"not polling window {key}: the tracking registry {registry_path} lists no creators. Add creators to it "
            "(or set TIKTOK_REGISTRY_PATH to the right file); the windows until then are marked as gaps."
            if new_window
            else already
        )
    requests: list[dg.RunRequest] = []
    events: list[dg.AssetObservation] = []
    updated, claimed = cursor.model_copy(), list[str]()
    follow = follow_windows(instance, cursor.followed, now, following=following, max_retries=policy.max_retries)
    if new_window:
        backoff, telemetry_id = _backoff(instance, cursor, policy)
        polled = [u for u in registry.usernames if u not in paused]
        live, events, claimed, planned = _live_request(
            cursor, latest, polled, policy, state_dir, partitions_start, warm_up, backoff, retry_reserve(follow)
        )
        requests.append(live)
        updated = PollCursor(
            last_window=key,
            backoff=backoff,
            telemetry_storage_id=telemetry_id,
            period_requests=planned.pop(TOTAL, 0),
            period_endpoint_requests=planned,
        )
    fit_retry(follow, budget_left(policy, updated.backoff, updated.spent()), cut=new_window)
    if not requests and not follow.requests and not follow.gaps:
        waiting = (
            f"; {len(follow.followed)} earlier window(s) followed (a run on, or waiting)" if follow.followed else ""
        )
        return dg.SkipReason(already + waiting)
    updated.followed = sorted({*follow.followed, *claimed})
    updated.period_requests += follow.spent.get(TOTAL, 0)
    for endpoint, spent in follow.spent.items():
        if endpoint != TOTAL:
            updated.period_endpoint_requests[endpoint] = updated.period_endpoint_requests.get(endpoint, 0) + spent
    return dg.SensorResult(
        run_requests=[*requests, *follow.requests],
        asset_events=[*events, *follow.gaps],
        cursor=updated.model_dump_json(),
    )


def _live_request(
    cursor: PollCursor,
    latest: datetime,
    usernames: list[str],
    policy: PollingPolicy,
    state_dir: str,
    partitions_start: datetime,
    warm_up: bool,
    backoff: float,
    reserve: dict[str, int],
) -> tuple[dg.RunRequest, list[dg.AssetObservation], list[str], dict[str, int]]:
    """The latest window's request, the gap marks of the windows missed since the cursor's, the windows it claims
    and the requests it plans (overall and per endpoint; none for the unplanned warm-up range), ``reserve`` held
    back from its polls of videos not due for a pending retry (:func:`plan_window`). The live window's
    run has the highest priority in the queue; the warm-up range, a backfill of the last hour, has none
    (:mod:`tiktok_pipeline.runs`)."""
    key = window_key(latest)
    gaps = list(window_starts(window_from_key(cursor.last_window) + WINDOW, latest)) if cursor.last_window else []
    gap_events = [
        dg.AssetObservation(
            asset_key="raw_video_snapshots",
            partition=window_key(gap),
            metadata={"gap": True, "reason": "not polled: the sensor or daemon was not running when it closed"},
        )
        for gap in gaps[-MAX_GAP_EVENTS:]
    ]
    if cursor.last_window is None and warm_up:
        start = max(latest - LOOKBACK, partitions_start)
        request = dg.RunRequest(
            run_key=f"{window_key(start)}...{key}", tags={RANGE_START_TAG: window_key(start), RANGE_END_TAG: key}
        )
        return request, gap_events, [window_key(s) for s in window_starts(start, latest + WINDOW)], {}
    state = read_polling_state(state_dir)  # type: ignore[arg-type]
    observe_at = window_observe_at(latest)
    plan = plan_window(state.videos, usernames, state.creators, observe_at, policy, backoff, reserve)
    plan_fields = plan.model_dump()
    request = dg.RunRequest(
        run_key=key,
        partition_key=key,
        run_config=plan_run_config({**plan_fields, "gap_windows_before": len(gaps)}),
        tags={
            "tiktok/due_videos": str(plan.due_videos),
            "tiktok/polled_videos": str(plan.polled_videos),
            "tiktok/deferred_videos": str(plan.deferred_videos),
            "tiktok/filled_videos": str(plan.filled_videos),
            "tiktok/ids_per_request": f"{plan.ids_per_request:g}",
            "tiktok/budget": str(plan.budget),
            PRIORITY_TAG: str(LIVE_WINDOW_PRIORITY),  # started before any other queued run
        },
    )
    return request, gap_events, [key], plan_costs(plan_fields)
