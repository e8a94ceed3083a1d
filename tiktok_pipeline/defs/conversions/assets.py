"""Conversions: the shop's orders sent to TikTok's Events API exactly once, through an outbox table.

The asset is thin: it reads the exports (:mod:`..conversions.orders`), queues and sends through the
outbox (:mod:`..conversions.outbox`), writes quarantined orders and describes what happened. The
access token only travels through the ``business_api`` resource (``dagster.EnvVar``); no email,
phone, ip or user agent ever reaches the warehouse, the run config, the metadata or the logs.
"""

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import BaseModel

from tiktok_pipeline.activation.conversions.orders import ASSET, export_windows, load_orders, order_files
from tiktok_pipeline.activation.conversions.outbox import relay_conversions
from tiktok_pipeline.defs.resources import BusinessApiResource
from tiktok_pipeline.defs.videos.jobs import RANGE_END_TAG, RANGE_START_TAG, latest_closed_window
from tiktok_pipeline.warehouse.io import WRITER_POOL, WarehouseResource, Write, read_frame, replace_windows
from tiktok_pipeline.warehouse.tables import CONVERSION_OUTBOX, QUARANTINED_RECORDS
from tiktok_pipeline.windows import utc_naive, window_from_key, window_key

JOB_NAME = "conversions_job"

OUTBOX_DOC = """Every conversion owed to TikTok's Events API, one row per (pixel, test code, event, event_id),
with its status and TikTok's answer: pending, sent, rejected (with the reason), ambiguous (no answer).

A materialisation of a window reads the shop's order exports (TIKTOK_CONVERSIONS_DIR, JSON lines),
queues the orders whose event_time falls in the window, and sends every pending event — its own and
what earlier runs left over — in requests of at most 1,000 with the browser Pixel's event_id, so TikTok
merges Pixel and server events. Re-running a window never sends an event twice: events already sent or
rejected are skipped. Events whose request got no answer are resent only while TikTok's 48-hour
deduplication covers the first attempt. Only SHA-256 hashes of emails, phone numbers and customer ids
are stored; bad orders go to quarantined_records, redacted."""


class ConversionsResource(dg.ConfigurableResource):
    """Where orders come from and where they go: export folder, pixel, test event code, phone region, resend policy."""

    orders_dir: str
    pixel_code: str = ""
    test_event_code: str = ""
    default_phone_region: str = "US"
    resend_ambiguous_hours: float = 47.0
    batch_size: int = 1000


class ConversionOutboxConfig(dg.Config):
    """Run options for sending conversions."""

    resend_rejected: bool = False
    """Queue this range's events TikTok rejected again (after fixing the cause; TikTok processed none of them)."""


def _markdown_counts(counts: dict[str, int]) -> str:
    if not counts:
        return "_none_"
    return "| reason | events |\n|---|---|\n" + "\n".join(f"| {reason} | {n} |" for reason, n in counts.items())


class ExportsCursor(BaseModel):
    """What the exports sensor has seen: file signatures, windows waiting to close, leftovers retried."""

    files: dict[str, str] = {}
    """Export path (relative) → "mtime_ns:size" of the version already requested."""
    deferred: list[str] = []
    """First and last window (keys) of orders whose window had not closed yet when their export arrived."""
    retried_after: int | None = None
    """Storage id of the last conversion_outbox materialisation whose ambiguous events were retried."""


