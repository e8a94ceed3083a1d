"""Conversions: the shop's orders sent to TikTok's Events API exactly once, through an outbox table.

The asset is thin: it reads the exports (:mod:`tiktok_pipeline.activation.conversions.orders`), queues and
sends through the outbox (:mod:`tiktok_pipeline.activation.conversions.outbox`), which writes the quarantined
orders to ``conversion_quarantine`` in the transaction that queues the good ones, and describes what happened (:mod:`tiktok_pipeline.activation.conversions.summary`). The access token only
travels through the ``business_api`` resource (``dagster.EnvVar``); no email, phone, ip or user agent ever
reaches the warehouse, the run config, the metadata or the logs.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from tiktok_pipeline.activation.conversions.orders import load_orders
from tiktok_pipeline.activation.conversions.relay import relay_conversions
from tiktok_pipeline.activation.conversions.summary import (
    outbox_by_status,
    quarantined_orders,
    relay_figures,
    relay_log,
)
from tiktok_pipeline.defs.conversions.resources import ConversionsResource
from tiktok_pipeline.defs.metadata import metadata_values, partition_range, report_windows
from tiktok_pipeline.defs.partitions import WINDOWS
from tiktok_pipeline.defs.resources import BusinessApiResource
from tiktok_pipeline.sources.http.calllog import call_context, recording
from tiktok_pipeline.warehouse.call_log import write_calls
from tiktok_pipeline.warehouse.io import WarehouseResource
from tiktok_pipeline.warehouse.tables import CONVERSION_OUTBOX, CONVERSION_QUARANTINE

OUTBOX_DOC = """Every conversion owed to TikTok's Events API, one row per (pixel, test code, event, event_id),
with its status and TikTok's answer: pending, sent, rejected (with the reason), ambiguous (no answer).

A materialisation of a window reads the shop's order exports (TIKTOK_CONVERSIONS_DIR, JSON lines),
queues the orders whose event_time falls in the window, and sends every pending event — its own and
what earlier runs left over — in requests of at most 1,000 with the browser Pixel's event_id, so TikTok
merges Pixel and server events. Re-running a window never sends an event twice: events already sent or
rejected are skipped. Events whose request got no answer are resent only while TikTok's 48-hour
deduplication covers the first attempt. Only SHA-256 hashes of emails, phone numbers and customer ids
are stored.

Bad orders (a reason naming file, line and field; payload redacted) and export files that cannot be read (named,
with the reason and a redacted sample) go to `conversion_quarantine`, whose only writer this asset is, in the same transaction that queues the window's good orders; analysts read them in
`quarantined_records` (asset = conversion_outbox) with the other sources' records. An export still being
written (modified less than TIKTOK_CONVERSIONS_SETTLE_SECONDS ago and not complete yet) is left for a later
run, logged and counted (`exports_still_being_written`), never quarantined.

Each window's materialisation describes that window's own events (the orders whose event_time falls in it):
its outbox rows by status, what the run queued, sent, rejected or left ambiguous of them, and its quarantined
orders. What belongs to no single window (requests, events relayed from earlier windows, rejection reasons) is
a one-window run's own figure, and a `range_...` figure on every window of a run over several windows."""


class ConversionOutboxConfig(dg.Config):
    """Run options for sending conversions."""

    resend_rejected: bool = False
    """Queue this range's events TikTok rejected again (after fixing the cause; TikTok processed none of them)."""


@dg.asset(
    name=CONVERSION_OUTBOX.name,
    group_name="conversions",
    kinds={"duckdb"},
    description=OUTBOX_DOC,
    metadata={**CONVERSION_OUTBOX.asset_metadata, "quarantine_table": CONVERSION_QUARANTINE.name},
    partitions_def=WINDOWS,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def conversion_outbox(
    context: dg.AssetExecutionContext,
    config: ConversionOutboxConfig,
    conversions: ConversionsResource,
    business_api: BusinessApiResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Queue the window's orders in the outbox and send everything due to TikTok's Events API (its calls go to
    api_call_log in their own transaction)."""
    start, end = partition_range(context)
    if not conversions.pixel_code:
        raise dg.Failure(
            description="TIKTOK_PIXEL_CODE is not set: conversions need the TikTok Pixel code (Events Manager) they belong to"
        )
    loaded = load_orders(
        Path(conversions.orders_dir),
        default_phone_region=conversions.default_phone_region,
        settle_seconds=conversions.settle_seconds,
        event_sources=("web", *conversions.event_sets),
    )
    for waiting in loaded.waiting_reasons:
        context.log.warning(f"export {waiting}: still being written, left for a later run")
    quarantine = quarantined_orders(loaded, start, end)
    for reason in quarantine["reason"].head(20):
        context.log.warning(f"quarantined order: {reason}")
    # One relay at a time (its own lock, not the warehouse's: the warehouse is held only per transaction), so two
    # runs never both take an event in flight for one to resend.
    with (
        warehouse.serialised("conversion-relay"),
        recording() as calls,
        call_context(source="events_api", purpose="send conversions", subject=business_api.advertiser_id),
        business_api.client() as client,
    ):
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
            quarantine=quarantine,
            event_sets=conversions.event_sets,
        )
    with warehouse.connection() as connection:
        write_calls(connection, calls)
        by_status = outbox_by_status(connection, start, end)
    for level, message in relay_log(report):
        getattr(context.log, level)(message)
    by_window, totals = relay_figures(report, loaded, by_status, quarantine)
    setup = {"pixel_code": conversions.pixel_code, "test_events": bool(conversions.test_event_code)}
    if report.stopped:
        raise dg.Failure(
            description=f"sending stopped, the remaining events stay pending for the next run: {report.stopped}",
            metadata=metadata_values({**totals, **next(iter(by_window.values()))} if len(by_window) == 1 else totals),
        )
    report_windows(context, CONVERSION_OUTBOX.name, by_window)
    return dg.MaterializeResult(metadata=metadata_values({**totals, **setup}))
