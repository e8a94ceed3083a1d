"""Collecting one window from the Display API: which calls, in which order.

A creator is either *discovered* (``user/info``, then ``video/list`` pages, newest first, with
counts, down to the tracking horizon: every recent video observed, new ones found) or
*refreshed* (``video/query`` in batches of 20 for the videos a polling plan says are due).
Without a plan every creator is discovered. Every answer, error answers included, becomes a
landing record; one creator failing never loses the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tiktok_pipeline.ingest.parse.display import video_entries
from tiktok_pipeline.ingest.polling.plan import WindowPlan
from tiktok_pipeline.sources.display_api.client import ApiCall, DisplayApiClient, TikTokApiError
from tiktok_pipeline.sources.display_api.models import MAX_VIDEOS_PER_REQUEST, USER_FIELDS, VIDEO_FIELDS


@dataclass
class Collection:
    """What one window's collection produced."""

    window_start: datetime
    observed_at: datetime
    calls: list[ApiCall] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    deferred: dict[str, str] = field(default_factory=dict)
    """Creators whose polls did not fit the window's request budget (not failures)."""

    def records(self) -> list[dict[str, Any]]:
        """Landing records: each call plus the window and the observation instant."""
        return [
            {
                "window_start": self.window_start.isoformat(),
                "observed_at": self.observed_at.isoformat(),
                **c.to_record(),
            }
            for c in self.calls
        ]


class BudgetExhaustedError(TikTokApiError):
    """The window's request budget is spent; the rest waits for a later window."""


class Allowance:
    """Requests left in this window (None: unlimited). Every call takes one before it is made."""

    def __init__(self, limit: int | None) -> None:
        self.remaining = limit

    def take(self, what: str) -> None:
        if self.remaining is None:
            return
        if self.remaining <= 0:
            raise BudgetExhaustedError(f"request budget of the window spent before {what}; deferred")
        self.remaining -= 1


def _page(call: ApiCall) -> tuple[list[int], int | None, bool]:
    """create_times of a ``video/list`` page (malformed entries skipped), its cursor and has_more."""
    data = call.payload.get("data") if isinstance(call.payload, dict) else None
    if not isinstance(data, dict):
        return [], None, False
    entries = video_entries(data) or []
    created = [v["create_time"] for v in entries if isinstance(v, dict) and isinstance(v.get("create_time"), int)]
    cursor = data.get("cursor")
    return created, cursor if isinstance(cursor, int) else None, bool(data.get("has_more"))


def discover_creator(
    client: DisplayApiClient,
    username: str,
    as_of: datetime,
    horizon: timedelta,
    calls: list[ApiCall],
    allowance: Allowance | None = None,
) -> None:
    """``user/info`` and ``video/list`` pages until videos are older than ``horizon``."""
    allowance = allowance or Allowance(None)
    allowance.take(f"user/info of {username}")
    calls.append(client.call(username, "user/info", fields=USER_FIELDS, as_of=as_of))
    oldest = (as_of - horizon).timestamp()
    cursor: int | None = None
    while True:
        body: dict[str, Any] = {"max_count": MAX_VIDEOS_PER_REQUEST}
        if cursor is not None:
            body["cursor"] = cursor
        allowance.take(f"video/list of {username}")
        call = client.call(username, "video/list", fields=VIDEO_FIELDS, body=body, as_of=as_of)
        calls.append(call)
        created, next_cursor, has_more = _page(call)
        if not has_more or any(c < oldest for c in created) or next_cursor in (None, cursor):
            return
        cursor = next_cursor


def refresh_videos(
    client: DisplayApiClient,
    username: str,
    video_ids: list[str],
    as_of: datetime,
    calls: list[ApiCall],
    allowance: Allowance | None = None,
) -> None:
    """``video/query`` for ``video_ids``, 20 at a time."""
    allowance = allowance or Allowance(None)
    for offset in range(0, len(video_ids), MAX_VIDEOS_PER_REQUEST):
        batch = video_ids[offset : offset + MAX_VIDEOS_PER_REQUEST]
        allowance.take(f"video/query of {len(video_ids) - offset} videos of {username}")
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
    plan: WindowPlan | None = None,
) -> Collection:
    """Observe the window as of ``observed_at``: everything, or what ``plan`` says is due.

    With a plan, no more than ``plan.budget`` requests are made (retries of a request are not
    counted: throttling shrinks the next windows' budgets through backoff instead).
    """
    collection = Collection(window_start=window_start, observed_at=observed_at)
    discover = usernames if plan is None else [u for u in usernames if u in plan.discover]
    refresh = {} if plan is None else {u: ids for u, ids in plan.videos.items() if u in usernames}
    work = [(u, None) for u in discover] + list(refresh.items())
    allowance = Allowance(None if plan is None else plan.budget)
    for username, video_ids in work:
        try:
            if video_ids is None:
                discover_creator(client, username, observed_at, horizon, collection.calls, allowance)
            else:
                refresh_videos(client, username, video_ids, observed_at, collection.calls, allowance)
        except BudgetExhaustedError as exc:
            collection.deferred[username] = str(exc)
        except TikTokApiError as exc:
            if exc.call is not None:
                collection.calls.append(exc.call)
            collection.failures[username] = str(exc)
    return collection
