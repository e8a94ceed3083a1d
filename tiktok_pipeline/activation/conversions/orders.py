"""Orders exported by the shop's own system: the input format, validation, hashing and quarantine.

**Format.** JSON-lines files (``*.jsonl``, or gzip-compressed ``*.jsonl.gz``) anywhere under
``TIKTOK_CONVERSIONS_DIR`` (default ``data/conversions/incoming/``), one file per export, one order
per line. Files are read in path order; an order exported twice (same event and event id) is sent
once, from the first file that has it. Fields (unknown fields are ignored, never stored):

| field | required | meaning |
|---|---|---|
| ``order_id`` | yes | the shop's order id |
| ``event_time`` | yes | when the order was placed: ISO 8601 **with** a UTC offset (``2026-11-20T10:02:00Z``) or Unix seconds |
| ``value`` | yes | order value, ≥ 0 |
| ``currency`` | yes | ISO 4217 code (``USD``) |
| ``event`` | no | TikTok event name, default ``CompletePayment`` |
| ``skus`` | no | ``[{"sku", "price", "quantity"}]`` → ``properties.contents`` |
| ``email``, ``phone`` | no | the customer's, one or a list; each normalised and SHA-256 hashed before anything else sees it |
| ``external_id`` (or ``customer_id``) | no | the shop's customer id, one or a list; each hashed |
| ``ttclid``, ``ttp`` | no | TikTok click id and ``_ttp`` cookie, when the shop captured them |
| ``pixel_event_id`` | no | the ``event_id`` the browser Pixel sent for this order |
| ``ip``, ``user_agent``, ``page_url`` | no | sent to TikTok as they are, never stored |
| ``event_source`` | no | ``web`` (default: the Pixel), ``offline`` (in store) or ``crm``: sent to that event set (``TIKTOK_OFFLINE_EVENT_SET_ID``, ``TIKTOK_CRM_EVENT_SET_ID``; an order whose set is not configured is quarantined) |

**event_id.** TikTok drops a server event whose (pixel, event, event_id) it already received from the
browser Pixel within 48 hours, so the server event must carry the Pixel's id: ``pixel_event_id`` when
the export has it, else ``order_id`` (the standard Pixel integration sends the order id as
``event_id`` on ``CompletePayment``).

**Bad orders** are quarantined (``conversion_quarantine``, asset ``conversion_outbox``, also in the view
``quarantined_records``) with a reason
naming the file, line and field. Their payload is *redacted*: only ``order_id``, ``event``,
``event_time``, ``value``, ``currency``, ``skus`` and ``pixel_event_id`` are kept as received; every
other field's value (email, phone, ids, ip, user agent, page URL, anything unknown) is replaced by
``sha256:<digest>``, and a line that is not JSON is kept only as its digest and length. A quarantined
order belongs to the window of its ``event_time``, or, when that cannot be read, of the file's
modification time. A line is quarantined, never raised, whatever it holds: bytes that are not UTF-8
(the line's digest and length are kept), JSON nested too deep or with integers too long, a text
field with a lone UTF-16 surrogate (not encodable as UTF-8), an ``event_time`` outside
2000-01-01 .. 2100-01-01 UTC (year 1, year 10000, milliseconds, 10^400), anything that makes
validation, hashing or redaction fail. Quarantine rows are ASCII (lone surrogates escaped).

**Files** are read by :mod:`.export_files`: one that is still being written waits for a later run;
one that cannot be read once settled is quarantined whole; a UTF-8 byte order mark is tolerated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tiktok_pipeline.activation.conversions.export_files import (
    DEFAULT_SETTLE_SECONDS,
    ExportRead,
    order_files,
    read_export,
)
from tiktok_pipeline.activation.conversions.hashing import IdentifierError, redact
from tiktok_pipeline.activation.conversions.order_model import Order, parse_event_time
from tiktok_pipeline.sources.business_api.events import EVENT_SET_SETTINGS, EVENT_SOURCES, TrackedEvent
from tiktok_pipeline.sources.http.decode import escaped
from tiktok_pipeline.windows import window_containing

ASSET = "conversion_outbox"
SOURCE_PREFIX = "conversions"
KEPT_FIELDS = frozenset({"order_id", "event", "event_time", "value", "currency", "skus", "pixel_event_id"})
"""Fields a quarantined payload keeps as received; every other value is redacted."""


@dataclass(frozen=True)
class Conversion:
    """A valid order turned into an Events API event (hashed), with where it came from."""

    event: TrackedEvent
    order_id: str
    source: str
    window_start: datetime

    @property
    def key(self) -> tuple[str, str]:
        """(event, event_id): with the pixel, TikTok's deduplication key."""
        return (self.event.event, self.event.event_id)


