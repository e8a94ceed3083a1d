"""Relaying one run's conversions through the outbox to the Events API (the protocol is in :mod:`.outbox`)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from tiktok_pipeline.activation.conversions.orders import ASSET, Conversion, LoadedOrders
from tiktok_pipeline.activation.conversions.outbox import (
    DEFAULT_RESEND_AMBIGUOUS_WITHIN,
    KEY,
    Connect,
    claim,
    due_rows,
    enqueue,
    outbox_rows,
    record,
)
from tiktok_pipeline.sources.business_api.client import BusinessApiClient
from tiktok_pipeline.sources.business_api.events import MAX_BATCH, BatchOutcome, send_batch
from tiktok_pipeline.warehouse.io import Write, prepare_window_writes
from tiktok_pipeline.warehouse.quarantine import adopt_legacy_rows
from tiktok_pipeline.warehouse.tables import CONVERSION_QUARANTINE
from tiktok_pipeline.windows import utc_naive, window_starts


@dataclass
class RelayReport:
    """What one run did, for the asset's metadata (counts and reasons only: no personal data)."""

    orders_in_windows: int = 0
    queued: int = 0
    already_sent: int = 0
    """This range's orders the outbox already had as sent or rejected: skipped, never sent again."""
    changed_after_queue: int = 0
    attempted: int = 0
    relayed_from_other_windows: int = 0
    sent: int = 0
    rejected: int = 0
    ambiguous: int = 0
    pending: int = 0
    requests: int = 0
    ambiguous_not_resent: int = 0
    missing_source: int = 0
    """Due rows whose order is no longer in any export file: cannot be rebuilt, left as they are."""
    stopped: str | None = None
    rejections: Counter[str] = field(default_factory=Counter)
    batches: list[dict[str, Any]] = field(default_factory=list)
    by_window: dict[datetime, Counter[str]] = field(default_factory=dict)
    """Per window of the run (``window_start``, UTC-naive) what happened to that window's own events: ``orders``,
    ``queued``, ``already_sent``, ``changed_after_queue``, and the outcomes ``sent``, ``rejected``, ``ambiguous``,
    ``pending``. Events relayed from other windows are only in :attr:`relayed`."""
    relayed: Counter[str] = field(default_factory=Counter)
    """Outcomes of the events relayed from other windows (``sent``, ``rejected``, ``ambiguous``, ``pending``)."""


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _status_after(prior: str, outcome: str) -> str:
    # TikTok answered with an error, so this attempt was not processed; an earlier unanswered one may have been
    return "ambiguous" if outcome == "pending" and prior in ("ambiguous", "sending") else outcome


def relay_conversions(
    connect: Connect,
    client: BusinessApiClient,
    loaded: LoadedOrders,
    *,
    start: datetime,
    end: datetime,
    pixel_code: str,
    test_event_code: str = "",
    batch_size: int = MAX_BATCH,
    resend_ambiguous_within: timedelta = DEFAULT_RESEND_AMBIGUOUS_WITHIN,
    resend_rejected: bool = False,
    run_id: str = "",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    quarantine: pl.DataFrame | None = None,
) -> RelayReport:
    """Queue the orders of ``[start, end)`` and send everything due, in batches, through the outbox.

    ``quarantine``: the range's bad orders; they replace the range's rows of ``conversion_quarantine`` (its
    only writer) in the transaction that queues the good ones, so a window's orders are all accounted for
    or none are.
    """
    if not 0 < batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}, not {batch_size}")
    report = RelayReport()
    own = loaded.in_windows(start, end)
    report.orders_in_windows = len(own)
    rows = outbox_rows(own, pixel_code=pixel_code, test_event_code=test_event_code, now=clock(), run_id=run_id)
    with connect() as connection:
        also = None
        if quarantine is not None:
            also = prepare_window_writes(start, end, Write(CONVERSION_QUARANTINE, quarantine))
            adopt_legacy_rows(connection, CONVERSION_QUARANTINE, ASSET)
        queued = enqueue(connection, rows, also)
        due, report.ambiguous_not_resent = due_rows(
            connection,
            pixel_code=pixel_code,
            test_event_code=test_event_code,
            start=start,
            end=end,
            now=clock(),
            resend_ambiguous_within=resend_ambiguous_within,
            resend_rejected=resend_rejected,
        )
    report.queued, report.changed_after_queue = queued.queued, queued.changed
    report.already_sent = queued.existing["sent"] + queued.existing["rejected"]
    report.by_window = {utc_naive(s): Counter() for s in window_starts(start, end)}
    for c in own:
        report.by_window[utc_naive(c.window_start)]["orders"] += 1
    for window, counts in queued.by_window.items():
        mine = report.by_window[window]
        mine.update(queued=counts["queued"], already_sent=counts["already_sent"], changed_after_queue=counts["changed"])

    by_key = {c.key: c for c in loaded.conversions}
    sendable: list[tuple[dict[str, Any], Conversion]] = []
    lo, hi = utc_naive(start), utc_naive(end)
    for row in due.iter_rows(named=True):
        conversion = by_key.get((row["event"], row["event_id"]))
        if conversion is None:
            report.missing_source += 1
            continue
        sendable.append((row, conversion))
        report.relayed_from_other_windows += not (lo <= row["window_start"] < hi)

    for chunk in _chunks(sendable, batch_size):
        batch_id = uuid.uuid4().hex
        keys = pl.DataFrame([row for row, _ in chunk]).select(*KEY)
        with connect() as connection:
            claim(connection, keys, batch_id=batch_id, now=clock(), run_id=run_id)
        outcome: BatchOutcome = send_batch(client, pixel_code, [c.event for _, c in chunk], test_event_code or None)
        results = keys.with_columns(
            pl.Series(
                "status",
                [_status_after(row["status"], o.status) for (row, _), o in zip(chunk, outcome.outcomes, strict=True)],
            ),
            pl.Series("response_code", [o.code for o in outcome.outcomes], dtype=pl.Int64),
            pl.Series("response_message", [o.message for o in outcome.outcomes], dtype=pl.String),
        )
        with connect() as connection:
            record(connection, results, request_id=outcome.request_id, now=clock(), run_id=run_id)
        counts = Counter(results["status"].to_list())
        for (row, _), status in zip(chunk, results["status"].to_list(), strict=True):
            own_window = report.by_window.get(row["window_start"])
            (report.relayed if own_window is None else own_window)[status] += 1
        report.requests += 1
        report.attempted += len(chunk)
        report.sent += counts["sent"]
        report.rejected += counts["rejected"]
        report.ambiguous += counts["ambiguous"]
        report.pending += counts["pending"]
        report.rejections.update(o.message for o in outcome.outcomes if o.status == "rejected")
        report.batches.append(
            {
                "batch_id": batch_id,
                "events": len(chunk),
                "code": outcome.code,
                "request_id": outcome.request_id,
                "message": outcome.message,
                **{status: counts[status] for status in ("sent", "rejected", "ambiguous", "pending")},
            }
        )
        if outcome.stop:
            report.stopped = outcome.message
            break
    return report
