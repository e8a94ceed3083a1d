"""The shop's sensors: ``shop_orders_sensor`` polls every closed window; ``shop_webhooks_sensor`` polls sooner (or
again) a window a TikTok Shop push named. Both launch ``shop_orders_job``; polling stays the source of truth."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from tiktok_pipeline.defs.partitions import WINDOWS
from tiktok_pipeline.defs.shop.jobs import SHOP_JOB_NAME
from tiktok_pipeline.defs.shop.resources import ShopApiResource
from tiktok_pipeline.ingest.polling.shop import PushCursor, decide_push_windows, decide_shop_window
from tiktok_pipeline.settings import load_settings
from tiktok_pipeline.windows import latest_closed_window

_ON = dg.DefaultSensorStatus.RUNNING if load_settings().shop_sensor_on else dg.DefaultSensorStatus.STOPPED


def shop_orders_tick(context: dg.SensorEvaluationContext, now: datetime) -> dg.SensorResult | dg.SkipReason:
    """A run request for the latest closed window, or why not."""
    key = decide_shop_window(latest_closed_window(now), last_requested=context.cursor, partitions_start=WINDOWS.start)
    if key is None:
        return dg.SkipReason(f"the latest closed window was requested already ({context.cursor})")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"shop-{key}", partition_key=key, tags={"tiktok/trigger": "poll"})],
        cursor=key,
    )


@dg.sensor(
    name="shop_orders_sensor",
    job_name=SHOP_JOB_NAME,
    minimum_interval_seconds=30,
    default_status=_ON,
    description=(
        "Launches shop_orders_job once per closed 5-minute window (run key shop-<window>): the window's orders by"
        " update time and the catalogue. Only the latest closed window is launched; after downtime, backfill the"
        " missed windows (each poll asks for the changes of its own window)."
    ),
)
def shop_orders_sensor(context: dg.SensorEvaluationContext):
    """Poll the shop for the latest closed window."""
    return shop_orders_tick(context, datetime.now(UTC))


def shop_webhooks_tick(context: dg.SensorEvaluationContext, landing_dir: Path, now: datetime) -> dg.SensorResult:
    """Run requests for the closed windows named by pushes landed since the cursor (recollect: a push may come after
    the window's poll)."""
    decision = decide_push_windows(landing_dir, PushCursor.parse(context.cursor), now)
    for path in decision.unreadable:
        context.log.error(f"landed Shop push {path} cannot be read")
    requests = [
        dg.RunRequest(
            run_key=f"shop-push-{key}-{decision.cursor.mtime_ns}",
            partition_key=key,
            tags={"tiktok/trigger": "push"},
            run_config={"ops": {"raw_shop_orders": {"config": {"recollect": True}}}},
        )
        for key in decision.windows
    ]
    return dg.SensorResult(run_requests=requests, cursor=decision.cursor.dump())


@dg.sensor(
    name="shop_webhooks_sensor",
    job_name=SHOP_JOB_NAME,
    minimum_interval_seconds=10,
    default_status=_ON,
    description=(
        "Reads the TikTok Shop pushes landed by `tiktok-pipeline shop-webhooks serve` and launches shop_orders_job,"
        " polling afresh (recollect), for each closed window in which a pushed order change happened: sooner than the"
        " regular poll, and again when the push came after it. Duplicates were dropped by the receiver."
    ),
)
def shop_webhooks_sensor(context: dg.SensorEvaluationContext, shop_api: ShopApiResource):
    """Wake the shop run of the windows pushes named."""
    return shop_webhooks_tick(context, Path(shop_api.landing_dir), datetime.now(UTC))
