"""The conversion outbox: every event we owe TikTok, what was sent, and what TikTok answered.

``conversion_outbox`` (DuckDB) has one row per (pixel, test event code, event, event_id): TikTok's own
deduplication key, plus the test code so a test send never stands in for the production one. The
protocol makes sending exactly-once from our side:

1. **Queue** (one transaction): the run's orders that are not in the outbox yet are inserted as
   ``pending``, and the run's bad orders replace its windows' rows of ``conversion_quarantine``. Orders already there are left alone, whatever their status: re-running a window,
   or re-reading an export, never queues an event twice.
2. **Claim** (one transaction per batch, *before* the request): the batch's rows become
   ``sending``, ``attempts`` + 1, ``first_attempt_at`` set once. If the process dies during the
   request, the rows stay ``sending`` and the next run handles them as ``ambiguous``.
3. **Send** one request of ≤ 1,000 events (:func:`..business_api.events.send_batch`), never resent
   by the client on a timeout.
4. **Record** (one transaction per batch, right after the answer): ``sent``, ``rejected`` with
   TikTok's reason, ``ambiguous`` (no answer), or back to ``pending`` (TikTok answered with an error,
   so it processed nothing; a row that was ambiguous before stays ambiguous).

Which rows a run sends: ``pending`` ones, and ``ambiguous``/``sending`` ones whose first attempt is
less than ``resend_ambiguous_within`` old (default 47 h, inside TikTok's 48-hour deduplication
window), from *any* window: each run also relays what earlier runs left over. ``sent`` and
``rejected`` rows are never sent again (``resend_rejected`` re-queues the run's own windows'
rejected rows after the cause was fixed: TikTok processed none of them, so that is safe).

**Ambiguous events: the trade-off.** When a request gets no answer, nobody can tell whether TikTok
processed it, and the Events API offers no way to ask. Not resending risks a *lost* conversion
(certain when the timeout happened before processing: TikTok's usual failure); resending risks a
*duplicate delivery* when it happened after. We resend, once per run, with the same event_id and
only while TikTok's 48-hour deduplication covers the first attempt, so a duplicate is dropped by
TikTok and never counted twice in attribution; after that horizon an ambiguous event is left
alone and reported (``ambiguous_not_resent``) rather than risk a double count. With
``resend_ambiguous_within`` = 0 ambiguous events are never resent (at most once).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from tiktok_pipeline.activation.conversions.orders import ASSET, Conversion, LoadedOrders
from tiktok_pipeline.sources.business_api.client import BusinessApiClient
from tiktok_pipeline.sources.business_api.events import MAX_BATCH, BatchOutcome, send_batch
from tiktok_pipeline.warehouse.io import Write, prepare_window_writes, read_frame, transaction
from tiktok_pipeline.warehouse.quarantine import adopt_legacy_rows
from tiktok_pipeline.warehouse.tables import CONVERSION_OUTBOX, CONVERSION_QUARANTINE
from tiktok_pipeline.windows import utc_naive

KEY = ("pixel_code", "test_event_code", "event", "event_id")
_MATCH = " AND ".join(f"o.{k} = u.{k}" for k in KEY)
DEFAULT_RESEND_AMBIGUOUS_WITHIN = timedelta(hours=47)
Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _transaction(
    connection: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame, *statements: tuple[str, list[Any]]
) -> list[Any]:
    """Run ``statements`` against ``frame`` (registered as ``name``) in one transaction; returns their results."""
    results = []
    with transaction(connection):
        connection.execute(CONVERSION_OUTBOX.ddl)
        connection.register(name, frame.to_arrow())
        for sql, params in statements:
            results.append(connection.execute(sql, params).fetchall())
        connection.unregister(name)
    return results


def outbox_rows(
    conversions: list[Conversion], *, pixel_code: str, test_event_code: str, now: datetime, run_id: str
) -> pl.DataFrame:
    """New ``pending`` outbox rows for ``conversions``: hashed identifiers only, no ip, user agent or ids."""
    rows = [
        {
            "window_start": utc_naive(c.window_start),
            "pixel_code": pixel_code,
            "test_event_code": test_event_code,
            "event": c.event.event,
            "event_id": c.event.event_id,
            "order_id": c.order_id,
            "event_time": utc_naive(datetime.fromtimestamp(c.event.event_time, tz=UTC)),
            "value": c.event.value,
            "currency": c.event.currency,
            "content_ids": [content.content_id for content in c.event.contents],
            "email_sha256": c.event.user.email,
            "phone_sha256": c.event.user.phone,
            "external_id_sha256": c.event.user.external_id,
            "identifiers": c.event.identifiers,
            "source": c.source,
            "payload_sha256": c.event.payload_sha256(),
            "status": "pending",
            "attempts": 0,
            "queued_at": utc_naive(now),
            "run_id": run_id,
        }
        for c in conversions
    ]
    if not rows:
        return CONVERSION_OUTBOX.empty()
    return CONVERSION_OUTBOX.conform(pl.DataFrame(rows, infer_schema_length=None))


@dataclass(frozen=True)
class Queued:
    """What queueing a run's orders did."""

    queued: int
    """Orders new to the outbox, now pending."""
    existing: Counter[str]
    """Orders already in the outbox, by status: they are not queued again."""
    changed: int
    """Orders already in the outbox whose event differs now (a later export changed the order)."""