@dataclass
class LoadedOrders:
    """Every order under the conversions folder: valid ones as conversions, bad ones as quarantine rows."""

    conversions: list[Conversion] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    """Rows for ``conversion_quarantine``: window_start (UTC), source, reason, payload (redacted), asset."""
    duplicate_orders: int = 0
    """Orders whose (event, event_id) an earlier line or file already had."""
    files: int = 0
    lines: int = 0
    waiting: list[str] = field(default_factory=list)
    """Exports still being written (see :mod:`.export_files`): not read, left for a later run."""
    waiting_reasons: list[str] = field(default_factory=list)
    """Why each of :attr:`waiting` waits (its name and problem), for the run's log."""
    unreadable_files: int = 0
    """Exports quarantined whole: settled, and still not readable."""

    def in_windows(self, start: datetime, end: datetime) -> list[Conversion]:
        return [c for c in self.conversions if start <= c.window_start < end]

    def quarantined_in(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        return [q for q in self.quarantine if start <= q["window_start"] < end]


def redacted_payload(record: Any) -> str:
    """The record as ASCII JSON with every value outside :data:`KEPT_FIELDS` replaced by its SHA-256 marker
    (lone surrogates in kept values escaped)."""
    if not isinstance(record, dict):
        return json.dumps({"record": redact(json.dumps(record, sort_keys=True))})
    safe = {
        key: value if key in KEPT_FIELDS else (None if value is None else redact(value))
        for key, value in record.items()
    }
    return json.dumps(safe, sort_keys=True, default=str)


def _digest(raw: bytes) -> str:
    """What is kept of a line that cannot be read as a record: its SHA-256 and length, nothing of its content."""
    return json.dumps({"line_sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)})


def _reason(exc: ValidationError) -> str:
    """Field paths and messages of a pydantic error, without the input values it carries."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "record"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return escaped("; ".join(parts))


@dataclass(frozen=True)
class BadLine:
    """Why a line is quarantined, what is kept of it, and its window."""

    reason: str
    payload: str
    window: datetime


def _record(raw: bytes) -> Any:
    """The line's JSON value; :class:`BadLine`-worthy errors become ``ValueError`` with the reason."""
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")  # a byte order mark (at the file's start) is tolerated
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise ValueError("not valid JSON (nested too deeply to decode)") from None
    except ValueError as exc:  # an integer beyond Python's digit limit
        raise ValueError(f"not valid JSON ({escaped(str(exc))[:100]})") from None


def _time_window(record: Any) -> datetime | None:
    """The window of the record's ``event_time`` when it has a readable one."""
    if not isinstance(record, dict) or "event_time" not in record:
        return None
    try:
        return window_containing(parse_event_time(record["event_time"]))
    except (ValueError, TypeError, OverflowError, OSError):
        return None


def read_line(
    raw: bytes, file_window: datetime, default_phone_region: str, event_sources: Collection[str] = EVENT_SOURCES
) -> tuple[Order, TrackedEvent, datetime] | BadLine:
    """One export line as (order, event, window), or why it is quarantined: never raises. An order whose
    ``event_source`` is not in ``event_sources`` (its event set id is not configured) is quarantined."""
    try:
        record = _record(raw)
    except ValueError as exc:
        return BadLine(str(exc), _digest(raw), file_window)
    window = _time_window(record) or file_window
    try:
        order = Order.model_validate(record)
        if order.event_source in event_sources:
            return order, order.to_event(default_phone_region), window
        reason = (
            f"event_source: {order.event_source} events need {EVENT_SET_SETTINGS.get(order.event_source, 'a')}"
            f" (the {order.event_source} event set id), which is not set"
        )
    except ValidationError as exc:
        reason = _reason(exc)
    except IdentifierError as exc:
        reason = str(exc)
    except Exception as exc:  # whatever else a value provokes: this line is quarantined, the file goes on
        reason = f"record: could not be processed ({type(exc).__name__})"
    try:
        payload = redacted_payload(record)
    except Exception:  # too deep or too odd to re-encode: keep what is kept of unreadable lines
        payload = _digest(raw)
    return BadLine(reason, payload, window)


def file_windows(read: ExportRead) -> set[datetime]:
    """The windows an export read touches (see :func:`export_windows`)."""
    if read.state == "waiting":
        return set()
    if read.state == "unreadable":
        return {read.window}
    windows: set[datetime] = set()
    for raw in read.lines:
        if not raw.strip():
            continue
        try:
            window = _time_window(_record(raw))
        except ValueError:
            window = None
        windows.add(window or read.window)
    return windows


def export_windows(
    path: Path, *, now: datetime | None = None, settle_seconds: float = DEFAULT_SETTLE_SECONDS
) -> set[datetime]:
    """The windows an export touches: of every readable ``event_time``, plus, when some line has none, of the
    file's modification time (where such lines are quarantined, as is a file that cannot be read). None for a
    file still being written. Reads times only: no validation; never raises."""
    path = Path(path)
    return file_windows(read_export(path, name=path.name, now=now or datetime.now(UTC), settle_seconds=settle_seconds))


def load_orders(
    directory: Path,
    *,
    default_phone_region: str = "US",
    now: datetime | None = None,
    settle_seconds: float = DEFAULT_SETTLE_SECONDS,
    event_sources: Collection[str] = EVENT_SOURCES,
) -> LoadedOrders:
    """Read, validate and hash every order under ``directory``; nothing raw survives except in memory. Never
    raises for what the files hold: bad lines and unreadable files are quarantined, files still being written
    (as of ``now``, default the current time) are left for a later run (:attr:`LoadedOrders.waiting`).
    ``event_sources``: the sources that can be sent (a configured event_source_id); others are quarantined."""
    directory = Path(directory)
    now = now or datetime.now(UTC)
    loaded = LoadedOrders()
    seen: set[tuple[str, str]] = set()
    for path in order_files(directory):
        read = read_export(path, name=path.relative_to(directory).as_posix(), now=now, settle_seconds=settle_seconds)
        if read.state == "waiting":
            loaded.waiting.append(read.name)
            loaded.waiting_reasons.append(f"{read.name} ({read.problem})")
            continue
        loaded.files += 1
        if read.state == "unreadable":
            loaded.unreadable_files += 1
            loaded.quarantine.append(
                _row(
                    read.window,
                    read.name,
                    f"{read.name} (whole file, {read.size} bytes): {read.problem}; none of its orders were read",
                    read.payload,
                )
            )
            continue
        for number, raw in enumerate(read.lines, start=1):
            if not raw.strip():
                continue
            loaded.lines += 1
            source = f"{read.name}:{number}"
            outcome = read_line(raw, read.window, default_phone_region, event_sources)
            if isinstance(outcome, BadLine):
                loaded.quarantine.append(
                    _row(outcome.window, source, f"{read.name} line {number}: {outcome.reason}", outcome.payload)
                )
                continue
            order, event, window = outcome
            conversion = Conversion(
                event=event, order_id=order.order_id, source=f"{SOURCE_PREFIX}/{source}", window_start=window
            )
            if conversion.key in seen:
                loaded.duplicate_orders += 1
                continue
            seen.add(conversion.key)
            loaded.conversions.append(conversion)
    return loaded


def _row(window: datetime, source: str, reason: str, payload: str) -> dict[str, Any]:
    """A ``conversion_quarantine`` row (``source`` relative to the exports folder)."""
    return {
        "window_start": window,
        "source": f"{SOURCE_PREFIX}/{source}",
        "reason": reason,
        "payload": payload,
        "asset": ASSET,
    }
