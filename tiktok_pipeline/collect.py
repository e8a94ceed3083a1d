"""Collecting one window from the Display API: which calls, in which order.

Per creator: ``user/info``; ``video/list`` pages (newest first) until videos are older than the
tracking horizon; ``video/query`` in batches of 20 for the counts. Every answer, error answers
included, becomes a landing record. One creator failing never loses the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .display_api.client import ApiCall, DisplayApiClient, TikTokApiError
from .display_api.models import MAX_VIDEOS_PER_REQUEST, USER_FIELDS, VIDEO_FIELDS

LIST_FIELDS = ("id", "create_time")


@dataclass
class Collection:
    """What one window's collection produced."""

    window_start: datetime
    observed_at: datetime
    calls: list[ApiCall] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        """Landing records: each call plus the window and the observation instant."""
        return [
            {"window_start": self.window_start.isoformat(), "observed_at": self.observed_at.isoformat(), **c.to_record()}
            for c in self.calls
        ]


def _listed_videos(call: ApiCall) -> tuple[list[tuple[str, int]], int | None, bool]:
    """(id, create_time) pairs of a ``video/list`` page, its cursor and has_more; malformed entries skipped."""
    data = call.payload.get("data", {}) if isinstance(call.payload, dict) else {}
    pairs = []
    for video in data.get("videos") or []:
        if isinstance(video, dict) and isinstance(video.get("id"), str) and isinstance(video.get("create_time"), int):
            pairs.append((video["id"], video["create_time"]))
    cursor = data.get("cursor")
    return pairs, cursor if isinstance(cursor, int) else None, bool(data.get("has_more"))


def discover_videos(
    client: DisplayApiClient, username: str, as_of: datetime, horizon: timedelta, calls: list[ApiCall]
) -> list[str]:
    """Ids of ``username``'s videos published within ``horizon`` before ``as_of``, newest first."""
    oldest = (as_of - horizon).timestamp()
    ids: list[str] = []
    cursor: int | None = None
    while True:
        body: dict[str, Any] = {"max_count": MAX_VIDEOS_PER_REQUEST}
        if cursor is not None:
            body["cursor"] = cursor
        call = client.call(username, "video/list", fields=LIST_FIELDS, body=body, as_of=as_of)
        calls.append(call)
        pairs, next_cursor, has_more = _listed_videos(call)
        ids.extend(video_id for video_id, created in pairs if created >= oldest and video_id not in ids)
        reached_horizon = any(created < oldest for _, created in pairs)
        if not has_more or reached_horizon or next_cursor is None or next_cursor == cursor:
            return ids
        cursor = next_cursor


def collect_creator(
    client: DisplayApiClient, username: str, as_of: datetime, horizon: timedelta, calls: list[ApiCall]
) -> None:
    """All calls for one creator in one window, appended to ``calls``."""
    calls.append(client.call(username, "user/info", fields=USER_FIELDS, as_of=as_of))
    ids = discover_videos(client, username, as_of, horizon, calls)
    for offset in range(0, len(ids), MAX_VIDEOS_PER_REQUEST):
        batch = ids[offset : offset + MAX_VIDEOS_PER_REQUEST]
        calls.append(
            client.call(
                username, "video/query", fields=VIDEO_FIELDS, body={"filters": {"video_ids": batch}}, as_of=as_of
            )
        )


def collect_window(
    client: DisplayApiClient,
    usernames: list[str],
    window_start: datetime,
    observed_at: datetime,
    horizon: timedelta,
) -> Collection:
    """Observe every creator as of ``observed_at``; failures are recorded per creator, not raised."""
    collection = Collection(window_start=window_start, observed_at=observed_at)
    for username in usernames:
        try:
            collect_creator(client, username, observed_at, horizon, collection.calls)
        except TikTokApiError as exc:
            if exc.call is not None:
                collection.calls.append(exc.call)
            collection.failures[username] = str(exc)
    return collection
