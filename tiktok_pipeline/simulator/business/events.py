"""Events API 2.0 (``POST /open_api/v1.3/event/track/``): validation, 48-hour deduplication, counters.

The body is TikTok's: ``{"event_source": "web", "event_source_id": <pixel code>, "test_event_code":
<optional>, "data": [<= 1000 events]}``, each event ``{"event", "event_time", "event_id", "user": {ttclid,
ttp, email, phone, external_id, ip, user_agent}, "page": {"url"}, "properties": {"currency", "value",
"contents": [...]}}``.

What the simulator enforces, and the assumptions it makes where TikTok's documentation is silent:

- **Whole-request errors** (code ``40002``, nothing stored): a body that is not an object, an
  ``event_source`` other than ``"web"`` (the only source this simulator serves), a missing
  ``event_source_id``, ``data`` empty, not a list or longer than 1,000 events. A pixel the token
  cannot use answers ``40001``.
- **Per-event errors** (assumption: TikTok does not document partial failures): the request
  succeeds (``code 0``); each refused event is listed in ``data.failed_events`` as
  ``{"index", "event_id", "code": 40002, "message"}`` and not stored; the others are accepted.
  An event is refused when ``event`` is missing, ``event_time`` is not whole Unix seconds, is more
  than 7 days old (assumption: TikTok documents attribution windows, not an ingestion limit; 7 days
  is the conservative choice) or more than 10 minutes in the future, when ``user.email``,
  ``user.phone`` or ``user.external_id`` is not a SHA-256 hex digest (64 lower-case hex characters:
  raw personal data is refused, never stored), or when ``properties`` has a negative or
  non-numeric ``value`` or a ``currency`` that is not three upper-case letters. Messages name the
  field, never the value.
- **Deduplication**: an event whose (pixel, ``event``, ``event_id``) arrived within the last 48
  hours (from its first receipt) is dropped silently, as TikTok does, and **counted** in
  :attr:`EventsStore.duplicates`. Events without ``event_id`` are never deduplicated (TikTok
  falls back to the ``_ttp`` cookie; the simulator does not model that). Events sent with a
  ``test_event_code`` are kept apart (:attr:`EventsStore.test_events`) and deduplicated among
  themselves (:attr:`EventsStore.test_duplicates`): they never count as production conversions.
- **Scripted timeouts** for the exactly-once tests: :meth:`EventsStore.timeout_next` makes the
  next requests go unanswered either *before* processing (nothing stored: the same as
  ``BusinessFaultConfig.rate_timeout``) or *after* processing (events stored, the response lost:
  the case where a resend is a duplicate).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from tiktok_pipeline.simulator.business.protocol import BusinessError, BusinessRequest
from tiktok_pipeline.simulator.faults import SimulatedTimeout

SIM_PIXEL_CODE = "CSIMULATORPIXEL00001"
"""The pixel the simulator's token may send events to (``TIKTOK_PIXEL_CODE`` defaults to it)."""
MAX_EVENTS_PER_REQUEST = 1000
DEDUP_WINDOW_SECONDS = 48 * 3600
MAX_EVENT_AGE_SECONDS = 7 * 86400
MAX_FUTURE_SECONDS = 600
EVENT_SOURCES = frozenset({"web"})
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
HASHED_USER_FIELDS = ("email", "phone", "external_id")

EventKey = tuple[str, str, str]
"""(pixel code, event name, event_id): TikTok's deduplication key."""


@dataclass(frozen=True)
class ReceivedEvent:
    """An event the simulator accepted (what TikTok would attribute)."""

    pixel_code: str
    test_event_code: str | None
    event: str
    event_id: str | None
    event_time: int
    received_at: float
    user: dict[str, Any]
    properties: dict[str, Any]


@dataclass
class _Pending:
    before: int = 0
    after: int = 0


