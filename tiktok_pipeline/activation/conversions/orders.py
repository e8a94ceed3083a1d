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
| ``email``, ``phone`` | no | the customer's; normalised and SHA-256 hashed before anything else sees them |
| ``external_id`` (or ``customer_id``) | no | the shop's customer id; hashed |
| ``ttclid``, ``ttp`` | no | TikTok click id and ``_ttp`` cookie, when the shop captured them |
| ``pixel_event_id`` | no | the ``event_id`` the browser Pixel sent for this order |
| ``ip``, ``user_agent``, ``page_url`` | no | sent to TikTok as they are, never stored |

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
modification time.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from tiktok_pipeline.activation.conversions.hashing import (
    IdentifierError,
    hash_email,
    hash_external_id,
    hash_phone,
    redact,
    sha256_hex,
)
from tiktok_pipeline.sources.business_api.events import Content, EventUser, TrackedEvent
from tiktok_pipeline.windows import window_containing

DEFAULT_EVENT = "CompletePayment"
ASSET = "conversion_outbox"
SOURCE_PREFIX = "conversions"
KEPT_FIELDS = frozenset({"order_id", "event", "event_time", "value", "currency", "skus", "pixel_event_id"})
"""Fields a quarantined payload keeps as received; every other value is redacted."""
_OPTIONAL_TEXT = ("email", "phone", "external_id", "ttclid", "ttp", "pixel_event_id", "ip", "user_agent", "page_url")


