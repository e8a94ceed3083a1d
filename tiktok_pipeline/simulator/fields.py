"""The ``fields`` query parameter: known fields, the scope each needs, and record rendering."""

from __future__ import annotations

from typing import Any

from tiktok_pipeline.simulator.responses import ApiError
from tiktok_pipeline.simulator.world import Counts, Creator, VideoTruth

ALL_SCOPES = frozenset({"user.info.basic", "user.info.profile", "user.info.stats", "video.list"})
USER_FIELD_SCOPES = {
    "open_id": "user.info.basic",
    "union_id": "user.info.basic",
    "avatar_url": "user.info.basic",
    "avatar_url_100": "user.info.basic",
    "avatar_large_url": "user.info.basic",
    "display_name": "user.info.basic",
    "username": "user.info.profile",
    "bio_description": "user.info.profile",
    "profile_deep_link": "user.info.profile",
    "is_verified": "user.info.profile",
    "follower_count": "user.info.stats",
    "following_count": "user.info.stats",
    "likes_count": "user.info.stats",
    "video_count": "user.info.stats",
}
USER_STATS_FIELDS = frozenset(f for f, scope in USER_FIELD_SCOPES.items() if scope == "user.info.stats")
# Every video field, stats included, needs ``video.list``.
VIDEO_FIELD_SCOPES = dict.fromkeys(
    (
        "id",
        "create_time",
        "cover_image_url",
        "share_url",
        "video_description",
        "duration",
        "height",
        "width",
        "title",
        "embed_html",
        "embed_link",
        "like_count",
        "comment_count",
        "share_count",
        "view_count",
    ),
    "video.list",
)


def select_fields(
    raw: str | None, known: dict[str, str], granted: frozenset[str], approved: frozenset[str]
) -> list[str]:
    """The requested field names, validated in the API's order.

    Missing or unknown fields: ``invalid_params``; a field whose scope the app is not approved for:
    ``scope_permission_missed``; one whose scope the user did not grant: ``scope_not_authorized``.
    """
    fields = list(dict.fromkeys(f.strip() for f in (raw or "").split(",") if f.strip()))
    if not fields:
        raise ApiError("invalid_params", "The fields query parameter is required.")
    unknown = [f for f in fields if f not in known]
    if unknown:
        raise ApiError("invalid_params", f"Invalid fields: {','.join(unknown)}")
    needed = {known[f] for f in fields}
    if needed - approved:
        raise ApiError("scope_permission_missed", f"The app lacks the scope: {','.join(sorted(needed - approved))}")
    if needed - granted:
        raise ApiError(
            "scope_not_authorized", "The user did not authorize the scope required for completing this request."
        )
    return fields


def user_record(creator: Creator, stats: dict[str, int] | None, fields: list[str]) -> dict[str, Any]:
    """The ``user`` object with exactly ``fields`` (``stats`` required when stats fields are asked)."""
    values: dict[str, Any] = {
        "open_id": creator.open_id,
        "union_id": f"u{creator.open_id[:24]}",
        "avatar_url": creator.avatar_url,
        "avatar_url_100": creator.avatar_url.replace(".jpeg", "~100x100.jpeg"),
        "avatar_large_url": creator.avatar_url.replace(".jpeg", "~1080x1080.jpeg"),
        "display_name": creator.display_name,
        "username": creator.username,
        "bio_description": creator.bio_description,
        "profile_deep_link": f"https://vm.tiktok.com/sim/{creator.username}",
        "is_verified": False,
        **(stats or {}),
    }
    return {f: values[f] for f in fields}


def video_record(video: VideoTruth, counts: Counts, fields: list[str]) -> dict[str, Any]:
    """A video object with exactly ``fields``."""
    values: dict[str, Any] = {
        "id": video.id,
        "create_time": video.create_time,
        "cover_image_url": video.cover_image_url,
        "share_url": video.share_url,
        "video_description": video.video_description,
        "duration": video.duration,
        "height": video.height,
        "width": video.width,
        "title": video.title,
        "embed_html": f'<blockquote class="tiktok-embed" cite="{video.share_url}" data-video-id="{video.id}"></blockquote>',
        "embed_link": video.embed_link,
        "like_count": counts.like_count,
        "comment_count": counts.comment_count,
        "share_count": counts.share_count,
        "view_count": counts.view_count,
    }
    return {f: values[f] for f in fields}
