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
from tiktok_pipeline.settings.domains import POLLED_ENDPOINTS
from tiktok_pipeline.sources.display_api.models import MAX_VIDEOS_PER_REQUEST
from tiktok_pipeline.windows import WINDOW_MINUTES, window_end

VIDEO_STATE_SCHEMA: dict[str, PolarsDataType] = {
    "video_id": pl.String,
    "creator_username": pl.String,
    "last_polled_at": pl.Datetime("us"),
    "views_per_minute": pl.Float64,
    "momentum": pl.Float64,
    "has_history": pl.Boolean,
    "create_time": pl.Datetime("us"),
}
CREATOR_STATE_SCHEMA: dict[str, PolarsDataType] = {
    "creator_username": pl.String,
    "last_discovered_at": pl.Datetime("us"),
}


USER_INFO, VIDEO_LIST, VIDEO_QUERY = POLLED_ENDPOINTS
TOTAL = "total"
"""Key of the overall budget beside the endpoints' in the planner's budgets left."""


class WindowPlan(BaseModel):
    """What one window polls: creators to discover (``video/list``) and videos to refresh (``video/query``)."""

    discover: list[str] = Field(default_factory=list, description="Creators whose video/list is due.")
    videos: dict[str, list[str]] = Field(default_factory=dict, description="creator → video ids to refresh.")
    due_videos: int = 0
    deferred_videos: int = 0
    deferred_creators: int = 0
    filled_videos: int = Field(
        default=0, description="Videos not due yet polled: in a request's free ids or the budget due ones left."
    )
    planned_requests: int = 0
    endpoint_requests: dict[str, int] = Field(default_factory=dict, description="Planned requests per endpoint.")
    budget: int = 0
    endpoint_budget: dict[str, int] = Field(
        default_factory=dict, description="Requests allowed per endpoint (none: only ``budget``)."
    )
    ids_per_request: float = Field(default=0.0, description="Video ids per planned video/query request.")
    backoff: float = 1.0
    tiers: dict[str, int] = Field(default_factory=dict, description="Due videos per cadence tier.")
    due_per_creator: dict[str, int] = Field(
        default_factory=dict, description="creator → how many of its planned videos (the first ones) are due."
    )
    reserved: dict[str, int] = Field(
        default_factory=dict, description="A pending retry's requests, held back from polls of videos not due."
    )

    @property
    def polled_videos(self) -> int:
        return sum(len(ids) for ids in self.videos.values())


def _minutes(later: datetime, earlier: datetime | None) -> float:
    return math.inf if earlier is None else (later - earlier).total_seconds() / 60


SLACK_MINUTES = 0.5
"""Polls land on window ends, so a video polled 10 minutes earlier is due for a 10-minute cadence even if a second short."""


def _take(order: list[str], cost: dict[str, int], left: dict[str, int], limit: float) -> list[str]:
    """The creators of ``order`` discovered within the budgets ``left`` (spent in place), at most ``limit``."""
    chosen: list[str] = []
    for creator in order:
        pages = cost[creator] - 1
        if len(chosen) >= limit or left[USER_INFO] < 1 or left[VIDEO_LIST] < pages or left[TOTAL] < 1 + pages:
            continue
        chosen.append(creator)
        left[USER_INFO] -= 1
        left[VIDEO_LIST] -= pages
        left[TOTAL] -= 1 + pages
    return chosen


def _discover(
    plan: WindowPlan,
    creators: list[str],
    creator_state: pl.DataFrame,
    tracked: dict[str, int],
    observe_at: datetime,
    policy: PollingPolicy,
    backoff: float,
    left: dict[str, int],
) -> None:
    """Due discoveries, stalest creator first, each within the ``user/info`` and ``video/list`` budgets left
    (and the overall one, ``TOTAL``); ``left`` is spent in place. When they would leave the overall budget short
    of the refreshes ``video/query`` could send, a window discovers at most its share of the creators (all of
    them over one discovery cadence), so discoveries spread over the cadence instead of taking whole windows
    from the refreshes."""
    last_discovered = dict(zip(creator_state["creator_username"], creator_state["last_discovered_at"], strict=True))
    due_every = policy.discovery_every_minutes * backoff - SLACK_MINUTES
    due = [c for c in creators if _minutes(observe_at, last_discovered.get(c)) >= due_every]
    order = sorted(due, key=lambda c: -_minutes(observe_at, last_discovered.get(c)))
    # user/info + list pages, with a page to spare for videos posted since the last discovery
    cost = {c: 2 + requests_for(tracked.get(c, 0) + 1) for c in due}
    refreshes = sum(requests_for(tracked.get(c, 0)) for c in creators)
    trial = dict(left)
    plan.discover = _take(order, cost, trial, math.inf)
    if trial[TOTAL] < min(trial[VIDEO_QUERY], refreshes):
        share = math.ceil(len(creators) * WINDOW_MINUTES / (policy.discovery_every_minutes * backoff))
        trial = dict(left)
        plan.discover = _take(order, cost, trial, share)
    left.update(trial)
    plan.deferred_creators = len(due) - len(plan.discover)


