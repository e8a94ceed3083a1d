"""Events API 2.0 (``POST /open_api/v1.3/event/track/``): validation, 48-hour deduplication, counters.

The body is TikTok's: ``{"event_source": "web", "event_source_id": <pixel code>, "test_event_code":
<optional>, "data": [<= 1000 events]}``, each event ``{"event", "event_time", "event_id", "user": {ttclid,
ttp, email, phone, external_id, ip, user_agent}, "page": {"url"}, "properties": {"currency", "value",
"contents": [...]}}``. ``email``, ``phone`` and ``external_id`` are a SHA-256 digest or a list of digests
(Segment's TikTok Offline Conversions destination sends lists).

What the simulator enforces, and the assumptions it makes where TikTok's documentation is silent:

- **Whole-request errors** (code ``40002``, nothing stored): a body that is not an object, an
  ``event_source`` other than ``web`` (pixel code), ``offline`` or ``crm`` (an event set id of that kind:
  a pixel code there is refused, as users report: stape-io/tiktok-tag issue 33), a missing
  ``event_source_id``, ``data`` empty, not a list or longer than 1,000 events. A pixel or event set the
  token cannot use answers ``40001``.
- **An invalid event** (:attr:`EventsStore.invalid_events`):

  - ``"request"`` (the default: TikTok's observed answer, stape-io/tiktok-tag issue 10 got
    ``{"code": 40002, "message": "Invalid value for event_id: not a valid string."}`` for a one-event request;
    that a batch of many is refused whole is our reading of it): the whole request is refused with ``40002``
    and a message naming the field of the first invalid event (not its index, never the value); **nothing**
    of the request is stored.
  - ``"partial"`` (an assumption: TikTok documents no partial failures): the request succeeds (``code 0``);
    each refused event is listed in ``data.failed_events`` as ``{"index", "event_id", "code": 40002,
    "message"}`` and not stored; the others are accepted.

  An event is invalid when ``event`` is missing, ``event_time`` is not whole Unix seconds, is more
  than 7 days old (assumption: TikTok documents attribution windows, not an ingestion limit; 7 days
  is the conservative choice) or more than 10 minutes in the future, when ``user.email``,
  ``user.phone`` or ``user.external_id`` (or an item of its list) is not a SHA-256 hex digest (64
  lower-case hex characters: raw personal data is refused, never stored), when ``properties`` has a
  negative or non-numeric ``value`` or a ``currency`` that is not three upper-case letters, or when its
  ``event_id`` is in :attr:`EventsStore.invalid_event_ids` (a test's stand-in for whatever else TikTok
  refuses). Messages read ``Invalid value for <field>: <problem>.``
- **Deduplication**: an event whose (pixel, ``event``, ``event_id``) arrived within the last 48
  hours (from its first receipt) is dropped silently, as TikTok does, and **counted** in
  :attr:`EventsStore.duplicates`. Events without ``event_id`` are never deduplicated (TikTok
  falls back to the ``_ttp`` cookie; the simulator does not model that). Events sent with a
  ``test_event_code`` are kept apart (:attr:`EventsStore.test_events`) and deduplicated among
  themselves (:attr:`EventsStore.test_duplicates`): they never count as production conversions
  (assumption: TikTok documents test events only as shown in Events Manager, not how they batch).
- **Scripted failures** for the exactly-once tests: :meth:`EventsStore.timeout_next` makes the
  next requests go unanswered, and :meth:`EventsStore.gateway_next` answers them as a gateway that
  gave up (HTTP 504, an HTML page), either *before* processing (nothing stored) or *after*
  processing (events stored, the answer lost: the case where a resend is a duplicate).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from tiktok_pipeline.simulator.business.protocol import BusinessError, BusinessRequest, GatewayFailure
from tiktok_pipeline.simulator.faults import SimulatedTimeout

SIM_PIXEL_CODE = "CSIMULATORPIXEL00001"
"""The pixel the simulator's token may send events to (``TIKTOK_PIXEL_CODE`` defaults to it)."""
SIM_EVENT_SETS = {"offline": "7300000000000000001", "crm": "7300000000000000002"}
"""The offline and CRM event sets the simulator's token may send events to (event_source_id of those sources)."""
MAX_EVENTS_PER_REQUEST = 1000
DEDUP_WINDOW_SECONDS = 48 * 3600
MAX_EVENT_AGE_SECONDS = 7 * 86400
MAX_FUTURE_SECONDS = 600
EVENT_SOURCES = frozenset({"web", "offline", "crm"})
InvalidEvents = Literal["request", "partial"]
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
    gateway: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class EventsStore:
    """The Events API's state: accepted events, duplicates and refusals. Thread-safe.

    Set as ``simulator.business.events`` by :func:`..app.default_endpoints`; tests read it.
    """

    pixels: frozenset[str] = frozenset({SIM_PIXEL_CODE})
    event_sets: dict[str, str] = field(default_factory=lambda: dict(SIM_EVENT_SETS))
    """Event set id per non-web ``event_source`` the token may use."""
    invalid_events: InvalidEvents = "request"
    """What an invalid event does: refuse the whole request (``request``, TikTok's observed answer) or only
    itself (``partial``: listed in ``data.failed_events``)."""
    invalid_event_ids: set[str] = field(default_factory=set)
    """event_ids refused as invalid (``Invalid value for event_id``): a test's stand-in for any refusal."""
    events: list[ReceivedEvent] = field(default_factory=list)
    test_events: list[ReceivedEvent] = field(default_factory=list)
    duplicates: int = 0
    """Production events dropped because their (pixel, event, event_id) arrived within 48 hours."""
    test_duplicates: int = 0
    deliveries: Counter[EventKey] = field(default_factory=Counter)
    """How many times each production key arrived (accepted + duplicates): 1 everywhere means exactly once."""
    refused: list[tuple[str | None, str]] = field(default_factory=list)
    """(event_id, message) of every invalid event found (in a refused request: only the first)."""
    refused_requests: int = 0
    """Requests refused whole because of an invalid event (``invalid_events == "request"``): nothing stored."""
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

    def gateway_next(self, status: int = 504, *, when: Literal["before", "after"] = "after") -> None:
        """Answer the next event/track call as a gateway that gave up (HTTP ``status``, an HTML page), before
        or after processing it."""
        with self._lock:
            self._script.gateway.append((status, when))

    def received(self, event_id: str, event: str | None = None) -> int:
        """How many accepted production events carry ``event_id`` (and ``event``, if given)."""
        with self._lock:
            return sum(1 for e in self.events if e.event_id == event_id and (event is None or e.event == event))

    def track(self, request: BusinessRequest) -> dict[str, Any]:
        """The ``event/track`` handler."""
        with self._lock:
            self.requests += 1
            gateway = self._script.gateway.pop(0) if self._script.gateway else None
            if gateway is not None and gateway[1] == "before":
                raise GatewayFailure(gateway[0])
            if self._script.before:
                self._script.before -= 1
                self.timeouts_before += 1
                raise SimulatedTimeout("simulated event/track timeout before processing")
        pixel, test_code, data = _validate_request(request.body, self.pixels, self.event_sets)
        problems = [self._problem(event, request.now) for event in data]
        failed: list[dict[str, Any]] = []
        with self._lock:
            bad = [(event, problem) for event, problem in zip(data, problems, strict=True) if problem is not None]
            if bad and self.invalid_events == "request":
                self.refused_requests += 1
                self.refused.append((_event_id(bad[0][0]), bad[0][1]))
                raise BusinessError(40002, bad[0][1])
            for index, (event, problem) in enumerate(zip(data, problems, strict=True)):
                if problem is not None:
                    failed.append({"index": index, "event_id": _event_id(event), "code": 40002, "message": problem})
                    self.refused.append((_event_id(event), problem))
                    continue
                self._accept(pixel, test_code, event, request.now)
            if gateway is not None:
                raise GatewayFailure(gateway[0])
            if self._script.after:
                self._script.after -= 1
                self.timeouts_after += 1
                raise SimulatedTimeout("simulated event/track timeout after processing (response lost)")
        return {"failed_events": failed} if failed else {}

    def _problem(self, event: Any, now: float) -> str | None:
        """``Invalid value for <field>: <problem>.`` for an event TikTok would refuse, or None."""
        found = _event_problem(event, now)
        if found is None and _event_id(event) in self.invalid_event_ids:
            found = ("event_id", "not a valid string")
        return None if found is None else f"Invalid value for {found[0]}: {found[1]}."

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