@dataclass
class EventsStore:
    """The Events API's state: accepted events, duplicates and refusals. Thread-safe.

    Set as ``simulator.business.events`` by :func:`..app.default_endpoints`; tests read it.
    """

    pixels: frozenset[str] = frozenset({SIM_PIXEL_CODE})
    events: list[ReceivedEvent] = field(default_factory=list)
    test_events: list[ReceivedEvent] = field(default_factory=list)
    duplicates: int = 0
    """Production events dropped because their (pixel, event, event_id) arrived within 48 hours."""
    test_duplicates: int = 0
    deliveries: Counter[EventKey] = field(default_factory=Counter)
    """How many times each production key arrived (accepted + duplicates): 1 everywhere means exactly once."""
    refused: list[tuple[str | None, str]] = field(default_factory=list)
    """(event_id, message) of every event refused one by one."""
    requests: int = 0
    timeouts_before: int = 0
    timeouts_after: int = 0
    _first_seen: dict[EventKey, float] = field(default_factory=dict)
    _test_first_seen: dict[EventKey, float] = field(default_factory=dict)
    _script: _Pending = field(default_factory=_Pending)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def timeout_next(self, requests: int = 1, *, when: Literal["before", "after"] = "before") -> None:
        """Leave the next ``requests`` event/track calls unanswered, before or after processing them."""
        with self._lock:
            if when == "before":
                self._script.before += requests
            else:
                self._script.after += requests

    def received(self, event_id: str, event: str | None = None) -> int:
        """How many accepted production events carry ``event_id`` (and ``event``, if given)."""
        with self._lock:
            return sum(1 for e in self.events if e.event_id == event_id and (event is None or e.event == event))

    def track(self, request: BusinessRequest) -> dict[str, Any]:
        """The ``event/track`` handler."""
        with self._lock:
            self.requests += 1
            if self._script.before:
                self._script.before -= 1
                self.timeouts_before += 1
                raise SimulatedTimeout("simulated event/track timeout before processing")
        pixel, test_code, data = _validate_request(request.body, self.pixels)
        failed: list[dict[str, Any]] = []
        with self._lock:
            for index, event in enumerate(data):
                problem = _event_problem(event, request.now)
                event_id = event.get("event_id") if isinstance(event, dict) else None
                if problem is not None:
                    failed.append({"index": index, "event_id": event_id, "code": 40002, "message": problem})
                    self.refused.append((event_id, problem))
                    continue
                self._accept(pixel, test_code, event, request.now)
            if self._script.after:
                self._script.after -= 1
                self.timeouts_after += 1
                raise SimulatedTimeout("simulated event/track timeout after processing (response lost)")
        return {"failed_events": failed} if failed else {}

    def _accept(self, pixel: str, test_code: str | None, event: dict[str, Any], now: float) -> None:
        event_id = event.get("event_id")
        key = cast(tuple[str, str, str], (pixel, event["event"], event_id))
        first_seen = self._test_first_seen if test_code else self._first_seen
        if event_id is not None:
            if not test_code:
                self.deliveries[key] += 1
            seen = first_seen.get(key)
            if seen is not None and now - seen < DEDUP_WINDOW_SECONDS:
                if test_code:
                    self.test_duplicates += 1
                else:
                    self.duplicates += 1
                return
            first_seen[key] = now
        received = ReceivedEvent(
            pixel_code=pixel,
            test_event_code=test_code,
            event=event["event"],
            event_id=event_id,
            event_time=event["event_time"],
            received_at=now,
            user=dict(event.get("user") or {}),
            properties=dict(event.get("properties") or {}),
        )
        (self.test_events if test_code else self.events).append(received)


def _validate_request(body: Any, pixels: frozenset[str]) -> tuple[str, str | None, list[Any]]:
    if not isinstance(body, dict):
        raise BusinessError(40002, "The request body must be a JSON object.")
    source = body.get("event_source")
    if source not in EVENT_SOURCES:
        raise BusinessError(40002, f"event_source must be one of {sorted(EVENT_SOURCES)}.")
    pixel = body.get("event_source_id")
    if not isinstance(pixel, str) or not pixel:
        raise BusinessError(40002, "event_source_id (the pixel code) is required.")
    if pixel not in pixels:
        raise BusinessError(40001, "No permission to send events to this pixel (event_source_id).")
    test_code = body.get("test_event_code")
    if test_code is not None and not isinstance(test_code, str):
        raise BusinessError(40002, "test_event_code must be a string.")
    data = body.get("data")
    if not isinstance(data, list) or not data:
        raise BusinessError(40002, "data must be a non-empty list of events.")
    if len(data) > MAX_EVENTS_PER_REQUEST:
        raise BusinessError(40002, f"data holds {len(data)} events; at most {MAX_EVENTS_PER_REQUEST} per request.")
    return pixel, test_code or None, data


def _event_problem(event: Any, now: float) -> str | None:
    """Why TikTok would refuse this one event (naming the field, never the value), or None."""
    if not isinstance(event, dict):
        return "the event is not an object"
    name = event.get("event")
    if not isinstance(name, str) or not name.strip():
        return "event (the event name) is required"
    event_id = event.get("event_id")
    if event_id is not None and (not isinstance(event_id, str) or not event_id):
        return "event_id must be a non-empty string"
    event_time = event.get("event_time")
    if isinstance(event_time, bool) or not isinstance(event_time, int):
        return "event_time must be a Unix timestamp in whole seconds"
    if event_time > now + MAX_FUTURE_SECONDS:
        return "event_time is in the future"
    if event_time < now - MAX_EVENT_AGE_SECONDS:
        return "event_time is more than 7 days in the past"
    user = event.get("user", {})
    if not isinstance(user, dict):
        return "user must be an object"
    for key in HASHED_USER_FIELDS:
        value = user.get(key)
        if value is not None and not (isinstance(value, str) and _SHA256.match(value)):
            return f"user.{key} must be SHA-256 hashed (64 lower-case hex characters)"
    for key in ("ttclid", "ttp", "ip", "user_agent"):
        if user.get(key) is not None and not isinstance(user[key], str):
            return f"user.{key} must be a string"
    properties = event.get("properties", {})
    if not isinstance(properties, dict):
        return "properties must be an object"
    value = properties.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
        return "properties.value must be a non-negative number"
    currency = properties.get("currency")
    if currency is not None and not (isinstance(currency, str) and _CURRENCY.match(currency)):
        return "properties.currency must be an ISO 4217 code (three upper-case letters)"
    if value is not None and currency is None:
        return "properties.currency is required with properties.value"
    contents = properties.get("contents", [])
    if not isinstance(contents, list) or not all(
        isinstance(c, dict) and isinstance(c.get("content_id"), str) for c in contents
    ):
        return "properties.contents must be a list of objects with a content_id"
    return None
