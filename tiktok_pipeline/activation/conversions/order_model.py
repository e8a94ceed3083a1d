"""The order model: one line of a shop's export, validated at the boundary (format: :mod:`.orders`).

Text with a lone UTF-16 surrogate, which UTF-8 cannot carry, is refused by pydantic itself ("unable to parse
raw data as a unicode string", naming the field); ``event_time`` is ISO 8601 with an offset or Unix seconds
in ASCII digits, within 2000-01-01 .. 2100-01-01 UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from tiktok_pipeline.activation.conversions.hashing import hash_email, hash_external_id, hash_phone
from tiktok_pipeline.sources.business_api.events import Content, EventSource, EventUser, TrackedEvent

DEFAULT_EVENT = "CompletePayment"
_OPTIONAL_TEXT = ("ttclid", "ttp", "pixel_event_id", "ip", "user_agent", "page_url")
_IDENTIFIERS = ("email", "phone", "external_id")
"""One value or a list of them; each is normalised and hashed, blanks and repeats dropped."""
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_EVENT_TIME = datetime(2100, 1, 1, tzinfo=UTC)
"""``event_time`` must fall in [EARLIEST, LATEST): anything else is a typo, milliseconds or a placeholder."""
_UNIX_SECONDS = re.compile(r"-?[0-9]+(\.[0-9]*)?")


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
    email: list[str] = Field(default_factory=list)
    phone: list[str] = Field(default_factory=list)
    external_id: list[str] = Field(default_factory=list, validation_alias=AliasChoices("external_id", "customer_id"))
    ttclid: str | None = None
    ttp: str | None = None
    pixel_event_id: str | None = Field(default=None, max_length=256)
    ip: str | None = None
    user_agent: str | None = None
    page_url: str | None = None
    event_source: EventSource = "web"
    """``web`` (default), ``offline`` (in store) or ``crm``: which TikTok event source the order goes to."""

    @field_validator("event_source", mode="before")
    @classmethod
    def _source(cls, value: Any) -> Any:
        return "web" if value is None else value.strip().lower() if isinstance(value, str) else value

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
        return _text(value)

    @field_validator(*_IDENTIFIERS, mode="before")
    @classmethod
    def _one_or_several(cls, value: Any) -> Any:
        values = value if isinstance(value, list) else [value]
        return [text for text in map(_text, values) if text is not None]

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
                email=_one_or_tuple([hash_email(v) for v in self.email]),
                phone=_one_or_tuple([hash_phone(v, default_phone_region) for v in self.phone]),
                external_id=_one_or_tuple([hash_external_id(v) for v in self.external_id]),
                ip=self.ip,
                user_agent=self.user_agent,
            ),
            page_url=self.page_url,
            currency=self.currency,
            value=self.value,
            contents=tuple(
                Content(content_id=line.sku, price=line.price, quantity=line.quantity) for line in self.skus
            ),
            event_source=self.event_source,
        )


def _text(value: Any) -> Any:
    """Blank text is missing; numbers (ids and phone numbers exported as numbers) become text."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _one_or_tuple(digests: list[str]) -> str | tuple[str, ...] | None:
    """No digest, one (sent as a string), or several without repeats (sent as a list)."""
    unique = tuple(dict.fromkeys(digests))
    return None if not unique else unique[0] if len(unique) == 1 else unique


def parse_event_time(value: Any) -> datetime:
    """An aware UTC datetime from ISO 8601 with an offset, or from Unix seconds (number or ASCII digits), within
    [:data:`EARLIEST_EVENT_TIME`, :data:`LATEST_EVENT_TIME`); :class:`ValueError` (only) for anything else."""
    if isinstance(value, str) and _UNIX_SECONDS.fullmatch(value.strip()):
        value = float(value)  # 10^400 as text becomes inf: out of range below
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not EARLIEST_EVENT_TIME.timestamp() <= value < LATEST_EVENT_TIME.timestamp():  # NaN, inf, 10^400 too
            raise ValueError(
                "Unix time must be seconds between 2000-01-01 and 2100-01-01 (this looks like milliseconds or is out of range)"
            )
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
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it
        moment = datetime.min.replace(tzinfo=UTC)
    if not EARLIEST_EVENT_TIME <= moment < LATEST_EVENT_TIME:
        raise ValueError("out of range: must be between 2000-01-01 and 2100-01-01 UTC")
    return moment