def _event_id(event: Any) -> str | None:
    value = event.get("event_id") if isinstance(event, dict) else None
    return value if isinstance(value, str) else None


def _validate_request(
    body: Any, pixels: frozenset[str], event_sets: dict[str, str]
) -> tuple[str, str | None, list[Any]]:
    if not isinstance(body, dict):
        raise BusinessError(40002, "The request body must be a JSON object.")
    source = body.get("event_source")
    if source not in EVENT_SOURCES:
        raise BusinessError(40002, f"event_source must be one of {sorted(EVENT_SOURCES)}.")
    source_id = body.get("event_source_id")
    if not isinstance(source_id, str) or not source_id:
        raise BusinessError(40002, "event_source_id (the pixel code or event set id) is required.")
    if source == "web" and source_id not in pixels:
        raise BusinessError(40001, "No permission to send events to this pixel (event_source_id).")
    if source != "web" and source_id != event_sets.get(source):
        if source_id in pixels or not source_id.isdigit():  # a pixel code where an event set id belongs
            raise BusinessError(40002, "Invalid value for event_source_id: not a valid string.")
        raise BusinessError(40001, f"No permission to send events to this {source} event set (event_source_id).")
    test_code = body.get("test_event_code")
    if test_code is not None and not isinstance(test_code, str):
        raise BusinessError(40002, "test_event_code must be a string.")
    data = body.get("data")
    if not isinstance(data, list) or not data:
        raise BusinessError(40002, "data must be a non-empty list of events.")
    if len(data) > MAX_EVENTS_PER_REQUEST:
        raise BusinessError(40002, f"data holds {len(data)} events; at most {MAX_EVENTS_PER_REQUEST} per request.")
    return source_id, test_code or None, data


