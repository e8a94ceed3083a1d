"""Pydantic models of what the Display API sends back: the boundary where outside data comes in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
EARLIEST_CREATE_TIME = int(datetime(2014, 1, 1, tzinfo=UTC).timestamp())
"""Oldest plausible ``create_time`` (epoch seconds): 2014-01-01, before musical.ly (2014-08), whose videos moved to
TikTok in 2018 with their dates, and Douyin (2016-09). Anything earlier (0, negatives, small numbers) is garbage."""
MAX_CLOCK_SKEW_SECONDS = 86_400
"""Upper bound of ``create_time`` when no observation instant is given: now plus a day (a sanity bound only; the
parser always passes ``observed_at``, and then the bound is exactly that instant)."""


def _utf8(value: str) -> str:
    """``value`` unchanged if it encodes as UTF-8; a lone UTF-16 surrogate (``"\\ud800"``) does not."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"not encodable as UTF-8 (lone surrogate {value[exc.start]!r} at position {exc.start})"
        ) from None
    return value


Count = Annotated[int, Field(strict=True, ge=0, le=INT64_MAX)]
"""A non-negative JSON integer within Int64 (BIGINT). Strict: TikTok's Display API sends counts as JSON numbers,
so ``true`` (a bool is an int in Python), ``"12"`` and ``12.0`` are refused, not coerced."""
Count32 = Annotated[int, Field(strict=True, ge=0, le=INT32_MAX)]
"""A non-negative JSON integer within Int32: the Display API documents like/comment/share counts and duration as int32."""
Text = Annotated[str, Field(strict=True), AfterValidator(_utf8)]
"""A JSON string that encodes as UTF-8 (the warehouse stores UTF-8)."""

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


Seconds = Annotated[int, Field(strict=True, ge=0, le=INT32_MAX)]
"""A lifetime in seconds as TikTok sends it: a JSON integer (``"7200"`` and ``7200.0`` are refused)."""


class TokenGrant(BaseModel):
    """Answer of ``POST /v2/oauth/token/``. ``refresh_expires_in`` is the refresh token's *remaining* lifetime."""

    access_token: SecretStr
    expires_in: Seconds
    open_id: Annotated[str, Field(strict=True)]
    refresh_token: SecretStr
    refresh_expires_in: Seconds
    scope: Annotated[str, Field(strict=True)] = ""
    token_type: str = "Bearer"


class OAuthErrorBody(BaseModel):
    """OAuth errors are flat: ``{"error": ..., "error_description": ..., "log_id": ...}``, sent by TikTok with
    HTTP 200 (or any other status): the body, not the status, says it is an error."""

    error: Annotated[str, Field(strict=True, min_length=1)]
    error_description: Annotated[str, Field(strict=True)] = ""
    log_id: Annotated[str, Field(strict=True)] = ""

    @classmethod
    def of(cls, payload: Any) -> OAuthErrorBody | None:
        """The refusal in ``payload``, or None (a token answer, or not JSON at all). Besides the flat OAuth body, a
        host may refuse with the data envelope (``{"error": {"code", "message", "log_id"}}``, code not ``ok``) or
        with v1's ``{"message": "error", "data": {"error_code", "description"}}``: both are refusals too."""
        if not isinstance(payload, dict):
            return None
        error, data = payload.get("error"), payload.get("data")
        if isinstance(error, str):
            try:
                return cls.model_validate(payload)
            except ValueError:
                return OAuthErrorBody(error=error or "unknown_error")
        if isinstance(error, dict) and error.get("code") not in (None, "ok"):
            return OAuthErrorBody(
                error=str(error.get("code")),
                error_description=str(error.get("message", "")),
                log_id=str(error.get("log_id", "")),
            )
        if payload.get("message") == "error" and isinstance(data, dict) and "error_code" in data:
            return OAuthErrorBody(
                error=str(data["error_code"]),
                error_description=str(data.get("description", "")),
                log_id=str(data.get("log_id", "")),
            )
        return None


class Video(BaseModel):
    """One video object of ``video/list`` or ``video/query`` with the fields the pipeline asks for.

    Bounds (each violation is a validation error naming the field, so the parser quarantines the record):

    - ``id``: a string of 1 to 30 ASCII digits (TikTok sends ids as strings; an integer id is refused).
    - ``view_count``: a JSON integer in [0, 2^63 - 1] (int64, as documented; BIGINT column).
    - ``like_count``, ``comment_count``, ``share_count``: JSON integers in [0, 2^31 - 1] (documented as int32).
      This also keeps likes + comments + shares far inside Int64 for the engagement rate.
    - ``duration``: a JSON integer in [0, 2^31 - 1] seconds (INTEGER column), or absent.
    - ``create_time``: epoch seconds, a JSON integer in [:data:`EARLIEST_CREATE_TIME`, observed_at], where
      ``observed_at`` (epoch seconds) comes from the validation context (``context={"observed_at": ...}``).
      ``create_time`` after the observation instant is refused here, so it is quarantined rather than failing
      ``raw_video_schema`` (create_time ≤ observed_at, blocking) for the whole window. Without a context the upper
      bound is now plus :data:`MAX_CLOCK_SKEW_SECONDS`.
    - ``title``: a string that encodes as UTF-8 (no lone surrogates), or absent/null.

    No coercion anywhere: booleans, numeric strings and floats are not counts.
    """

    model_config = ConfigDict(extra="ignore")

    id: Annotated[str, Field(strict=True, pattern=r"^[0-9]{1,30}$")]
    create_time: Annotated[int, Field(strict=True, ge=EARLIEST_CREATE_TIME)]
    view_count: Count
    like_count: Count32
    comment_count: Count32
    share_count: Count32
    duration: Count32 | None = None
    title: Text | None = None

    @field_validator("create_time")
    @classmethod
    def _not_after_observation(cls, value: int, info: ValidationInfo) -> int:
        context = info.context if isinstance(info.context, dict) else {}
        observed = context.get("observed_at")
        if observed is None:
            latest = datetime.now(UTC).timestamp() + MAX_CLOCK_SKEW_SECONDS
            if value > latest:
                raise ValueError(f"after now plus {MAX_CLOCK_SKEW_SECONDS} s, not a plausible epoch time in seconds")
        elif value > observed:
            raise ValueError(f"after the observation instant ({observed:.0f}): the video cannot be published yet")
        return value


class VideoPage(BaseModel):
    """``data`` of ``video/list``: raw video records plus the paging cursor."""

    videos: list[Any] = Field(default_factory=list)
    cursor: int | None = None
    has_more: bool = False


class UserInfo(BaseModel):
    """``data.user`` of ``user/info``: strings must encode as UTF-8, counts are JSON integers within Int64."""

    model_config = ConfigDict(extra="ignore")

    open_id: Text
    username: Text
    display_name: Text | None = None
    follower_count: Count | None = None
    following_count: Count | None = None
    likes_count: Count | None = None
    video_count: Count | None = None
