"""Pydantic models of the analytics provider's answers, strict where it matters.

The provider's envelope is ``{code, message, data, request_id}`` (code 0 on success). A count is a non-negative
integer; the provider sometimes sends one as a string of digits (documented quirk, README "Approved analytics
provider"), which is read as that integer. Anything else is refused: a boolean is not a count, nor a float, a
negative number or text. ``updated_at`` is the provider's crawl instant (``YYYY-MM-DD HH:MM:SS``, UTC): it is the
observation's time, and may not lie after the instant the record was fetched for (validation context
``fetched_at``, epoch seconds) by more than a minute.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

MAX_COUNT = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
CLOCK_SKEW_SECONDS = 60


def _count(value: Any) -> Any:
    """An int (not a bool), or a string of digits read as one; anything else is left for pydantic to refuse."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a count")
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise ValueError("a count sent as text must be digits only")
        return int(value)
    return value


Count = Annotated[int, BeforeValidator(_count), Field(strict=True, ge=0, le=MAX_COUNT)]
"""A provider count: a non-negative integer, or a string of digits."""
Identifier = Annotated[str, Field(strict=True, pattern=r"^[0-9]{1,20}$")]
Text = Annotated[str, Field(strict=True, max_length=10_000)]


class Envelope(BaseModel):
    """Every answer: ``code`` 0 is success; ``data`` is the payload; ``request_id`` names the request for support."""

    model_config = ConfigDict(extra="allow")

    code: int = Field(strict=True)
    message: str = ""
    data: Any = None
    request_id: str | None = None


class Crawled(BaseModel):
    """A record as of the provider's crawl instant ``updated_at`` (UTC text), never after the fetch it came in."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    updated_at: datetime

    @field_validator("updated_at", mode="before")
    @classmethod
    def _provider_time(cls, value: Any) -> datetime:
        if not isinstance(value, str):
            raise ValueError(f"updated_at must be text {TIME_FORMAT!r} (UTC)")
        try:
            return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise ValueError(f"updated_at must be {TIME_FORMAT!r} (UTC)") from None

    @field_validator("updated_at")
    @classmethod
    def _not_after_fetch(cls, value: datetime, info: ValidationInfo) -> datetime:
        fetched = (info.context or {}).get("fetched_at")
        if fetched is not None and value.timestamp() > fetched + CLOCK_SKEW_SECONDS:
            raise ValueError("updated_at is after the instant the record was fetched for")
        return value


class ProviderVideo(Crawled):
    """One video record of ``video/list`` or ``video/detail``, as of the provider's ``updated_at``."""

    video_id: Identifier
    user_id: Annotated[str, Field(strict=True, min_length=1, max_length=200)]
    unique_id: Annotated[str, Field(strict=True, min_length=1, max_length=200)]
    desc: Text | None = None
    create_time: Annotated[int, Field(strict=True, ge=0, le=2**31)]
    duration: Annotated[int, Field(strict=True, ge=0, le=86_400)] | None = None
    play_count: Count
    digg_count: Count
    comment_count: Count
    share_count: Count

    @field_validator("create_time")
    @classmethod
    def _created_before_crawl(cls, value: int, info: ValidationInfo) -> int:
        fetched = (info.context or {}).get("fetched_at")
        if fetched is not None and value > fetched + CLOCK_SKEW_SECONDS:
            raise ValueError("create_time is after the instant the record was fetched for")
        return value


class ProviderInfluencer(Crawled):
    """One influencer (creator) record of ``influencer/list`` or ``influencer/detail``: whose videos to list, and the
    creator's profile totals as of the provider's ``updated_at`` (a count the provider leaves out is null, never 0)."""

    user_id: Annotated[str, Field(strict=True, min_length=1, max_length=200)]
    unique_id: Annotated[str, Field(strict=True, min_length=1, max_length=200)]
    nick_name: Annotated[str, Field(strict=True, max_length=1_000)] | None = None
    follower_count: Count | None = None
    following_count: Count | None = None
    total_likes: Count | None = None
    video_count: Count | None = None
