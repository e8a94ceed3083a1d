"""Events API 2.0 (``POST /open_api/v1.3/event/track/``): the event body and what TikTok's answer means.

:class:`TrackedEvent` is one event as TikTok expects it, identifiers already normalised and
hashed (:mod:`.hashing`); ``email``, ``phone`` and ``external_id`` are one digest or several (sent as a
list, as Segment's TikTok Offline Conversions destination does). :func:`send_batch` posts up to 1,000 of
them in one request, **without** resending on a timeout or a gateway's 5xx page (``retry_timeouts=False``:
the client cannot know whether TikTok processed a request whose answer was lost), and turns the answer
into one :class:`EventOutcome` per event:

| answer | events | further batches |
|---|---|---|
| ``code 0`` (or 20001) | ``sent``, except those listed in ``data.failed_events``: ``rejected`` with TikTok's message | continue |
| no answer (timeout, connection lost), or a 5xx without envelope (a gateway's page) | ``ambiguous``: TikTok may or may not have them | continue |
| 40105 / 40001 (token, permission), an answer without envelope, an unknown code, retryable codes after the client's retries | ``pending``: not processed, sent again by a later run | **stop** |
| 40002 (a refused parameter) without ``failed_events`` | ``rejected`` with the code and message, and :attr:`BatchOutcome.refused_whole`: TikTok refuses a whole request for one bad event, so the caller splits it to find which (:mod:`...activation.conversions.relay`) | continue |
| 40002 listing ``failed_events`` | those ``rejected``, the others ``ambiguous`` (TikTok does not say whether it kept them) | continue |

Throttling (40100) and TikTok-side errors (40700, 50000, 50002) are retried by the client itself: TikTok
answered them, so the events were not processed and a resend cannot duplicate anything (see
:data:`..codes.CODES` for the source of each code).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tiktok_pipeline.sources.business_api.client import BusinessApiClient, BusinessApiError

TRACK_ENDPOINT = "event/track"
MAX_BATCH = 1000
"""TikTok accepts at most 1,000 events per ``event/track`` request."""
EventSource = Literal["web", "offline", "crm"]
EVENT_SOURCES: tuple[EventSource, ...] = ("web", "offline", "crm")
"""``event_source`` values sent: ``web`` to a Pixel (event_source_id = pixel code), ``offline`` and ``crm`` to an
event set of that kind (event_source_id = its id; Segment's TikTok Offline Conversions destination sends
``offline``). ``app`` needs app fields this pipeline does not have."""
EVENT_SET_SETTINGS: dict[str, str] = {"offline": "TIKTOK_OFFLINE_EVENT_SET_ID", "crm": "TIKTOK_CRM_EVENT_SET_ID"}
"""The setting holding the event_source_id of each non-web source."""
STOP_CODES = frozenset({40105, 40001})
"""Codes that mean no request can succeed until someone fixes the configuration (token, permissions)."""

Status = Literal["sent", "rejected", "ambiguous", "pending"]


class Content(BaseModel):
    """One line of an order: ``properties.contents[]``."""

    model_config = ConfigDict(frozen=True)

    content_id: str
    content_type: str = "product"
    price: float | None = None
    quantity: int | None = None


Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Hashed = Sha256 | tuple[Sha256, ...] | None
"""One SHA-256 digest, several (sent as a JSON list), or none."""


class EventUser(BaseModel):
    """``user``: click and cookie ids, hashed email/phone/external id (one or several), unhashed ip and user agent."""

    model_config = ConfigDict(frozen=True)

    ttclid: str | None = None
    ttp: str | None = None
    email: Hashed = None
    phone: Hashed = None
    external_id: Hashed = None
    ip: str | None = None
    user_agent: str | None = None

    def digests(self, name: Literal["email", "phone", "external_id"]) -> str | None:
        """The field's digest(s) as stored in the outbox: several joined by commas."""
        value = getattr(self, name)
        return ",".join(value) if isinstance(value, tuple) else value