def _refresh_candidates(
    videos: pl.DataFrame,
    creators: set[str],
    discovered: set[str],
    observe_at: datetime,
    policy: PollingPolicy,
    backoff: float,
) -> pl.DataFrame:
    """The videos ``video/query`` may refresh (tracked creators not discovered this window), with their tier, whether
    they are due, and their order when the budget is short (``claim``, then ``priority``, highest first):

    - claim 0, new videos (no velocity yet), then hot ones (momentum >= hot) by expected change (views per minute
      × minutes since the last poll); new videos, whose change is unknown alike, by the chance below (not by id);
    - claim 1, the others of known age by minutes since the last poll × ``2 ** (-age / young_hours)``: the chance a
      breakout began since, which is highest in a video's first day (young videos are due every window too);
    - claim 2, the others of unknown age (a state written before ``create_time`` was kept; ``young_hours`` 0) by
      expected change.

    Videos not due follow the due ones in the same order, with minutes since the last poll × that age weight (1
    when unknown) as their priority. One Polars pass."""
    momentum, history = pl.col("momentum"), pl.col("has_history")
    age_hours = (pl.lit(observe_at) - pl.col("create_time")).dt.total_microseconds() / 3.6e9
    young = policy.young_hours > 0
    weight = (2.0 ** (-age_hours.clip(lower_bound=0) / policy.young_hours)) if young else pl.lit(None, pl.Float64)
    accelerating = ~history | momentum.is_null() | (momentum >= policy.hot_momentum)
    tier = (
        pl.when(accelerating | (age_hours < policy.young_hours if young else pl.lit(False)))
        .then(pl.lit(Tier.HOT.value))
        .when(momentum >= policy.warm_momentum)
        .then(pl.lit(Tier.WARM.value))
        .otherwise(pl.lit(Tier.COLD.value))
    )
    every = {t.value: policy.every_minutes(t, backoff) - SLACK_MINUTES for t in Tier}
    since = ((pl.lit(observe_at) - pl.col("last_polled_at")).dt.total_microseconds() / 60e6).fill_null(math.inf)
    expected = (
        pl.when(~history)
        .then(math.inf)
        .otherwise(pl.col("views_per_minute").fill_null(0.0) * pl.col("since"))
        .fill_nan(math.inf)
    )
    claim = pl.when(accelerating).then(0).when(pl.col("weight").is_not_null()).then(1).otherwise(2)
    due_priority = pl.when(pl.col("claim") == 1).then(pl.col("since") * pl.col("weight")).otherwise(expected)
    return (
        videos.lazy()
        .filter(
            pl.col("creator_username").is_in(sorted(creators)) & ~pl.col("creator_username").is_in(sorted(discovered))
        )
        .with_columns(tier=tier, since=since, weight=weight)
        .with_columns(due=pl.col("since") >= pl.col("tier").replace_strict(every, return_dtype=pl.Float64), claim=claim)
        .with_columns(
            priority=pl.when(pl.col("due"))
            .then(due_priority)
            .otherwise(pl.col("since") * pl.col("weight").fill_null(1.0))
            .fill_nan(math.inf),
            stale=pl.col("since") * pl.col("weight").fill_null(1.0),
        )
        .sort(["due", "claim", "priority", "stale", "video_id"], descending=[True, False, True, True, False])
        .with_columns(rank=pl.int_range(pl.len()).over("creator_username"))
        .collect()
    )