def build_exports_sensor(
    *,
    orders_dir: Path,
    partitions_start: datetime,
    running: bool,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    minimum_interval_seconds: int = 30,
) -> dg.SensorDefinition:
    """The sensor that sends conversions when the shop drops an export, and retries what got no answer."""

    @dg.sensor(
        name="conversion_exports_sensor",
        job_name=JOB_NAME,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED,
        description=(
            "Watches TIKTOK_CONVERSIONS_DIR. A new or changed export launches one conversions_job run over the "
            "closed windows its orders fall in (windows still open wait until they close); a conversion_outbox "
            "materialisation that left events ambiguous (no answer from TikTok) launches one retry run. Reads "
            "files and run metadata only, never the warehouse."
        ),
    )
    def conversion_exports_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        """Request a run for the windows new exports touch, or a retry of ambiguous events."""
        cursor = ExportsCursor.model_validate_json(context.cursor) if context.cursor else ExportsCursor()
        latest = latest_closed_window(clock())
        seen: dict[str, str] = {}
        windows: set[datetime] = {window_from_key(key) for key in cursor.deferred}
        changed: list[str] = []
        for path in order_files(orders_dir):
            name, stat = path.relative_to(orders_dir).as_posix(), path.stat()
            seen[name] = f"{stat.st_mtime_ns}:{stat.st_size}"
            if cursor.files.get(name) != seen[name]:
                changed.append(f"{name}@{seen[name]}")
                windows |= export_windows(path)
        windows = {w for w in windows if w >= partitions_start}
        ready = sorted(w for w in windows if w <= latest)
        waiting = sorted(w for w in windows if w > latest)
        requests: list[dg.RunRequest] = []
        if ready:
            first, last = window_key(ready[0]), window_key(ready[-1])
            digest = hashlib.sha256("|".join(sorted(changed) + cursor.deferred).encode()).hexdigest()[:16]
            requests.append(
                dg.RunRequest(
                    run_key=f"exports:{first}...{last}:{digest}",
                    tags={RANGE_START_TAG: first, RANGE_END_TAG: last, "tiktok/exports": str(len(changed))},
                )
            )
        elif latest >= partitions_start:
            newest = context.instance.fetch_materializations(dg.AssetKey(CONVERSION_OUTBOX.name), limit=1).records
            record = newest[0] if newest else None
            ambiguous = (
                record.asset_materialization.metadata.get("ambiguous")
                if record and record.asset_materialization
                else None
            )
            if (
                record
                and record.storage_id != cursor.retried_after
                and ambiguous is not None
                and int(ambiguous.value) > 0
            ):  # type: ignore[arg-type]
                cursor.retried_after = record.storage_id
                requests.append(
                    dg.RunRequest(
                        run_key=f"retry:{record.storage_id}",
                        partition_key=window_key(latest),
                        tags={"tiktok/retry": "ambiguous"},
                    )
                )
        cursor.files = seen
        cursor.deferred = [window_key(waiting[0]), window_key(waiting[-1])] if waiting else []
        return dg.SensorResult(run_requests=requests, cursor=cursor.model_dump_json())

    return conversion_exports_sensor


