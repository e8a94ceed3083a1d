"""Relaying one run's conversions through the outbox to the Events API (the protocol is in :mod:`.outbox`).

**One bad event refuses the whole request.** TikTok answers an invalid event with ``code 40002`` for the
request and no list of failed events (stape-io/tiktok-tag issue 10; partial failures are not documented):
it processed none of the batch and does not say which event is at fault. The relay then *isolates* the bad events: it
splits the refused batch in halves and sends each (claimed and recorded like any request), again and again
down to single events, depth first. Events of a refused request were not processed, so resending them is
still their first delivery (exactly once); the good ones end ``sent``, each bad one ``rejected`` with
TikTok's reason. One bad event in n costs at most 2·⌈log2 n⌉ more requests (20 for 1,000); k bad events at
most 2·k·⌈log2 n⌉. A refusal that no split cures (every request refused: a wrong pixel or body, not an
event) could cost 2n requests, so the splits of one batch are capped (``max_split_requests``): past the cap
the undecided events go back to ``pending`` and the run stops, naming the refusal.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
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
    source_ids,
)
from tiktok_pipeline.sources.business_api.client import BusinessApiClient
from tiktok_pipeline.sources.business_api.events import MAX_BATCH, BatchOutcome, EventOutcome, send_batch
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
    split_requests: int = 0
    """Requests spent isolating the bad events of batches TikTok refused whole (included in ``requests``)."""
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


Item = tuple[dict[str, Any], Conversion]
"""A due outbox row and the conversion it is rebuilt from."""
MAX_SPLIT_REQUESTS = 64
"""Default cap on the requests spent isolating the bad events of one refused batch (3 bad events in 1,000)."""


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
    max_split_requests: int = MAX_SPLIT_REQUESTS,
    event_sets: Mapping[str, str] | None = None,
) -> RelayReport:
    """Queue the orders of ``[start, end)`` and send everything due, in batches, through the outbox.

    A batch TikTok refuses whole is split to isolate its bad events (module docstring), with at most
    ``max_split_requests`` extra requests per batch. ``event_sets``: the event_source_id of ``offline`` and
    ``crm`` events (``pixel_code`` is that of ``web`` ones); each request holds events of one source.

    ``quarantine``: the range's bad orders; they replace the range's rows of ``conversion_quarantine`` (its
    only writer) in the transaction that queues the good ones, so a window's orders are all accounted for
    or none are.
    """
    if not 0 < batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}, not {batch_size}")
    report = RelayReport()
    own = loaded.in_windows(start, end)
    report.orders_in_windows = len(own)
    ids = source_ids(pixel_code, event_sets)
    rows = outbox_rows(
        own, pixel_code=pixel_code, test_event_code=test_event_code, now=clock(), run_id=run_id, event_sets=ids
    )
    with connect() as connection:
        also = None
        if quarantine is not None:
            also = prepare_window_writes(start, end, Write(CONVERSION_QUARANTINE, quarantine))
            adopt_legacy_rows(connection, CONVERSION_QUARANTINE, ASSET)
        queued = enqueue(connection, rows, also)
        due, report.ambiguous_not_resent = due_rows(
            connection,
            pixel_code=sorted(set(ids.values())),
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
    sendable: list[Item] = []
    lo, hi = utc_naive(start), utc_naive(end)
    for row in due.iter_rows(named=True):
        conversion = by_key.get((row["event"], row["event_id"]))
        if conversion is None:
            report.missing_source += 1
            continue
        sendable.append((row, conversion))
        report.relayed_from_other_windows += not (lo <= row["window_start"] < hi)

    by_source: dict[str, list[Item]] = {}
    for row, conversion in sendable:  # one request holds events of one source (its event_source_id)
        by_source.setdefault(row["pixel_code"], []).append((row, conversion))
    for source_id, items in by_source.items():
        for chunk in _chunks(items, batch_size):
            report.stopped = _relay_batch(
                connect, client, chunk, report, source_id, test_event_code, run_id, clock, max_split_requests
            )
            if report.stopped:
                return report
    return report


def _relay_batch(
    connect: Connect,
    client: BusinessApiClient,
    batch: list[Item],
    report: RelayReport,
    pixel_code: str,
    test_event_code: str,
    run_id: str,
    clock: Callable[[], datetime],
    max_split_requests: int,
) -> str | None:
    """Send one batch; split what TikTok refuses whole until each bad event is alone. Returns why to stop, or None."""
    todo, splits = [batch], 0
    while todo:
        chunk = todo.pop()
        if chunk is not batch:
            if splits >= max_split_requests:
                undecided = [item for part in [chunk, *todo] for item in part]
                why = (
                    f"TikTok refused whole requests {splits + 1} times while isolating the bad events of a batch"
                    f" (split cap {max_split_requests} reached): {report.batches[-1]['message']}"
                )
                pending = [EventOutcome("pending", None, f"not sent: {why}")] * len(undecided)
                _record(connect, undecided, pending, report.batches[-1]["request_id"], clock, run_id)
                _count(report, undecided, ["pending"] * len(undecided))
                return why
            splits += 1
            report.split_requests += 1
        outcome = _send(connect, client, chunk, report, pixel_code, test_event_code, run_id, clock)
        if outcome.stop:
            return outcome.message
        if outcome.refused_whole and len(chunk) > 1:
            half = (len(chunk) + 1) // 2
            todo.extend([chunk[half:], chunk[:half]])  # depth first, in order
    return None


def _send(
    connect: Connect,
    client: BusinessApiClient,
    chunk: list[Item],
    report: RelayReport,
    pixel_code: str,
    test_event_code: str,
    run_id: str,
    clock: Callable[[], datetime],
) -> BatchOutcome:
    """One request through the outbox: claim, send, record; counted in ``report``."""
    batch_id = uuid.uuid4().hex
    keys = pl.DataFrame([row for row, _ in chunk]).select(*KEY)
    with connect() as connection:
        claim(connection, keys, batch_id=batch_id, now=clock(), run_id=run_id)
    outcome: BatchOutcome = send_batch(client, pixel_code, [c.event for _, c in chunk], test_event_code or None)
    split = outcome.refused_whole and len(chunk) > 1
    # a whole refusal of several events is not their verdict yet: back to pending until a split decides
    outcomes = [EventOutcome("pending", o.code, o.message) for o in outcome.outcomes] if split else outcome.outcomes
    statuses = _record(connect, chunk, outcomes, outcome.request_id, clock, run_id)
    report.requests += 1
    report.rejections.update(o.message for o in outcomes if o.status == "rejected")
    counts = Counter(statuses)
    report.batches.append(
        {
            "batch_id": batch_id,
            "events": len(chunk),
            "code": outcome.code,
            "request_id": outcome.request_id,
            "message": outcome.message,
            "split": split,
            **{status: counts[status] for status in ("sent", "rejected", "ambiguous", "pending")},
        }
    )
    if not split:
        _count(report, chunk, statuses)
    return outcome


def _record(
    connect: Connect,
    chunk: list[Item],
    outcomes: list[EventOutcome],
    request_id: str | None,
    clock: Callable[[], datetime],
    run_id: str,
) -> list[str]:
    """Write the chunk's outcomes to the outbox (one transaction); returns each event's new status."""
    statuses = [_status_after(row["status"], o.status) for (row, _), o in zip(chunk, outcomes, strict=True)]
    results = (
        pl.DataFrame([row for row, _ in chunk])
        .select(*KEY)
        .with_columns(
            pl.Series("status", statuses),
            pl.Series("response_code", [o.code for o in outcomes], dtype=pl.Int64),
            pl.Series("response_message", [o.message for o in outcomes], dtype=pl.String),
        )
    )
    with connect() as connection:
        record(connection, results, request_id=request_id, now=clock(), run_id=run_id)
    return statuses


def _count(report: RelayReport, chunk: list[Item], statuses: list[str]) -> None:
    """Count the final outcome of each event of ``chunk`` (once per event, whatever the splits)."""
    counts = Counter(statuses)
    for (row, _), status in zip(chunk, statuses, strict=True):
        own_window = report.by_window.get(row["window_start"])
        (report.relayed if own_window is None else own_window)[status] += 1
    report.attempted += len(chunk)
    report.sent += counts["sent"]
    report.rejected += counts["rejected"]
    report.ambiguous += counts["ambiguous"]
    report.pending += counts["pending"]
