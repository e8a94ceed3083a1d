"""What a retry of a failed window sends when its failed run's whole plan does not fit the budget left.

A plan (``WindowPlan`` fields, as handed to the raw snapshots step) keeps how many of each creator's videos were
due (``due_per_creator``, the first ones of its list): its *due part* drops the requests only videos not due
opened, and a due part is cut to the budgets left, its most valuable creators first. Pure functions of the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tiktok_pipeline.ingest.polling.plan import TOTAL, VIDEO_QUERY, plan_costs
from tiktok_pipeline.ingest.polling.policy import requests_for
from tiktok_pipeline.sources.display_api.models import MAX_VIDEOS_PER_REQUEST


def due_part(plan: Mapping[str, Any]) -> dict[str, Any]:
    """A plan cut to what its due polls need: its discoveries and each creator's ``video/query`` requests opened by
    due videos (with the ids they carry); a plan without ``due_per_creator`` (made before it was kept) as it is."""
    due = plan.get("due_per_creator")
    if due is None:
        return dict(plan)
    cut = {c: ids[: requests_for(due[c]) * MAX_VIDEOS_PER_REQUEST] for c, ids in plan["videos"].items() if due.get(c)}
    return _with_videos(plan, cut)


def cut_to(plan: Mapping[str, Any], left: Mapping[str, int]) -> dict[str, Any] | None:
    """``plan`` within the budgets ``left`` (overall, ``total``, and per endpoint): its discoveries, and its creators'
    ``video/query`` requests in its order (the most valuable first) while they fit, the others' due videos counted
    as deferred; None when its discoveries do not fit, nothing would be sent, or the plan was made before per-endpoint
    costs were kept (they could not be counted)."""
    if not plan.get("endpoint_requests"):
        return None
    costs = plan_costs(plan)
    discovery = {key: n for key, n in costs.items() if key not in (TOTAL, VIDEO_QUERY)}
    room = min(left.get(VIDEO_QUERY, 0), left.get(TOTAL, 0) - sum(discovery.values()))
    if room < 0 or any(n > left.get(key, 0) for key, n in discovery.items()):
        return None
    videos: dict[str, list[str]] = {}
    for creator, ids in plan["videos"].items():
        if requests_for(len(ids)) <= room:
            videos[creator], room = ids, room - requests_for(len(ids))
    if not videos and not plan.get("discover"):
        return None
    due = plan.get("due_per_creator") or {}
    dropped = sum(due.get(c, len(ids)) for c, ids in plan["videos"].items() if c not in videos)
    return {**_with_videos(plan, videos), "deferred_videos": plan.get("deferred_videos", 0) + dropped}


def _with_videos(plan: Mapping[str, Any], videos: dict[str, list[str]]) -> dict[str, Any]:
    """``plan`` refreshing ``videos`` instead, its counts and costs to match."""
    queries = sum(requests_for(len(ids)) for ids in videos.values())
    endpoints = {**plan.get("endpoint_requests", {}), VIDEO_QUERY: queries}
    polled = sum(len(ids) for ids in videos.values())
    cut: dict[str, Any] = {
        **plan,
        "videos": videos,
        "endpoint_requests": endpoints,
        "planned_requests": sum(endpoints.values()),
        "ids_per_request": round(polled / queries, 2) if queries else 0.0,
    }
    if "due_per_creator" in plan:
        cut["due_per_creator"] = {c: n for c, n in plan["due_per_creator"].items() if c in videos}
        cut["filled_videos"] = polled - sum(cut["due_per_creator"].values())
    return cut
