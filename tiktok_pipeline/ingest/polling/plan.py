"""Planning one window's polls: what is due, what fits the budget, what is deferred.

Pure functions of the polling state (one row per tracked video, one per creator), the window and
the policy, so the sensor stays cheap and the maths is tested on its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import polars as pl
from polars._typing import PolarsDataType
from pydantic import BaseModel, Field

from tiktok_pipeline.ingest.polling.policy import PollingPolicy, Tier, requests_for
from tiktok_pipeline.windows import window_end

VIDEO_STATE_SCHEMA: dict[str, PolarsDataType] = {
    "video_id": pl.String,
    "creator_username": pl.String,
    "last_polled_at": pl.Datetime("us"),
    "views_per_minute": pl.Float64,
    "momentum": pl.Float64,
    "has_history": pl.Boolean,
}
CREATOR_STATE_SCHEMA: dict[str, PolarsDataType] = {
    "creator_username": pl.String,
    "last_discovered_at": pl.Datetime("us"),
}


class WindowPlan(BaseModel):
    """What one window polls: creators to discover (``video/list``) and videos to refresh (``video/query``)."""

    discover: list[str] = Field(default_factory=list, description="Creators whose video/list is due.")
    videos: dict[str, list[str]] = Field(default_factory=dict, description="creator → due video ids.")
    due_videos: int = 0
    deferred_videos: int = 0
    deferred_creators: int = 0
    planned_requests: int = 0
    budget: int = 0
    backoff: float = 1.0
    tiers: dict[str, int] = Field(default_factory=dict, description="Due videos per cadence tier.")

    @property
    def polled_videos(self) -> int:
        return sum(len(ids) for ids in self.videos.values())


def _minutes(later: datetime, earlier: datetime | None) -> float:
    return math.inf if earlier is None else (later - earlier).total_seconds() / 60


def plan_window(
    videos: pl.DataFrame,
    creators: list[str],
    creator_state: pl.DataFrame,
    observe_at: datetime,
    policy: PollingPolicy,
    backoff: float = 1.0,
) -> WindowPlan:
    """The polls for the window observed at ``observe_at`` (naive UTC), within ``policy.budget(backoff)``.

    Discovery first (a discovered creator's videos all come back with counts from ``video/list``),
    stalest creator first; then due videos by expected change (views per minute × minutes since the
    last poll; new videos first), packed into 20-id requests per creator until the budget is spent.
    """
    budget = policy.budget(backoff)
    slack = 0.5  # minutes: polls land on window ends, so 10 minutes later is "due" even if a second short
    plan = WindowPlan(budget=budget, backoff=backoff)
    last_discovered = dict(zip(creator_state["creator_username"], creator_state["last_discovered_at"], strict=True))
    tracked_per_creator = dict(videos.group_by("creator_username").len().iter_rows())

    due_creators = sorted(
        (
            c
            for c in creators
            if _minutes(observe_at, last_discovered.get(c)) >= policy.discovery_every_minutes * backoff - slack
        ),
        key=lambda c: -_minutes(observe_at, last_discovered.get(c)),
    )
    spent = 0
    for creator in due_creators:
        # user/info + list pages, with a page to spare for videos posted since the last discovery
        cost = 1 + requests_for(tracked_per_creator.get(creator, 0) + 1) + 1
        if spent + cost > budget:
            plan.deferred_creators += 1
            continue
        plan.discover.append(creator)
        spent += cost
    discovered = set(plan.discover)

    candidates = []
    for row in videos.iter_rows(named=True):
        if row["creator_username"] in discovered or row["creator_username"] not in creators:
            continue
        tier = policy.tier(row["momentum"], row["has_history"])
        since = _minutes(observe_at, row["last_polled_at"])
        if since < policy.every_minutes(tier, backoff) - slack:
            continue
        plan.tiers[tier.value] = plan.tiers.get(tier.value, 0) + 1
        rate = row["views_per_minute"]
        expected = math.inf if tier is Tier.HOT and not row["has_history"] else (rate or 0.0) * since
        candidates.append((expected, row["video_id"], row["creator_username"]))
    candidates.sort(key=lambda c: (-c[0], c[1]))
    plan.due_videos = len(candidates)

    for _, video_id, creator in candidates:
        batch = plan.videos.setdefault(creator, [])
        extra = 1 if len(batch) % 20 == 0 else 0
        if spent + extra > budget:
            plan.deferred_videos += 1
            if not batch:
                plan.videos.pop(creator)
            continue
        batch.append(video_id)
        spent += extra
    plan.planned_requests = spent
    return plan


RAW_SNAPSHOTS_STEP = "raw_snapshots"
"""The op (step) whose run config carries the plan."""


def plan_run_config(plan: dict[str, Any]) -> dict[str, Any]:
    """The run config that hands a plan (``PollPlanConfig`` fields) to the raw snapshots step."""
    return {"ops": {RAW_SNAPSHOTS_STEP: {"config": {"plan": plan}}}}


def plan_in_run_config(run_config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The plan a run config hands to the raw snapshots step (None without one: a warm-up range, a manual run)."""
    config: Any = run_config or {}
    for name in ("ops", RAW_SNAPSHOTS_STEP, "config", "plan"):
        config = config.get(name) if isinstance(config, Mapping) else None
    return dict(config) if isinstance(config, Mapping) else None


def window_observe_at(window_start: datetime) -> datetime:
    """Naive UTC end of a window (the simulator's observation instant)."""
    return window_end(window_start.replace(tzinfo=None))