class TrackedEvent(BaseModel):
    """One Events API 2.0 web event, ready to send (no raw email, phone or external id in it)."""

    model_config = ConfigDict(frozen=True)

    event: str
    event_id: str
    event_time: int = Field(description="Unix seconds.")
    user: EventUser = EventUser()
    page_url: str | None = None
    currency: str | None = None
    value: float | None = None
    contents: tuple[Content, ...] = ()
    event_source: EventSource = Field(default="web", description="Where it happened; sent with the request.")

    def to_api(self) -> dict[str, Any]:
        """The event as it goes into ``data[]`` (unset fields left out)."""
        body: dict[str, Any] = {"event": self.event, "event_time": self.event_time, "event_id": self.event_id}
        user = self.user.model_dump(exclude_none=True, mode="json")  # several digests: a JSON list
        if user:
            body["user"] = user
        if self.page_url:
            body["page"] = {"url": self.page_url}
        properties: dict[str, Any] = {}
        if self.currency is not None:
            properties["currency"] = self.currency
        if self.value is not None:
            properties["value"] = self.value
        if self.contents:
            properties["contents"] = [c.model_dump(exclude_none=True) for c in self.contents]
        if properties:
            body["properties"] = properties
        return body

    def payload_sha256(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`to_api`: tells whether a rebuilt event is the same."""
        canonical = json.dumps(self.to_api(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def identifiers(self) -> list[str]:
        """Which user identifiers the event carries (names only: for the outbox and metadata)."""
        return [name for name, value in self.user.model_dump().items() if value]


def track_body(pixel_code: str, events: list[TrackedEvent], test_event_code: str | None = None) -> dict[str, Any]:
    """The ``event/track`` request body for one batch, all of one ``event_source`` (``pixel_code``: its
    event_source_id, the pixel code or the event set id)."""
    if not 0 < len(events) <= MAX_BATCH:
        raise ValueError(f"a batch holds 1 to {MAX_BATCH} events, not {len(events)}")
    sources = {event.event_source for event in events}
    if len(sources) != 1:
        raise ValueError(f"a batch holds events of one event_source, not {sorted(sources)}")
    body: dict[str, Any] = {"event_source": sources.pop(), "event_source_id": pixel_code}
    if test_event_code:
        body["test_event_code"] = test_event_code
    body["data"] = [event.to_api() for event in events]
    return body


@dataclass(frozen=True)
class EventOutcome:
    """What became of one event of a batch."""

    status: Status
    code: int | None
    message: str


@dataclass(frozen=True)
class BatchOutcome:
    """TikTok's answer to one batch, event by event."""

    outcomes: list[EventOutcome]
    request_id: str | None
    code: int | None
    message: str
    attempts: int
    stop: bool = False
    """True when no further batch can succeed (bad token, permissions, TikTok down after retries, unknown code)."""
    refused_whole: bool = False
    """TikTok refused the request as a whole (40002 listing no event): it processed none of it, and which event
    is at fault is unknown. A batch of several events can be split and resent safely to find it."""

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def _failed_events(payload: Any, size: int) -> dict[int, tuple[int | None, str]]:
    """``data.failed_events`` by index; entries that do not name a valid index are ignored."""
    data = payload.get("data") if isinstance(payload, dict) else None
    failed = data.get("failed_events") if isinstance(data, dict) else None
    result: dict[int, tuple[int | None, str]] = {}
    for entry in failed if isinstance(failed, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("index"), int) and 0 <= entry["index"] < size:
            code = entry.get("code")
            result[entry["index"]] = (code if isinstance(code, int) else None, str(entry.get("message") or "refused"))
    return result


def send_batch(
    client: BusinessApiClient, pixel_code: str, events: list[TrackedEvent], test_event_code: str | None = None
) -> BatchOutcome:
    """POST one batch to ``event/track`` (never resent on a timeout) and classify every event's outcome."""
    body = track_body(pixel_code, events, test_event_code)
    try:
        call = client.post(TRACK_ENDPOINT, body, retry_timeouts=False)
    except BusinessApiError as error:
        return _classify_error(error, len(events))
    failed = _failed_events(call.payload, len(events))
    outcomes = [
        EventOutcome("rejected", *failed[i]) if i in failed else EventOutcome("sent", 0, "OK")
        for i in range(len(events))
    ]
    message = f"{len(failed)} of {len(events)} events refused" if failed else "OK"
    return BatchOutcome(outcomes, call.request_id, call.code, message, call.attempts)


def _classify_error(error: BusinessApiError, n: int) -> BatchOutcome:
    call = error.call
    message = str(error)  # code, TikTok's message, request_id, and retries given up after
    if error.ambiguous:
        outcome = EventOutcome(
            "ambiguous", error.code, f"no answer from TikTok ({message}): may or may not be processed"
        )
        return BatchOutcome([outcome] * n, call.request_id, error.code, message, call.attempts)
    if error.code is None or error.code in STOP_CODES or error.retryable or error.unknown:
        outcome = EventOutcome("pending", error.code, f"not processed: {message}")
        return BatchOutcome([outcome] * n, call.request_id, error.code, message, call.attempts, stop=True)
    failed = _failed_events(call.payload, n)
    if failed:
        outcomes = [
            EventOutcome("rejected", *failed[i])
            if i in failed
            else EventOutcome("ambiguous", error.code, f"batch answered {message}; this event was not listed as failed")
            for i in range(n)
        ]
        return BatchOutcome(outcomes, call.request_id, error.code, message, call.attempts)
    outcomes = [EventOutcome("rejected", error.code, _tiktok_message(call, message))] * n
    return BatchOutcome(outcomes, call.request_id, error.code, message, call.attempts, refused_whole=True)


def _tiktok_message(call: Any, fallback: str) -> str:
    """TikTok's own message of a refusal (``Invalid value for event_id: ...``), else the error's."""
    payload = call.payload
    message = payload.get("message") if isinstance(payload, dict) else None
    return message if isinstance(message, str) and message else fallback
