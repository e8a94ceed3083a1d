"""The three data endpoints as pure functions of an authenticated request and the world."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tiktok_pipeline.simulator.fields import (
    USER_FIELD_SCOPES,
    USER_STATS_FIELDS,
    VIDEO_FIELD_SCOPES,
    select_fields,
    user_record,
    video_record,
)
from tiktok_pipeline.simulator.responses import ApiError
from tiktok_pipeline.simulator.world import Creator, World

MAX_PER_REQUEST = 20
DEFAULT_MAX_COUNT = 10


@dataclass(frozen=True)
class DataRequest:
    """An authenticated data request: whose, what, and as of when (epoch seconds)."""

    world: World
    creator: Creator
    params: Mapping[str, str]
    body: dict[str, Any]
    as_of: float
    granted: frozenset[str]
    approved: frozenset[str]
    page_size: Callable[[int], int] = field(default=lambda full: full)
    """How many of a full ``video/list`` page to send (fewer: a short page while ``has_more``)."""

    def fields(self, known: dict[str, str]) -> list[str]:
        """The validated ``fields`` query parameter."""
        return select_fields(self.params.get("fields"), known, self.granted, self.approved)


def parse_body(content: bytes) -> dict[str, Any]:
    """A JSON object body (empty means ``{}``); anything else is ``invalid_params``."""
    try:
        body = json.loads(content or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError("invalid_params", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError("invalid_params", "The request body must be a JSON object.")
    return body


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def user_info(request: DataRequest) -> dict[str, Any]:
    """``GET /v2/user/info/``: the token owner's profile."""
    fields = request.fields(USER_FIELD_SCOPES)
    username = request.creator.username
    stats = request.world.user_stats(username, request.as_of) if USER_STATS_FIELDS & set(fields) else None
    return {"user": user_record(request.creator, stats, fields)}


def video_list(request: DataRequest) -> dict[str, Any]:
    """``POST /v2/video/list/``: own videos strictly older than ``cursor`` (epoch ms), newest first."""
    fields = request.fields(VIDEO_FIELD_SCOPES)
    max_count = request.body.get("max_count", DEFAULT_MAX_COUNT)
    if not _is_int(max_count) or not 1 <= max_count <= MAX_PER_REQUEST:
        raise ApiError("invalid_params", f"max_count must be an integer from 1 to {MAX_PER_REQUEST}.")
    cursor = request.body.get("cursor", int(request.as_of * 1000))
    if not _is_int(cursor) or cursor < 0:
        raise ApiError("invalid_params", "cursor must be an epoch time in milliseconds.")
    world = request.world
    older = [v for v in world.videos_as_of(request.creator.username, request.as_of) if v.create_time * 1000 < cursor]
    page = older[:max_count]
    if len(older) > max_count:  # more follow: TikTok may send a short page (the cursor then resumes after it)
        page = page[: request.page_size(len(page))]
    return {
        "videos": [video_record(v, world.counts(v.id, request.as_of), fields) for v in page],
        "cursor": page[-1].create_time * 1000 if page else cursor,
        "has_more": len(older) > len(page),
    }


def video_query(request: DataRequest) -> dict[str, Any]:
    """``POST /v2/video/query/``: the requested ids that the token owner had published by ``as_of``."""
    fields = request.fields(VIDEO_FIELD_SCOPES)
    filters = request.body.get("filters")
    ids = filters.get("video_ids") if isinstance(filters, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ApiError("invalid_params", "filters.video_ids must be a non-empty list of strings.")
    if len(ids) > MAX_PER_REQUEST:
        raise ApiError("invalid_params", f"At most {MAX_PER_REQUEST} video_ids per request.")
    world, records = request.world, []
    for video_id in dict.fromkeys(ids):
        video = world.video(video_id)
        if video and video.creator_username == request.creator.username and video.create_time <= request.as_of:
            records.append(video_record(video, world.counts(video_id, request.as_of), fields))
    return {"videos": records}


@dataclass(frozen=True)
class Route:
    """A data endpoint: its HTTP method, rate-limit key and handler."""

    method: str
    name: str
    handler: Callable[[DataRequest], dict[str, Any]]


ROUTES = {
    "/v2/user/info/": Route("GET", "user/info", user_info),
    "/v2/video/list/": Route("POST", "video/list", video_list),
    "/v2/video/query/": Route("POST", "video/query", video_query),
}
