"""Collecting one window from the Display API: which calls, in which order.

A creator is either *discovered* (``user/info``, then ``video/list`` pages, newest first, with
counts, down to the tracking horizon: every recent video observed, new ones found) or
*refreshed* (``video/query`` in batches of 20 for the videos a polling plan lists).
Without a plan every creator is discovered. Every answer, error answers included, becomes a
landing record; one creator failing never loses the others.

Pagination is bounded even without a plan's budget (backfills, manual runs): a discovery stops at
the tracking horizon, at the end of the list, and also when the cursor does not move back in time,
after :data:`MAX_EMPTY_PAGES` consecutive pages without videos while ``has_more`` stays true, or at
:data:`MAX_PAGES` pages. The last ``video/list`` record of each discovery says why it stopped
(``pagination_stop``, see :data:`ABNORMAL_STOPS`), so the landing file and telemetry can count them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tiktok_pipeline.ingest.parse.display import video_entries
from tiktok_pipeline.ingest.polling.plan import WindowPlan
from tiktok_pipeline.sources.display_api.calls import ReauthorizationRequired
from tiktok_pipeline.sources.display_api.client import ApiCall, DisplayApiClient, TikTokApiError
from tiktok_pipeline.sources.display_api.models import MAX_VIDEOS_PER_REQUEST, USER_FIELDS, VIDEO_FIELDS

log = logging.getLogger(__name__)

MAX_PAGES = 250
"""Most ``video/list`` pages one discovery reads (5,000 videos: weeks of the most prolific creator's posts)."""
MAX_EMPTY_PAGES = 5
"""Consecutive pages without videos (``has_more`` still true) after which a discovery stops."""

# why a discovery's pagination stopped (the ``pagination_stop`` of its last video/list record)
END_OF_LIST = "end_of_list"
"""``has_more`` false: every video was listed."""
HORIZON = "horizon"
"""The page reached videos older than the tracking horizon."""
NO_CURSOR = "no_cursor"
"""``has_more`` true but no integer cursor to continue from (a malformed answer)."""
CURSOR_NOT_OLDER = "cursor_not_older"
"""The next cursor is not older than the one just used: following it could repeat pages for ever."""
EMPTY_PAGES = "empty_pages"
"""``MAX_EMPTY_PAGES`` consecutive pages without videos while ``has_more`` stayed true."""
PAGE_CAP = "page_cap"
"""``MAX_PAGES`` pages read with ``has_more`` still true."""
ABNORMAL_STOPS = frozenset({NO_CURSOR, CURSOR_NOT_OLDER, EMPTY_PAGES, PAGE_CAP})
"""Stops that may have left recent videos unlisted (the rest are the list's or the horizon's end)."""
PAGINATION_STOPS = (END_OF_LIST, HORIZON, NO_CURSOR, CURSOR_NOT_OLDER, EMPTY_PAGES, PAGE_CAP)
"""Every reason a discovery's pagination stops; poll_telemetry counts each (``pagination_stop_<reason>``)."""


@dataclass
class Collection:
    """What one window's collection produced."""

    window_start: datetime
    observed_at: datetime
    calls: list[ApiCall] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    deferred: dict[str, str] = field(default_factory=dict)
    """Creators whose polls did not fit the window's request budget (not failures)."""
    pagination_stops: dict[int, str] = field(default_factory=dict)
    """Index in ``calls`` of each discovery's last ``video/list`` call → why its pagination stopped."""
    truncated: dict[str, str] = field(default_factory=dict)
    """Creators whose discovery stopped abnormally (:data:`ABNORMAL_STOPS`), with the reason."""
    reauthorise: dict[str, str] = field(default_factory=dict)
    """Creators who must authorise the app again (also in ``failures``), with TikTok's code: only they can fix it."""

    def records(self) -> list[dict[str, Any]]:
        """Landing records: each call plus the window and the observation instant (and ``pagination_stop``
        on the last ``video/list`` call of each discovery)."""
        return [
            {
                "window_start": self.window_start.isoformat(),
                "observed_at": self.observed_at.isoformat(),
                **c.to_record(),
                **({"pagination_stop": self.pagination_stops[i]} if i in self.pagination_stops else {}),
            }
            for i, c in enumerate(self.calls)
        ]


class BudgetExhaustedError(TikTokApiError):
    """The window's request budget is spent; the rest waits for a later window."""


class Allowance:
    """Requests left in this window, overall and per endpoint (None: unlimited). Every call takes one before it is
    made."""

    def __init__(self, limit: int | None, per_endpoint: Mapping[str, int] | None = None) -> None:
        self.remaining = limit
        self.per_endpoint = dict(per_endpoint or {})

    def check(self, what: str, endpoint: str | None = None) -> None:
        """Raise :class:`BudgetExhaustedError` if no request of ``endpoint`` is left for ``what``."""
        left = self.per_endpoint.get(endpoint) if endpoint else None
        if left is not None and left <= 0:
            raise BudgetExhaustedError(f"{endpoint} request budget of the window spent before {what}; deferred")
        if self.remaining is not None and self.remaining <= 0:
            raise BudgetExhaustedError(f"request budget of the window spent before {what}; deferred")

    def take(self, what: str, endpoint: str | None = None) -> None:
        """Take one request of ``endpoint`` for ``what``, or raise :class:`BudgetExhaustedError`."""
        self.check(what, endpoint)
        left = self.per_endpoint.get(endpoint) if endpoint else None
        if left is not None and endpoint:
            self.per_endpoint[endpoint] = left - 1
        if self.remaining is not None:
            self.remaining -= 1


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _page(call: ApiCall) -> tuple[int, list[int], int | None, bool]:
    """Entries on a ``video/list`` page, their create_times (malformed entries skipped), its cursor and has_more."""
    data = call.payload.get("data") if isinstance(call.payload, dict) else None
    if not isinstance(data, dict):
        return 0, [], None, False
    entries = video_entries(data) or []
    created = [v["create_time"] for v in entries if isinstance(v, dict) and _is_int(v.get("create_time"))]
    cursor = data.get("cursor")
    return len(entries), created, cursor if _is_int(cursor) else None, bool(data.get("has_more"))


def discover_creator(
    client: DisplayApiClient,
    username: str,
    as_of: datetime,
    horizon: timedelta,
    calls: list[ApiCall],
    allowance: Allowance | None = None,
    *,
    max_pages: int = MAX_PAGES,
    max_empty_pages: int = MAX_EMPTY_PAGES,
) -> str:
    """``user/info`` and ``video/list`` pages until videos are older than ``horizon``; returns why it stopped.

    Also stops (abnormally, see :data:`ABNORMAL_STOPS`) when the cursor does not move back in time, after
    ``max_empty_pages`` consecutive empty pages, or after ``max_pages`` pages, whatever ``has_more`` says.
    """
    allowance = allowance or Allowance(None)
    allowance.check(f"video/list of {username}", "video/list")  # no user/info spent on a discovery that cannot list
    allowance.take(f"user/info of {username}", "user/info")
    calls.append(client.call(username, "user/info", fields=USER_FIELDS, as_of=as_of))
    oldest = (as_of - horizon).timestamp()
    cursor: int | None = None
    pages = empty = 0
    while True:
        body: dict[str, Any] = {"max_count": MAX_VIDEOS_PER_REQUEST}
        if cursor is not None:
            body["cursor"] = cursor
        allowance.take(f"video/list of {username}", "video/list")
        call = client.call(username, "video/list", fields=VIDEO_FIELDS, body=body, as_of=as_of)
        calls.append(call)
        pages += 1
        entries, created, next_cursor, has_more = _page(call)
        empty = empty + 1 if entries == 0 else 0
        if not has_more:
            return END_OF_LIST
        if any(c < oldest for c in created) or (next_cursor is not None and next_cursor < oldest * 1000):
            return HORIZON
        if next_cursor is None:
            stop, why = NO_CURSOR, "has_more without an integer cursor"
        elif cursor is not None and next_cursor >= cursor:
            stop, why = CURSOR_NOT_OLDER, f"cursor {next_cursor} is not older than {cursor}"
        elif empty >= max_empty_pages:
            stop, why = EMPTY_PAGES, f"{empty} consecutive empty pages with has_more"
        elif pages >= max_pages:
            stop, why = PAGE_CAP, f"{pages} pages read, has_more still true"
        else:
            cursor = next_cursor
            continue
        log.warning("video/list of %s stopped after %d pages: %s (%s)", username, pages, why, stop)
        return stop


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
        allowance.take(f"video/query of {len(video_ids) - offset} videos of {username}", "video/query")
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
    *,
    max_pages: int = MAX_PAGES,
    max_empty_pages: int = MAX_EMPTY_PAGES,
) -> Collection:
    """Observe the window as of ``observed_at``: everything, or what ``plan`` says is due.

    With a plan, no more than ``plan.budget`` requests are made, nor more than ``plan.endpoint_budget`` of an
    endpoint (retries of a request are not
    counted: throttling shrinks the next windows' budgets through backoff instead). Each discovery reads at
    most ``max_pages`` ``video/list`` pages and stops after ``max_empty_pages`` consecutive empty ones.
    """
    collection = Collection(window_start=window_start, observed_at=observed_at)
    discover = usernames if plan is None else [u for u in usernames if u in plan.discover]
    refresh = {} if plan is None else {u: ids for u, ids in plan.videos.items() if u in usernames}
    work = [(u, None) for u in discover] + list(refresh.items())
    allowance = Allowance(None, None) if plan is None else Allowance(plan.budget, plan.endpoint_budget)
    for username, video_ids in work:
        try:
            if video_ids is None:
                stop = discover_creator(
                    client,
                    username,
                    observed_at,
                    horizon,
                    collection.calls,
                    allowance,
                    max_pages=max_pages,
                    max_empty_pages=max_empty_pages,
                )
                collection.pagination_stops[len(collection.calls) - 1] = stop
                if stop in ABNORMAL_STOPS:
                    collection.truncated[username] = f"video/list pagination stopped: {stop}"
            else:
                refresh_videos(client, username, video_ids, observed_at, collection.calls, allowance)
        except BudgetExhaustedError as exc:
            collection.deferred[username] = str(exc)
        except ReauthorizationRequired as exc:
            if exc.call is not None:
                collection.calls.append(exc.call)
            collection.failures[username] = str(exc)
            collection.reauthorise[username] = exc.code or "reauthorise"
        except TikTokApiError as exc:
            if exc.call is not None:
                collection.calls.append(exc.call)
            collection.failures[username] = str(exc)
    return collection