class OrderLine(BaseModel):
    """One SKU of an order."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    sku: str = Field(min_length=1)
    price: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    quantity: int = Field(default=1, ge=1)


class Order(BaseModel):
    """One order as exported by the shop (raw: may hold personal data; never stored as is)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    order_id: str = Field(min_length=1, max_length=256)
    event: str = Field(default=DEFAULT_EVENT, min_length=1, max_length=100)
    event_time: datetime
    value: float = Field(ge=0, allow_inf_nan=False)
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")
    skus: list[OrderLine] = Field(default_factory=list)
    email: str | None = None
    phone: str | None = None
    external_id: str | None = Field(default=None, validation_alias=AliasChoices("external_id", "customer_id"))
    ttclid: str | None = None
    ttp: str | None = None
    pixel_event_id: str | None = Field(default=None, max_length=256)
    ip: str | None = None
    user_agent: str | None = None
    page_url: str | None = None

    @field_validator("event_time", mode="before")
    @classmethod
    def _instant(cls, value: Any) -> datetime:
        return parse_event_time(value)

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @field_validator(*_OPTIONAL_TEXT, mode="before")
    @classmethod
    def _blank_is_missing(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # ids and phone numbers exported as numbers
        return value

    @property
    def event_id(self) -> str:
        """The Pixel's event id when the shop captured it, else the order id."""
        return self.pixel_event_id or self.order_id

    def to_event(self, default_phone_region: str) -> TrackedEvent:
        """The Events API event, identifiers hashed; :class:`IdentifierError` names a bad identifier."""
        return TrackedEvent(
            event=self.event,
            event_id=self.event_id,
            event_time=int(self.event_time.timestamp()),
            user=EventUser(
                ttclid=self.ttclid,
                ttp=self.ttp,
                email=hash_email(self.email) if self.email else None,
                phone=hash_phone(self.phone, default_phone_region) if self.phone else None,
                external_id=hash_external_id(self.external_id) if self.external_id else None,
                ip=self.ip,
                user_agent=self.user_agent,
            ),
            page_url=self.page_url,
            currency=self.currency,
            value=self.value,
            contents=tuple(
                Content(content_id=line.sku, price=line.price, quantity=line.quantity) for line in self.skus
            ),
        )


def parse_event_time(value: Any) -> datetime:
    """An aware UTC datetime from ISO 8601 with an offset, or from Unix seconds (number or digits)."""
    if isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit():
        value = float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or not 0 <= value < 1e11:
            raise ValueError("Unix time must be positive seconds (this looks like milliseconds or is out of range)")
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("not an ISO 8601 time or Unix seconds") from None
    else:
        raise ValueError("must be an ISO 8601 time or Unix seconds")
    if moment.tzinfo is None:
        raise ValueError("has no UTC offset (write 2026-11-20T10:02:00Z or +01:00): the time zone is ambiguous")
    return moment.astimezone(UTC)


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

    def in_windows(self, start: datetime, end: datetime) -> list[Conversion]:
        return [c for c in self.conversions if start <= c.window_start < end]

    def quarantined_in(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        return [q for q in self.quarantine if start <= q["window_start"] < end]


def order_files(directory: Path) -> list[Path]:
    """The export files under ``directory`` (recursively), in path order."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name.endswith((".jsonl", ".jsonl.gz")))


def _lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        yield from handle


def redacted_payload(record: Any) -> str:
    """The record as JSON with every value outside :data:`KEPT_FIELDS` replaced by its SHA-256 marker."""
    if not isinstance(record, dict):
        return json.dumps({"record": redact(json.dumps(record, sort_keys=True))})
    safe = {
        key: value if key in KEPT_FIELDS else (None if value is None else redact(value))
        for key, value in record.items()
    }
    return json.dumps(safe, sort_keys=True, default=str)


def _reason(exc: ValidationError) -> str:
    """Field paths and messages of a pydantic error, without the input values it carries."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "record"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def export_windows(path: Path) -> set[datetime]:
    """The windows an export touches: of every readable ``event_time``, plus, when some line has none,
    of the file's modification time (where such lines are quarantined). Reads times only: no validation."""
    windows: set[datetime] = set()
    undated = False
    for line in _lines(Path(path)):
        if not line.strip():
            continue
        try:
            windows.add(window_containing(parse_event_time(json.loads(line)["event_time"])))
        except (ValueError, TypeError, KeyError, OverflowError, OSError):
            undated = True
    if undated:
        windows.add(window_containing(datetime.fromtimestamp(Path(path).stat().st_mtime, tz=UTC)))
    return windows


def load_orders(directory: Path, *, default_phone_region: str = "US") -> LoadedOrders:
    """Read, validate and hash every order under ``directory``; nothing raw survives except in memory."""
    directory = Path(directory)
    loaded = LoadedOrders()
    seen: set[tuple[str, str]] = set()
    for path in order_files(directory):
        loaded.files += 1
        name = path.relative_to(directory).as_posix()
        file_window = window_containing(datetime.fromtimestamp(path.stat().st_mtime, tz=UTC))
        for number, line in enumerate(_lines(path), start=1):
            if not line.strip():
                continue
            loaded.lines += 1
            source = f"{SOURCE_PREFIX}/{name}:{number}"

            def quarantine(reason: str, payload: str, window: datetime = file_window) -> None:
                loaded.quarantine.append(
                    {
                        "window_start": window,
                        "source": source,
                        "reason": f"{name} line {number}: {reason}",
                        "payload": payload,
                        "asset": ASSET,
                    }
                )

            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                digest = {"line_sha256": sha256_hex(line.rstrip("\n")), "bytes": len(line.rstrip("\n").encode())}
                quarantine(f"not valid JSON ({exc.msg} at column {exc.colno})", json.dumps(digest))
                continue
            window = file_window
            if isinstance(record, dict) and "event_time" in record:
                with contextlib.suppress(ValueError, OverflowError, OSError):
                    window = window_containing(parse_event_time(record["event_time"]))
            try:
                order = Order.model_validate(record)
                event = order.to_event(default_phone_region)
            except ValidationError as exc:
                quarantine(_reason(exc), redacted_payload(record), window)
                continue
            except IdentifierError as exc:
                quarantine(str(exc), redacted_payload(record), window)
                continue
            conversion = Conversion(event=event, order_id=order.order_id, source=source, window_start=window)
            if conversion.key in seen:
                loaded.duplicate_orders += 1
                continue
            seen.add(conversion.key)
            loaded.conversions.append(conversion)
    return loaded