def enqueue(
    connection: duckdb.DuckDBPyConnection,
    rows: pl.DataFrame,
    also: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> Queued:
    """Insert the rows whose key is not in the outbox yet, in one transaction; report the others.

    ``also`` runs in the same transaction (the run's quarantined orders: see :func:`relay_conversions`).
    """
    with transaction(connection):
        connection.execute(CONVERSION_OUTBOX.ddl)
        connection.register("_queue", rows.to_arrow())
        existing = connection.execute(
            f"SELECT o.status, o.payload_sha256 <> u.payload_sha256 FROM {CONVERSION_OUTBOX.name} o JOIN _queue u ON {_MATCH}"
        ).fetchall()
        connection.execute(
            f"""INSERT INTO {CONVERSION_OUTBOX.name} BY NAME SELECT * FROM _queue u
                WHERE NOT EXISTS (SELECT 1 FROM {CONVERSION_OUTBOX.name} o WHERE {_MATCH})"""
        ).fetchall()
        connection.unregister("_queue")
        if also is not None:
            also(connection)
    return Queued(
        queued=rows.height - len(existing),
        existing=Counter(status for status, _ in existing),
        changed=sum(1 for _, changed in existing if changed),
    )


def due_rows(
    connection: duckdb.DuckDBPyConnection,
    *,
    pixel_code: str,
    test_event_code: str,
    start: datetime,
    end: datetime,
    now: datetime,
    resend_ambiguous_within: timedelta,
    resend_rejected: bool = False,
) -> tuple[pl.DataFrame, int]:
    """Rows to send now (pending, recent ambiguous, and optionally this range's rejected), oldest first,
    and the number of ambiguous rows left alone because their first attempt is too old to resend safely."""
    cutoff = utc_naive(now - resend_ambiguous_within) if resend_ambiguous_within > timedelta(0) else datetime.max
    params = [pixel_code, test_event_code]
    due = read_frame(
        connection,
        f"""SELECT pixel_code, test_event_code, event, event_id, status, window_start FROM {CONVERSION_OUTBOX.name}
            WHERE pixel_code = ? AND test_event_code = ? AND (
                status = 'pending'
                OR (status IN ('ambiguous', 'sending') AND first_attempt_at >= ?)
                OR (? AND status = 'rejected' AND window_start >= ? AND window_start < ?))
            ORDER BY window_start, event_time, event_id""",
        [*params, cutoff, resend_rejected, utc_naive(start), utc_naive(end)],
    )
    stale = connection.execute(
        f"""SELECT count(*) FROM {CONVERSION_OUTBOX.name} WHERE pixel_code = ? AND test_event_code = ?
            AND status IN ('ambiguous', 'sending') AND first_attempt_at < ?""",
        [*params, cutoff],
    ).fetchall()[0][0]
    return due, int(stale)


def claim(
    connection: duckdb.DuckDBPyConnection, keys: pl.DataFrame, *, batch_id: str, now: datetime, run_id: str
) -> None:
    """Mark a batch ``sending`` before its request goes out (one transaction)."""
    moment = utc_naive(now)
    _transaction(
        connection,
        "_claim",
        keys.select(*KEY),
        (
            f"""UPDATE {CONVERSION_OUTBOX.name} AS o SET status = 'sending', attempts = o.attempts + 1, batch_id = ?,
                last_attempt_at = ?, first_attempt_at = coalesce(o.first_attempt_at, ?), run_id = ?
                FROM _claim u WHERE {_MATCH}""",
            [batch_id, moment, moment, run_id],
        ),
    )


def record(
    connection: duckdb.DuckDBPyConnection, results: pl.DataFrame, *, request_id: str | None, now: datetime, run_id: str
) -> None:
    """Write a batch's outcome (key, status, response_code, response_message per event) in one transaction."""
    moment = utc_naive(now)
    _transaction(
        connection,
        "_result",
        results.select(*KEY, "status", "response_code", "response_message"),
        (
            f"""UPDATE {CONVERSION_OUTBOX.name} AS o SET status = u.status, response_code = u.response_code,
                response_message = u.response_message, request_id = ?, run_id = ?,
                sent_at = CASE WHEN u.status = 'sent' THEN ? ELSE o.sent_at END
                FROM _result u WHERE {_MATCH}""",
            [request_id, run_id, moment],
        ),
    )


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
    clock: Callable[[], datetime] = _utcnow,
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
