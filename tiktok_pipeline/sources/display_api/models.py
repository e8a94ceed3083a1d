"""Pydantic models of what the Display API sends back: the boundary where outside data comes in."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

NonNegative = Annotated[int, Field(ge=0, strict=False)]

VIDEO_FIELDS = (
    "id",
    "create_time",
    "view_count",
    "like_count",
    "comment_count",
    "share_count",
    "duration",
    "title",
)
USER_FIELDS = (
    "open_id",
    "username",
    "display_name",
    "follower_count",
    "following_count",
    "likes_count",
    "video_count",
)
MAX_VIDEOS_PER_REQUEST = 20


class ApiErrorBody(BaseModel):
    """The ``error`` object present on every Display API response."""

    code: str
    message: str = ""
    log_id: str = ""


class Envelope(BaseModel):
    """``{"data": {...}, "error": {...}}``; ``data`` stays raw so one bad record cannot sink a page."""

    data: dict[str, Any] = Field(default_factory=dict)
    error: ApiErrorBody


class TokenGrant(BaseModel):
    """Answer of ``POST /v2/oauth/token/``."""

    access_token: SecretStr
    expires_in: int
    open_id: str
    refresh_token: SecretStr
    refresh_expires_in: int
    scope: str = ""
    token_type: str = "Bearer"


class OAuthErrorBody(BaseModel):
    """OAuth errors are flat: ``{"error": ..., "error_description": ..., "log_id": ...}``."""

    error: str
    error_description: str = ""
    log_id: str = ""


class Video(BaseModel):
    """One video object of ``video/list`` or ``video/query`` with the fields the pipeline asks for."""

    model_config = ConfigDict(extra="ignore")

    id: Annotated[str, Field(pattern=r"^\d{1,30}$")]
    create_time: NonNegative
    view_count: NonNegative
    like_count: NonNegative
    comment_count: NonNegative
    share_count: NonNegative
    duration: NonNegative | None = None
    title: str | None = None


class VideoPage(BaseModel):
    """``data`` of ``video/list``: raw video records plus the paging cursor."""

    videos: list[Any] = Field(default_factory=list)
    cursor: int | None = None
    has_more: bool = False


class UserInfo(BaseModel):
    """``data.user`` of ``user/info``."""

    model_config = ConfigDict(extra="ignore")

    open_id: str
    username: str
    display_name: str | None = None
    follower_count: NonNegative | None = None
    following_count: NonNegative | None = None
    likes_count: NonNegative | None = None
    video_count: NonNegative | None = None