def plan_window(
    videos: pl.DataFrame,
    creators: list[str],
    creator_state: pl.DataFrame,
    observe_at: datetime,
    policy: PollingPolicy,
    backoff: float = 1.0,
    reserve: Mapping[str, int] | None = None,
) -> WindowPlan:
    """The polls for the window observed at ``observe_at`` (naive UTC), within the window's budgets: each endpoint's
    (``policy.endpoint_budget(backoff)``) and the overall one (``policy.budget(backoff)``).

    Discovery first (a discovered creator's videos all come back with counts from ``video/list``), stalest creator
    first. Then ``video/query``: when the budget covers every remaining tracked video, every one is refreshed, due
    or not (cadence tiers only decide who waits when demand exceeds the budget). Otherwise the videos are packed into
    20-id requests per creator, due ones first, in the order of :func:`_refresh_candidates` (new and accelerating
    videos, then the youngest and stalest), until the budget is spent: a creator's last, part-empty request is
    filled with its next videos, due or not, and what the due videos leave of the budget goes to videos not due
    yet, less ``reserve`` (requests overall, ``TOTAL``, and per endpoint: a pending retry's need, see
    :func:`not_due_budget`). Vectorised in Polars: cheap at 100,000 tracked videos.
    """
    endpoint_budget = policy.endpoint_budget(backoff)
    plan = WindowPlan(budget=policy.budget(backoff), endpoint_budget=endpoint_budget, backoff=backoff)
    left = {**endpoint_budget, TOTAL: plan.budget}
    tracked = dict(videos.group_by("creator_username").len().iter_rows())
    _discover(plan, creators, creator_state, tracked, observe_at, policy, backoff, left)

    frame = _refresh_candidates(videos, set(creators), set(plan.discover), observe_at, policy, backoff)
    plan.due_videos = int(frame["due"].sum())
    due = frame.filter(pl.col("due"))
    plan.tiers = {str(t): int(n) for t, n in due.group_by("tier").len().iter_rows()}
    affordable = min(left[VIDEO_QUERY], left[TOTAL])
    demand = sum(requests_for(n) for n in frame.group_by("creator_username").len()["len"])
    spare = not_due_budget(left, reserve or {})
    plan.reserved = dict(reserve or {}) if spare < min(affordable, demand) else {}
    if demand <= spare:
        chosen = frame
    else:
        # every 20th video of a creator opens a batch; in that order (due videos first) each batch is planned while
        # its request is within the budget (a batch opened by a video not due: within what the reserve leaves), so
        # the whole budget is spent, not only on due videos
        opener = pl.col("rank") % MAX_VIDEOS_PER_REQUEST == 0
        batch = pl.col("rank") // MAX_VIDEOS_PER_REQUEST
        within = pl.col("request") <= pl.when(pl.col("due")).then(affordable).otherwise(spare)
        chosen = (
            frame.with_columns(request=opener.cast(pl.Int64).cum_sum())
            .with_columns(planned=(pl.when(opener).then(within).otherwise(None)))
            .with_columns(planned=pl.col("planned").forward_fill().over(pl.col("creator_username"), batch))
            .with_columns(pl.col("planned").fill_null(False))
            .filter(pl.col("planned"))
        )
    plan.deferred_videos = plan.due_videos - int(chosen["due"].sum())
    plan.filled_videos = 0 if chosen is frame else int((~chosen["due"]).sum())
    per_creator = chosen.group_by("creator_username", maintain_order=True).agg("video_id", pl.col("due").sum())
    plan.videos = dict(zip(per_creator["creator_username"].to_list(), per_creator["video_id"].to_list(), strict=True))
    plan.due_per_creator = {c: int(n) for c, n in per_creator.select("creator_username", "due").iter_rows() if n}
    queries = sum(requests_for(len(ids)) for ids in plan.videos.values())
    plan.endpoint_requests = {
        USER_INFO: endpoint_budget[USER_INFO] - left[USER_INFO],
        VIDEO_LIST: endpoint_budget[VIDEO_LIST] - left[VIDEO_LIST],
        VIDEO_QUERY: queries,
    }
    plan.planned_requests = sum(plan.endpoint_requests.values())
    plan.ids_per_request = round(plan.polled_videos / queries, 2) if queries else 0.0
    return plan


def not_due_budget(left: Mapping[str, int], reserve: Mapping[str, int]) -> int:
    """How far (``video/query`` requests, due ones included) polls of videos not due may go: the budgets ``left``
    after discovery less ``reserve``, a pending retry's need, which so takes what the due polls leave before them
    (all of it unless its ``user/info`` and ``video/list`` requests fit what is left: it could not be sent)."""
    affordable = min(left[VIDEO_QUERY], left[TOTAL])
    if not reserve or any(reserve.get(endpoint, 0) > left[endpoint] for endpoint in (USER_INFO, VIDEO_LIST)):
        return affordable
    return min(left[VIDEO_QUERY] - reserve.get(VIDEO_QUERY, 0), left[TOTAL] - reserve.get(TOTAL, 0))


def plan_costs(plan: Mapping[str, Any] | None) -> dict[str, int]:
    """Requests a plan (``WindowPlan`` fields) spends: overall (``TOTAL``) and per endpoint (a plan made before
    per-endpoint budgets has only its total)."""
    if not plan:
        return {}
    return {TOTAL: int(plan.get("planned_requests", 0)), **dict(plan.get("endpoint_requests") or {})}


def budget_left(policy: PollingPolicy, backoff: float, spent: Mapping[str, int]) -> dict[str, int]:
    """Requests left in a 5-minute period overall (``TOTAL``) and per endpoint, after ``spent``."""
    budgets = {**policy.endpoint_budget(backoff), TOTAL: policy.budget(backoff)}
    return {key: budget - spent.get(key, 0) for key, budget in budgets.items()}


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
