"""One tick of the polling sensor as a plain function: plan the latest closed window, or say why not.

The sensor (``tiktok_pipeline/defs/videos/sensors.py``) only calls :func:`polling_tick` with the clock, the
instance and its resources, so every decision here is tested with a fixed clock.
"""

from __future__ import annotations

import json
from datetime import datetime

import dagster as dg
from pydantic import BaseModel

from tiktok_pipeline.ingest.polling.plan import plan_window, window_observe_at
from tiktok_pipeline.ingest.polling.policy import PollingPolicy
from tiktok_pipeline.ingest.polling.state import read_polling_state
from tiktok_pipeline.ingest.registry import TrackingRegistry
from tiktok_pipeline.metrics.velocity import LOOKBACK
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
RAW_SNAPSHOTS_STEP = "raw_snapshots"
"""The op (step) whose run config carries the plan."""


class PollCursor(BaseModel):
    """Sensor cursor: the last window requested (only ever moves forward) and the backoff state."""

    last_window: str | None = None
    backoff: float = 1.0
    telemetry_storage_id: int | None = None

    @classmethod
    def parse(cls, raw: str | None) -> PollCursor:
        return cls.model_validate(json.loads(raw)) if raw else cls()


def plan_run_config(plan: dict) -> dict:
    """The run config that hands a plan (``PollPlanConfig`` fields) to the raw snapshots step."""
    return {"ops": {RAW_SNAPSHOTS_STEP: {"config": {"plan": plan}}}}


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
) -> dg.SensorResult | dg.SkipReason:
    """The run request for the latest closed window (one per window, run key = window), or a skip reason.

    An empty registry skips without moving the cursor: nothing can be collected, so no window is
    claimed; once creators are added, the windows in between are marked as gaps like any downtime.
    """
    cursor = PollCursor.parse(raw_cursor)
    latest = latest_closed_window(now)
    if latest < partitions_start:
        return dg.SkipReason(f"window {window_key(latest)} is before TIKTOK_PARTITIONS_START")
    if cursor.last_window and window_from_key(cursor.last_window) >= latest:
        return dg.SkipReason(
            f"window {cursor.last_window} already requested; next one closes at {latest + 2 * WINDOW:%H:%M} UTC"
        )
    key = window_key(latest)
    if not registry.usernames:
        return dg.SkipReason(
            f"not polling window {key}: the tracking registry {registry_path} lists no creators. Add creators to it "
            "(or set TIKTOK_REGISTRY_PATH to the right file); the windows until then are marked as gaps."
        )
    backoff, telemetry_id = _backoff(instance, cursor, policy)
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
    else:
        state = read_polling_state(state_dir)  # type: ignore[arg-type]
        plan = plan_window(state.videos, registry.usernames, state.creators, window_observe_at(latest), policy, backoff)
        request = dg.RunRequest(
            run_key=key,
            partition_key=key,
            run_config=plan_run_config({**plan.model_dump(), "gap_windows_before": len(gaps)}),
            tags={
                "tiktok/due_videos": str(plan.due_videos),
                "tiktok/polled_videos": str(plan.polled_videos),
                "tiktok/deferred_videos": str(plan.deferred_videos),
                "tiktok/budget": str(plan.budget),
            },
        )
    new_cursor = PollCursor(last_window=key, backoff=backoff, telemetry_storage_id=telemetry_id)
    return dg.SensorResult(run_requests=[request], asset_events=gap_events, cursor=new_cursor.model_dump_json())
