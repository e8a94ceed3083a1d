"""The polling sensor: decides, once per closed 5-minute window, what is worth polling."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from pydantic import BaseModel

from tiktok_pipeline.defs.videos.assets import PollPlanConfig
from tiktok_pipeline.defs.videos.jobs import RANGE_END_TAG, RANGE_START_TAG, latest_closed_window
from tiktok_pipeline.ingest.polling.plan import plan_window, window_observe_at
from tiktok_pipeline.ingest.polling.policy import PollingPolicy
from tiktok_pipeline.ingest.polling.state import read_polling_state
from tiktok_pipeline.ingest.registry import load_registry
from tiktok_pipeline.metrics.velocity import LOOKBACK
from tiktok_pipeline.windows import WINDOW, window_from_key, window_key, window_starts

MAX_GAP_EVENTS = 288  # a day of windows: enough to see an outage, bounded so a tick stays cheap


class PollCursor(BaseModel):
    """Sensor cursor: the last window requested (only ever moves forward) and the backoff state."""

    last_window: str | None = None
    backoff: float = 1.0
    telemetry_storage_id: int | None = None

    @classmethod
    def parse(cls, raw: str | None) -> PollCursor:
        return cls.model_validate(json.loads(raw)) if raw else cls()


def build_polling_sensor(
    job: dg.UnresolvedAssetJobDefinition,
    *,
    policy: PollingPolicy,
    state_dir: Path,
    registry_path: Path,
    partitions_start: datetime,
    warm_up: bool,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    minimum_interval_seconds: int = 20,
) -> dg.SensorDefinition:
    """The sensor that drives the polling cadence (see README, "Adaptive polling")."""

    @dg.sensor(
        name="polling_sensor",
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Once per closed 5-minute window, plans what to poll: hot videos every window, warm every 10 "
            "minutes, cold every 15 (from momentum), discovery of new videos per creator on its own cadence, "
            "all within a request budget that shrinks after 429s/5xx. Launches one run per window "
            "(run key = window); windows missed while the daemon was down are marked as gaps, never filled "
            "with invented observations."
        ),
    )
    def polling_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        """Plan and launch the run for the latest closed window."""
        cursor = PollCursor.parse(context.cursor)
        latest = latest_closed_window(clock())
        if latest < partitions_start:
            return dg.SkipReason(f"window {window_key(latest)} is before TIKTOK_PARTITIONS_START")
        if cursor.last_window and window_from_key(cursor.last_window) >= latest:
            return dg.SkipReason(
                f"window {cursor.last_window} already requested; next one closes at {latest + 2 * WINDOW:%H:%M} UTC"
            )
        key = window_key(latest)

        backoff, telemetry_id = cursor.backoff, cursor.telemetry_storage_id
        newest = context.instance.fetch_materializations(dg.AssetKey("poll_telemetry"), limit=1).records
        if newest and newest[0].storage_id != telemetry_id:
            metadata = newest[0].asset_materialization.metadata  # type: ignore[union-attr]
            throttled = int(metadata["throttled"].value) if "throttled" in metadata else 0  # type: ignore[arg-type]
            errors = int(metadata["server_errors"].value) if "server_errors" in metadata else 0  # type: ignore[arg-type]
            backoff, telemetry_id = policy.next_backoff(backoff, throttled, errors), newest[0].storage_id

        gaps = list(window_starts(window_from_key(cursor.last_window) + WINDOW, latest)) if cursor.last_window else []
        gap_events = [
            dg.AssetObservation(
                asset_key="raw_video_snapshots",
                partition=window_key(gap),
                metadata={"gap": True, "reason": "not polled: the sensor or daemon was not running when it closed"},
            )
            for gap in gaps[-MAX_GAP_EVENTS:]
        ]
        if gaps:
            context.log.warning(f"{len(gaps)} windows were missed before {key}; marked as gaps")

        if cursor.last_window is None and warm_up:
            start = max(latest - LOOKBACK, partitions_start)
            request = dg.RunRequest(
                run_key=f"{window_key(start)}...{key}", tags={RANGE_START_TAG: window_key(start), RANGE_END_TAG: key}
            )
        else:
            state = read_polling_state(state_dir)
            creators = load_registry(registry_path).usernames
            plan = plan_window(state.videos, creators, state.creators, window_observe_at(latest), policy, backoff)
            request = dg.RunRequest(
                run_key=key,
                partition_key=key,
                run_config={
                    "ops": {
                        "raw_snapshots": {"config": {"plan": PollPlanConfig.from_plan(plan, len(gaps)).model_dump()}}
                    }
                },
                tags={
                    "tiktok/due_videos": str(plan.due_videos),
                    "tiktok/polled_videos": str(plan.polled_videos),
                    "tiktok/deferred_videos": str(plan.deferred_videos),
                    "tiktok/budget": str(plan.budget),
                },
            )
        new_cursor = PollCursor(last_window=key, backoff=backoff, telemetry_storage_id=telemetry_id)
        return dg.SensorResult(run_requests=[request], asset_events=gap_events, cursor=new_cursor.model_dump_json())

    return polling_sensor
