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

from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from tiktok_pipeline.activation.conversions.orders import Conversion
from tiktok_pipeline.warehouse.io import create_or_extend, read_frame, write_transaction
from tiktok_pipeline.warehouse.tables import CONVERSION_OUTBOX
from tiktok_pipeline.windows import utc_naive

KEY = ("pixel_code", "test_event_code", "event", "event_id")
_MATCH = " AND ".join(f"o.{k} = u.{k}" for k in KEY)
DEFAULT_RESEND_AMBIGUOUS_WITHIN = timedelta(hours=47)
Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


def _transaction(
    connection: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame, *statements: tuple[str, list[Any]]
) -> list[Any]:
    """Run ``statements`` against ``frame`` (registered as ``name``) in one transaction, re-run whole if its commit
    conflicts with another writer's (DuckLake); returns their results."""
    arrow = frame.to_arrow()

    def run(connection: duckdb.DuckDBPyConnection) -> list[Any]:
        create_or_extend(connection, CONVERSION_OUTBOX)
        connection.register(name, arrow)
        try:
            return [connection.execute(sql, params).fetchall() for sql, params in statements]
        finally:
            connection.unregister(name)

    return write_transaction(connection, run)


def outbox_rows(
    conversions: list[Conversion],
    *,
    pixel_code: str,
    test_event_code: str,
    now: datetime,
    run_id: str,
    event_sets: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """New ``pending`` outbox rows for ``conversions``: hashed identifiers only, no ip, user agent or ids.

    ``pixel_code`` is the event_source_id of ``web`` events; ``event_sets`` that of ``offline`` / ``crm`` ones
    (column ``pixel_code`` holds each event's event_source_id); an event whose source has none raises.
    """
    ids = source_ids(pixel_code, event_sets)
    for c in conversions:
        if c.event.event_source not in ids:
            raise ValueError(f"no event_source_id for {c.event.event_source} events (order {c.order_id}): set it")
    rows = [
        {
            "window_start": utc_naive(c.window_start),
            "pixel_code": ids[c.event.event_source],
            "test_event_code": test_event_code,
            "event": c.event.event,
            "event_id": c.event.event_id,
            "order_id": c.order_id,
            "event_time": utc_naive(datetime.fromtimestamp(c.event.event_time, tz=UTC)),
            "value": c.event.value,
            "currency": c.event.currency,
            "content_ids": [content.content_id for content in c.event.contents],
            "email_sha256": c.event.user.digests("email"),
            "phone_sha256": c.event.user.digests("phone"),
            "external_id_sha256": c.event.user.digests("external_id"),
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
    by_window: dict[datetime, Counter[str]] = field(default_factory=dict)
    """The same per window (the order's ``window_start``): ``queued``, ``already_sent`` (sent or rejected), ``changed``."""


def enqueue(
    connection: duckdb.DuckDBPyConnection,
    rows: pl.DataFrame,
    also: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> Queued:
    """Insert the rows whose key is not in the outbox yet, in one transaction; report the others.

    ``also`` runs in the same transaction (the run's quarantined orders: see :func:`relay_conversions`). A commit
    that conflicts with another writer's (DuckLake) re-runs the whole transaction, ``also`` included, so the rows
    already queued are read again.
    """
    arrow = rows.to_arrow()

    def insert(connection: duckdb.DuckDBPyConnection) -> list[Any]:
        create_or_extend(connection, CONVERSION_OUTBOX)
        connection.register("_queue", arrow)
        try:
            existing = connection.execute(
                f"""SELECT o.status, o.payload_sha256 <> u.payload_sha256, u.window_start
                    FROM {CONVERSION_OUTBOX.name} o JOIN _queue u ON {_MATCH}"""
            ).fetchall()
            connection.execute(
                f"""INSERT INTO {CONVERSION_OUTBOX.name} BY NAME SELECT * FROM _queue u
                    WHERE NOT EXISTS (SELECT 1 FROM {CONVERSION_OUTBOX.name} o WHERE {_MATCH})"""
            ).fetchall()
        finally:
            connection.unregister("_queue")
        if also is not None:
            also(connection)
        return existing

    existing = write_transaction(connection, insert)
    by_window: dict[datetime, Counter[str]] = {}
    for window in rows["window_start"].to_list():
        by_window.setdefault(window, Counter())["queued"] += 1
    for status, changed, window in existing:
        counts = by_window[window]
        counts["queued"] -= 1
        counts["already_sent"] += status in ("sent", "rejected")
        counts["changed"] += bool(changed)
    return Queued(
        queued=rows.height - len(existing),
        existing=Counter(status for status, _, _ in existing),
        changed=sum(1 for _, changed, _ in existing if changed),
        by_window=by_window,
    )


def source_ids(pixel_code: str, event_sets: Mapping[str, str] | None) -> dict[str, str]:
    """event_source → event_source_id: the pixel for ``web``, the configured event sets for the others."""
    return {"web": pixel_code, **{source: id_ for source, id_ in (event_sets or {}).items() if id_}}


def due_rows(
    connection: duckdb.DuckDBPyConnection,
    *,
    pixel_code: str | list[str],
    test_event_code: str,
    start: datetime,
    end: datetime,
    now: datetime,
    resend_ambiguous_within: timedelta,
    resend_rejected: bool = False,
) -> tuple[pl.DataFrame, int]:
    """Rows to send now (pending, recent ambiguous, and optionally this range's rejected), oldest first,
    and the number of ambiguous rows left alone because their first attempt is too old to resend safely.
    ``pixel_code``: one event_source_id or several (the pixel and the event sets)."""
    cutoff = utc_naive(now - resend_ambiguous_within) if resend_ambiguous_within > timedelta(0) else datetime.max
    params = [[pixel_code] if isinstance(pixel_code, str) else pixel_code, test_event_code]
    due = read_frame(
        connection,
        f"""SELECT pixel_code, test_event_code, event, event_id, status, window_start FROM {CONVERSION_OUTBOX.name}
            WHERE list_contains(?, pixel_code) AND test_event_code = ? AND (
                status = 'pending'
                OR (status IN ('ambiguous', 'sending') AND first_attempt_at >= ?)
                OR (? AND status = 'rejected' AND window_start >= ? AND window_start < ?))
            ORDER BY window_start, event_time, event_id""",
        [*params, cutoff, resend_rejected, utc_naive(start), utc_naive(end)],
    )
    stale = connection.execute(
        f"""SELECT count(*) FROM {CONVERSION_OUTBOX.name} WHERE list_contains(?, pixel_code) AND test_event_code = ?
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
