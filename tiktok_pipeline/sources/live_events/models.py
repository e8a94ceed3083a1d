"""One JSON line of a LIVE events dump, validated strictly (unofficial source ``live_events``).

The intake format is what the community connectors' users typically dump, one event per line: a ``type`` and
the stream's ``room_id``, the streaming creator's ``creator`` (unique id), a ``timestamp`` (Unix milliseconds as
an integer or a string of digits, as TikTok-Live-Connector's ``createTime``, or ISO 8601 with an offset), the
viewer's ``user`` (unique id) and per-type fields. TikTok-Live-Connector's camelCase names are accepted too
(``roomId``, ``uniqueId``, ``createTime``, ``viewerCount``, ``likeCount``, ``totalLikeCount``, ``giftId``,
``giftName``, ``repeatCount``, ``repeatEnd``, ``diamondCount``), as is its event name ``chat`` for a comment and
``roomUser`` for a viewer count::

    {"type": "comment", "room_id": "7301", "creator": "maker", "timestamp": 1764972000000, "user": "v1", "comment": "hi"}
    {"type": "gift", "room_id": "7301", "creator": "maker", "timestamp": 1764972001000, "user": "v2",
     "gift_id": 5655, "gift_name": "Rose", "repeat_count": 3, "repeat_end": true, "diamond_count": 1}
    {"type": "like", ..., "like_count": 15, "total_like_count": 1200}
    {"type": "roomUser", ..., "viewer_count": 1234}
    {"type": "follow", ..., "user": "v3"}
    {"type": "share", ..., "user": "v4"}

Strict: a count is an integer (a boolean or a string is refused), ids are non-empty strings, unknown types are
refused naming the allowed ones; unknown extra fields are ignored (connectors add many).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StrictBool, StrictInt, TypeAdapter, field_validator

EARLIEST = datetime(2016, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_DIGITS = re.compile(r"[0-9]{1,16}")


def parse_timestamp(value: Any) -> datetime:
    """Unix milliseconds (an int, or a string of ASCII digits) or ISO 8601 with an offset, within 2016..2100 UTC."""
    if isinstance(value, bool):
        raise ValueError("a timestamp is Unix milliseconds or ISO 8601 with an offset, not a boolean")
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, int):
        try:
            moment = datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{value} is not Unix milliseconds of a real instant") from None
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("not ISO 8601 (e.g. 2026-12-05T21:00:00Z) nor Unix milliseconds") from None
        if moment.tzinfo is None:
            raise ValueError("an ISO 8601 timestamp needs an offset (Z or +hh:mm)")
        moment = moment.astimezone(UTC)
    else:
        raise ValueError("a timestamp is Unix milliseconds or ISO 8601 with an offset")
    if not EARLIEST <= moment < LATEST:
        raise ValueError(f"{moment.isoformat()} is outside 2016..2100 (seconds instead of milliseconds?)")
    return moment


Id = Annotated[str, Field(min_length=1, max_length=200, strict=True)]
Count = Annotated[StrictInt, Field(ge=0)]


class _Event(BaseModel):
    """What every event has: the stream, its creator, when, and (for viewer actions) the viewer."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    room_id: Id = Field(validation_alias=AliasChoices("room_id", "roomId"))
    creator: Id = Field(validation_alias=AliasChoices("creator", "creator_unique_id", "streamer"))
    timestamp: datetime = Field(validation_alias=AliasChoices("timestamp", "createTime", "create_time"))
    user: Id | None = Field(default=None, validation_alias=AliasChoices("user", "uniqueId", "unique_id"))

    @field_validator("timestamp", mode="before")
    @classmethod
    def _instant(cls, value: Any) -> datetime:
        return parse_timestamp(value)


class CommentEvent(_Event):
    """A viewer's comment (TikTok-Live-Connector ``chat``)."""

    type: Literal["comment", "chat"]
    comment: Annotated[str, Field(strict=True, max_length=10_000)]


class GiftEvent(_Event):
    """A gift; a streak sends one event per step, ``repeat_end`` false until its last (only the last counts)."""

    type: Literal["gift"]
    gift_id: Count = Field(validation_alias=AliasChoices("gift_id", "giftId"))
    gift_name: Annotated[str, Field(strict=True, max_length=200)] | None = Field(
        default=None, validation_alias=AliasChoices("gift_name", "giftName")
    )
    repeat_count: Annotated[StrictInt, Field(ge=1)] = Field(
        default=1, validation_alias=AliasChoices("repeat_count", "repeatCount")
    )
    repeat_end: StrictBool | None = Field(default=None, validation_alias=AliasChoices("repeat_end", "repeatEnd"))
    diamond_count: Count = Field(default=0, validation_alias=AliasChoices("diamond_count", "diamondCount"))


class LikeEvent(_Event):
    """Likes sent by a viewer in a burst, and the stream's running total when the connector gives it."""

    type: Literal["like"]
    like_count: Count = Field(validation_alias=AliasChoices("like_count", "likeCount", "count"))
    total_like_count: Count | None = Field(
        default=None, validation_alias=AliasChoices("total_like_count", "totalLikeCount", "total")
    )


class ViewerCountEvent(_Event):
    """The stream's current viewer count (TikTok-Live-Connector ``roomUser``)."""

    type: Literal["roomUser", "viewer_count"]
    viewer_count: Count = Field(validation_alias=AliasChoices("viewer_count", "viewerCount"))


class FollowEvent(_Event):
    """A viewer followed the creator."""

    type: Literal["follow"]


class ShareEvent(_Event):
    """A viewer shared the stream."""

    type: Literal["share"]


LiveEvent = Annotated[
    CommentEvent | GiftEvent | LikeEvent | ViewerCountEvent | FollowEvent | ShareEvent, Field(discriminator="type")
]
LIVE_EVENT: TypeAdapter[_Event] = TypeAdapter(LiveEvent)
"""Validates one decoded line into its event model (a discriminated union on ``type``)."""

KINDS = {"chat": "comment", "roomUser": "viewer_count"}
"""Connector event names and the kind the tables use."""


def kind(event: _Event) -> str:
    """The table's ``event_type``: comment, gift, like, viewer_count, follow or share."""
    name: str = event.type  # type: ignore[attr-defined]  # every concrete event has its Literal type
    return KINDS.get(name, name)