def build_conversion_definitions(
    partitions_def: dg.PartitionsDefinition, resource: ConversionsResource, *, partitions_start: datetime
) -> dg.Definitions:
    """The ``conversion_outbox`` asset, its job and sensor, and the ``conversions`` resource."""

    @dg.asset(
        name=CONVERSION_OUTBOX.name,
        group_name="conversions",
        kinds={"duckdb"},
        description=OUTBOX_DOC,
        metadata=CONVERSION_OUTBOX.asset_metadata,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WRITER_POOL,
    )
    def conversion_outbox(
        context: dg.AssetExecutionContext,
        config: ConversionOutboxConfig,
        conversions: ConversionsResource,
        business_api: BusinessApiResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        """Queue the window's orders in the outbox and send everything due to TikTok's Events API."""
        window = context.partition_time_window
        start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
        if not conversions.pixel_code:
            raise dg.Failure(
                description="TIKTOK_PIXEL_CODE is not set: conversions need the TikTok Pixel code (Events Manager) they belong to"
            )
        loaded = load_orders(Path(conversions.orders_dir), default_phone_region=conversions.default_phone_region)
        quarantine = pl.DataFrame(
            [{**row, "window_start": utc_naive(row["window_start"])} for row in loaded.quarantined_in(start, end)],
            schema={
                "window_start": pl.Datetime("us"),
                "source": pl.String,
                "reason": pl.String,
                "payload": pl.String,
                "asset": pl.String,
            },
        )
        with warehouse.connection() as connection:
            replace_windows(connection, start, end, Write(QUARANTINED_RECORDS, quarantine, {"asset": ASSET}))
        for reason in quarantine["reason"].head(20):
            context.log.warning(f"quarantined order: {reason}")

        with business_api.client() as client:
            report = relay_conversions(
                warehouse.connection,
                client,
                loaded,
                start=start,
                end=end,
                pixel_code=conversions.pixel_code,
                test_event_code=conversions.test_event_code,
                batch_size=conversions.batch_size,
                resend_ambiguous_within=timedelta(hours=conversions.resend_ambiguous_hours),
                resend_rejected=config.resend_rejected,
                run_id=context.run.run_id,
                clock=lambda: datetime.now(UTC),
            )
        with warehouse.connection() as connection:
            by_status = dict(
                read_frame(
                    connection,
                    f"SELECT status, count(*) AS n FROM {CONVERSION_OUTBOX.name} WHERE window_start >= ? AND window_start < ? GROUP BY 1",
                    [utc_naive(start), utc_naive(end)],
                ).iter_rows()
            )
        context.log.info(
            f"{report.orders_in_windows} orders in range, {report.queued} newly queued, {report.already_sent} already sent or"
            f" rejected (skipped); {report.requests} requests: {report.sent} sent, {report.rejected} rejected,"
            f" {report.ambiguous} ambiguous, {report.pending} pending"
        )
        for reason, n in report.rejections.most_common(10):
            context.log.warning(f"TikTok rejected {n} events: {reason}")
        if report.ambiguous:
            context.log.warning(
                f"{report.ambiguous} events got no answer: resent by a later run while TikTok still deduplicates them"
            )
        if report.ambiguous_not_resent:
            context.log.warning(
                f"{report.ambiguous_not_resent} ambiguous events are older than the resend horizon and are left alone (see conversion_outbox)"
            )
        if report.missing_source:
            context.log.warning(
                f"{report.missing_source} due events are no longer in any export file and were not sent"
            )
        metadata = {
            "dagster/row_count": sum(by_status.values()),
            "orders_in_range": report.orders_in_windows,
            "queued": report.queued,
            "requests": report.requests,
            "sent": report.sent,
            "rejected": report.rejected,
            "ambiguous": report.ambiguous,
            "pending": report.pending,
            "duplicates_skipped": report.already_sent + loaded.duplicate_orders,
            "already_sent_or_rejected": report.already_sent,
            "duplicate_orders_in_exports": loaded.duplicate_orders,
            "relayed_from_other_windows": report.relayed_from_other_windows,
            "ambiguous_not_resent": report.ambiguous_not_resent,
            "missing_source": report.missing_source,
            "changed_after_queue": report.changed_after_queue,
            "quarantined_orders": quarantine.height,
            "export_files": loaded.files,
            "outbox_by_status": dg.MetadataValue.json(by_status),
            "rejection_reasons": dg.MetadataValue.md(_markdown_counts(dict(report.rejections.most_common(10)))),
            "batches": dg.MetadataValue.json(report.batches[:50]),
            "pixel_code": conversions.pixel_code,
            "test_events": bool(conversions.test_event_code),
        }
        if report.stopped:
            raise dg.Failure(
                description=f"sending stopped, the remaining events stay pending for the next run: {report.stopped}",
                metadata=metadata,
            )
        return dg.MaterializeResult(metadata=metadata)

    job = dg.define_asset_job(
        JOB_NAME,
        selection=[CONVERSION_OUTBOX.name],
        description=(
            "Sends the shop's conversions for a window (or a range, as one run) to TikTok's Events API through the "
            "conversion_outbox: queued first, sent in batches of up to 1,000, never twice."
        ),
    )
    sensor = build_exports_sensor(
        orders_dir=Path(resource.orders_dir), partitions_start=partitions_start, running=bool(resource.pixel_code)
    )
    return dg.Definitions(assets=[conversion_outbox], jobs=[job], sensors=[sensor], resources={"conversions": resource})