def _hashed(value: Any) -> bool:
    """A SHA-256 hex digest, or a list of them (Events API 2.0 takes both)."""
    values = value if isinstance(value, list) else [value]
    return all(isinstance(v, str) and _SHA256.match(v) for v in values)


def _event_problem(event: Any, now: float) -> tuple[str, str] | None:
    """(field, problem) of why TikTok would refuse this one event (never the value), or None."""
    if not isinstance(event, dict):
        return "data", "the event is not an object"
    name = event.get("event")
    if not isinstance(name, str) or not name.strip():
        return "event", "the event name is required"
    event_id = event.get("event_id")
    if event_id is not None and (not isinstance(event_id, str) or not event_id):
        return "event_id", "not a valid string"
    event_time = event.get("event_time")
    if isinstance(event_time, bool) or not isinstance(event_time, int):
        return "event_time", "must be a Unix timestamp in whole seconds"
    if event_time > now + MAX_FUTURE_SECONDS:
        return "event_time", "is in the future"
    if event_time < now - MAX_EVENT_AGE_SECONDS:
        return "event_time", "is more than 7 days in the past"
    user = event.get("user", {})
    if not isinstance(user, dict):
        return "user", "must be an object"
    for key in HASHED_USER_FIELDS:
        if user.get(key) is not None and not _hashed(user[key]):
            return f"user.{key}", "must be SHA-256 hashed (64 lower-case hex characters, or a list of them)"
    for key in ("ttclid", "ttp", "ip", "user_agent"):
        if user.get(key) is not None and not isinstance(user[key], str):
            return f"user.{key}", "must be a string"
    properties = event.get("properties", {})
    if not isinstance(properties, dict):
        return "properties", "must be an object"
    value = properties.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
        return "properties.value", "must be a non-negative number"
    currency = properties.get("currency")
    if currency is not None and not (isinstance(currency, str) and _CURRENCY.match(currency)):
        return "properties.currency", "must be an ISO 4217 code (three upper-case letters)"
    if value is not None and currency is None:
        return "properties.currency", "is required with properties.value"
    contents = properties.get("contents", [])
    if not isinstance(contents, list) or not all(
        isinstance(c, dict) and isinstance(c.get("content_id"), str) for c in contents
    ):
        return "properties.contents", "must be a list of objects with a content_id"
    return None
