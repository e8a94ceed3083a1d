"""``conversion_exports_sensor``: conversions runs when the shop drops an export, and retries of lost answers.

It carries state (file signatures, windows waiting to close, the last retry, in its cursor), so it stays a sensor.
"""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from tiktok_pipeline.activation.conversions.exports import ExportsCursor, decide_exports
from tiktok_pipeline.defs.conversions.jobs import CONVERSIONS_JOB_NAME
from tiktok_pipeline.defs.conversions.resources import ConversionsResource
from tiktok_pipeline.defs.partitions import WINDOWS
from tiktok_pipeline.settings import Settings, load_settings
from tiktok_pipeline.warehouse.tables import CONVERSION_OUTBOX
from tiktok_pipeline.windows import RANGE_END_TAG, RANGE_START_TAG, latest_closed_window, window_key


def default_status(settings: Settings) -> dg.DefaultSensorStatus:
    """On by default only when there is a pixel to send to (TIKTOK_PIXEL_CODE, or the simulator's)."""
    return dg.DefaultSensorStatus.RUNNING if settings.events_pixel_code else dg.DefaultSensorStatus.STOPPED


def _newest_outbox(instance: dg.DagsterInstance) -> tuple[int, int] | None:
    """(storage id, events its run left ambiguous) of the newest conversion_outbox materialisation that reports them.

    A run over several windows reports them as ``range_ambiguous`` on every window; a one-window run as its
    window's ``ambiguous`` plus ``relayed_ambiguous`` (events of earlier windows it relayed).
    """
    records = instance.fetch_materializations(dg.AssetKey(CONVERSION_OUTBOX.name), limit=1).records
    metadata = records[0].asset_materialization.metadata if records and records[0].asset_materialization else {}
    if "range_ambiguous" in metadata:
        parts = [metadata["range_ambiguous"]]
    else:
        parts = [metadata[name] for name in ("ambiguous", "relayed_ambiguous") if name in metadata]
    if not parts:
        return None
    return records[0].storage_id, sum(int(part.value) for part in parts)  # type: ignore[arg-type,misc]


def exports_tick(
    context: dg.SensorEvaluationContext, conversions: ConversionsResource, now: datetime
) -> dg.SensorResult:
    """The sensor's evaluation at ``now``."""
    cursor = ExportsCursor.model_validate_json(context.cursor) if context.cursor else ExportsCursor()
    latest = latest_closed_window(now)
    decision = decide_exports(
        cursor,
        Path(conversions.orders_dir),
        latest=latest,
        partitions_start=WINDOWS.start,
        newest_outbox=_newest_outbox(context.instance),
        now=now,
        settle_seconds=conversions.settle_seconds,
    )
    for name in decision.waiting:
        context.log.info(f"export {name} is still being written: looked at again next tick")
    requests: list[dg.RunRequest] = []
    if decision.run_key:
        tags = {
            RANGE_START_TAG: decision.first,
            RANGE_END_TAG: decision.last,
            "tiktok/exports": str(len(decision.changed)),
        }
        requests.append(dg.RunRequest(run_key=decision.run_key, tags=tags))
    elif decision.retry_storage_id is not None:
        requests.append(
            dg.RunRequest(
                run_key=f"retry:{decision.retry_storage_id}",
                partition_key=window_key(latest),
                tags={"tiktok/retry": "ambiguous"},
            )
        )
    return dg.SensorResult(run_requests=requests, cursor=decision.cursor.model_dump_json())


@dg.sensor(
    name="conversion_exports_sensor",
    job_name=CONVERSIONS_JOB_NAME,
    minimum_interval_seconds=30,
    default_status=default_status(load_settings()),  # known at load: read from the environment
    description=(
        "Watches TIKTOK_CONVERSIONS_DIR. A new or changed export launches one conversions_job run over the "
        "closed windows its orders fall in (windows still open wait until they close); a conversion_outbox "
        "materialisation that left events ambiguous (no answer from TikTok) launches one retry run. An export "
        "still being written (modified less than TIKTOK_CONVERSIONS_SETTLE_SECONDS ago and not complete) is "
        "looked at again next tick. Reads files and run metadata only, never the warehouse."
    ),
)
def conversion_exports_sensor(context: dg.SensorEvaluationContext, conversions: ConversionsResource):
    """Request a run for the windows new exports touch, or a retry of ambiguous events."""
    return exports_tick(context, conversions, datetime.now(UTC))
