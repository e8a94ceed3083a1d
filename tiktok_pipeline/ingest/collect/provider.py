"""Collecting one window from the analytics provider: its covered creators, then each creator's videos.

``influencer/list`` is read page by page (``page_num``), then ``video/list`` of each creator by ``cursor``, every
page bounded (``max_pages``, a cursor that does not move forward stops it). Every call, failed or not, becomes a
landing record holding the provider's raw answer; one creator failing never loses the others.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tiktok_pipeline.ingest.land import Collected
from tiktok_pipeline.sources.analytics_provider.client import ProviderApiError, ProviderCall, ProviderClient


def _record(call: ProviderCall, window_start: datetime, observed_at: datetime) -> dict[str, Any]:
    return {**call.to_record(), "window_start": window_start.isoformat(), "observed_at": observed_at.isoformat()}


def _list(payload: Any) -> tuple[list[Any], dict[str, Any]]:
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return [], {}
    items = data.get("list")
    return (items if isinstance(items, list) else []), data


def collect_provider_window(
    client: ProviderClient, window_start: datetime, observed_at: datetime, *, page_size: int, max_pages: int
) -> Collected:
    """Landing records of every provider call made for the window, as of ``observed_at``."""
    records: list[dict[str, Any]] = []
    failures: dict[str, str] = {}

    def call(endpoint: str, params: dict[str, str], subject: str) -> ProviderCall | None:
        try:
            answer = client.call(endpoint, params, as_of=observed_at)
        except ProviderApiError as exc:
            records.append(_record(exc.call, window_start, observed_at))
            failures[subject] = str(exc)
            return None
        records.append(_record(answer, window_start, observed_at))
        return answer

    creators: list[str] = []
    for page in range(1, max_pages + 1):
        answer = call("influencer/list", {"page_num": str(page), "page_size": str(page_size)}, "influencer/list")
        if answer is None:
            break
        items, data = _list(answer.payload)
        creators += [i["user_id"] for i in items if isinstance(i, dict) and isinstance(i.get("user_id"), str)]
        if data.get("has_more") is not True:
            break
    for user_id in dict.fromkeys(creators):
        cursor = 0
        for _ in range(max_pages):
            params = {"user_id": user_id, "cursor": str(cursor), "page_size": str(page_size)}
            answer = call("video/list", params, user_id)
            if answer is None:
                break
            _, data = _list(answer.payload)
            following = data.get("next_cursor")
            if data.get("has_more") is not True or not isinstance(following, int) or following <= cursor:
                break
            cursor = following
    return Collected(records, failures)
