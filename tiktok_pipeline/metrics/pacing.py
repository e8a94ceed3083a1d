"""Budget pacing, pure: where each ad group's spend stands against its daily budget, and what to change.

For each ad group with a daily budget (``BUDGET_MODE_DAY``), at instant ``now``:

- ``spent_today``: its hourly spend (raw_ad_metrics) over the hours of today in the ad account's time zone;
- ``expected_share``: the share of the day's spend curve (24 hour-of-day weights, ``TIKTOK_PACING_HOUR_WEIGHTS``,
  default flat) elapsed by ``now``: whole local hours before it plus the elapsed part of the current one;
- ``expected_by_now`` = budget × expected_share; ``pacing_ratio`` = spent_today / expected_by_now;
- ``projected_eod`` = spent_today / expected_share, at most the budget (TikTok stops delivery there).

Recommendations (:func:`recommend`): **raise** an ad group one of whose boosted videos surges (its ``video_velocity``
momentum, views per minute now against over its life, at least ``surge_momentum``) while its ads' CTR holds (30-minute change not below
``-ctr_drop``) and it is on course to use its budget; **lower** one that overspends (pacing ratio above
``overspend_ratio``) while its CTR falls. Then the guardrails: at most ``max_step_percent`` per step, at most
``max_day_percent`` away from the day's first budget, within [floor, ceiling], and no change within
``cooldown_minutes`` of the last one. A rule that fired but a guardrail stopped is kept (action ``hold``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Action = Literal["raise", "lower", "hold"]


@dataclass(frozen=True)
class Guardrails:
    """Limits on a recommendation (``TIKTOK_PACING_*``)."""

    max_step_percent: float = 20.0
    max_day_percent: float = 50.0
    floor: float = 20.0
    ceiling: float = 5000.0
    cooldown_minutes: float = 60.0


@dataclass(frozen=True)
class Thresholds:
    """When a rule fires."""

    surge_momentum: float = 1.5
    ctr_drop: float = 0.002
    overspend_ratio: float = 1.2
    use_budget_ratio: float = 0.9
    """A raise only helps an ad group on course to spend at least this share of its budget."""


@dataclass(frozen=True)
class Pace:
    """One ad group's position against its daily budget at ``now``."""

    adgroup_id: str
    budget: float
    spent_today: float
    expected_share: float
    expected_by_now: float
    pacing_ratio: float | None
    projected_eod: float | None


@dataclass(frozen=True)
class Signals:
    """Evidence from the ad group's boosted videos: the strongest momentum and its ads' CTR and 30-minute change."""

    momentum: float | None = None
    video_id: str | None = None
    ctr: float | None = None
    ctr_change_30m: float | None = None
    held: bool = True
    """Whether the momentum held long enough (``TIKTOK_SURGE_PERSIST_MINUTES``; always with one observation)."""


@dataclass(frozen=True)
class History:
    """What already happened to the ad group today: the day's first budget and its last change (or None)."""

    day_first_budget: float
    last_change_at: datetime | None = None


@dataclass(frozen=True)
class Recommendation:
    """A recommended budget (or a hold), why, and which guardrail shaped it (empty when none did)."""

    recommendation_id: str
    adgroup_id: str
    action: Action
    budget_before: float
    budget_after: float
    reason: str
    guardrail: str


def expected_share(weights: tuple[float, ...], now: datetime, zone: ZoneInfo) -> float:
    """Share (0..1) of the day's spend curve elapsed at ``now`` on the local clock of ``zone``."""
    if len(weights) != 24:
        raise ValueError(f"the spend curve needs 24 hour weights, got {len(weights)}")
    local = now.astimezone(zone)
    hour = local.hour
    fraction = (local.minute * 60 + local.second + local.microsecond / 1e6) / 3600
    return (sum(weights[:hour]) + weights[hour] * fraction) / sum(weights)


def local_day_start(now: datetime, zone: ZoneInfo) -> datetime:
    """The instant (aware) today began in ``zone``."""
    local = now.astimezone(zone)
    return datetime(local.year, local.month, local.day, tzinfo=zone)


def pace(
    adgroup_id: str,
    budget: float,
    hourly_spend: list[tuple[datetime, float]],
    now: datetime,
    zone: ZoneInfo,
    weights: tuple[float, ...],
) -> Pace:
    """The ad group's pace from its hourly spend (``(hour start, spend)``, aware instants) at ``now``."""
    start = local_day_start(now, zone)
    end = start + timedelta(days=1)
    spent = sum(s for hour, s in hourly_spend if start <= hour < min(end, now))
    share = expected_share(weights, now, zone)
    expected = budget * share
    return Pace(
        adgroup_id=adgroup_id,
        budget=budget,
        spent_today=round(spent, 2),
        expected_share=share,
        expected_by_now=round(expected, 2),
        pacing_ratio=spent / expected if expected > 0 else None,
        projected_eod=round(min(budget, spent / share), 2) if share > 0 else None,
    )


def recommendation_id(window_start: datetime, adgroup_id: str) -> str:
    """A recommendation's key: the same window and ad group always give the same id (re-runs never duplicate)."""
    return hashlib.sha256(f"{window_start.isoformat()}|{adgroup_id}".encode()).hexdigest()[:24]


def recommend(
    window_start: datetime,
    now: datetime,
    current: Pace,
    signals: Signals,
    history: History,
    guardrails: Guardrails,
    thresholds: Thresholds,
) -> Recommendation | None:
    """What to do with the ad group's budget now, or None when no rule fires."""
    budget = current.budget
    holds = signals.ctr_change_30m is not None and signals.ctr_change_30m >= -thresholds.ctr_drop
    falling = signals.ctr_change_30m is not None and signals.ctr_change_30m < -thresholds.ctr_drop
    surging = signals.held and signals.momentum is not None and signals.momentum >= thresholds.surge_momentum
    on_course = current.projected_eod is not None and current.projected_eod >= thresholds.use_budget_ratio * budget
    overspends = current.pacing_ratio is not None and current.pacing_ratio > thresholds.overspend_ratio
    if surging and holds and on_course:
        action: Action = "raise"
        reason = (
            f"video {signals.video_id} surges (momentum {signals.momentum:.2f}) while CTR holds"
            f" ({signals.ctr_change_30m:+.4f}); projected {current.projected_eod:.2f} of {budget:.2f}"
        )
        target = budget * (1 + guardrails.max_step_percent / 100)
    elif overspends and falling:
        action = "lower"
        reason = (
            f"overspending (pacing ratio {current.pacing_ratio:.2f}) while CTR falls ({signals.ctr_change_30m:+.4f})"
        )
        target = budget * (1 - guardrails.max_step_percent / 100)
    else:
        return None
    after, guardrail = _guard(target, now, history, guardrails)
    rid = recommendation_id(window_start, current.adgroup_id)
    against = after <= budget if action == "raise" else after >= budget  # a bound the budget already passed
    if guardrail == "cooldown" or against or round(after, 2) == round(budget, 2):
        return Recommendation(rid, current.adgroup_id, "hold", budget, budget, reason, guardrail or "no room")
    return Recommendation(rid, current.adgroup_id, action, budget, round(after, 2), reason, guardrail)


def _guard(target: float, now: datetime, history: History, guardrails: Guardrails) -> tuple[float, str]:
    """``target`` within the guardrails, and the one (the last) that moved it ('' when none)."""
    if history.last_change_at is not None and now - history.last_change_at < timedelta(
        minutes=guardrails.cooldown_minutes
    ):
        return target, "cooldown"
    applied = ""
    first = history.day_first_budget
    lo, hi = first * (1 - guardrails.max_day_percent / 100), first * (1 + guardrails.max_day_percent / 100)
    if not lo <= target <= hi:
        target, applied = min(max(target, lo), hi), "max_day_percent"
    if target < guardrails.floor:
        target, applied = guardrails.floor, "floor"
    if target > guardrails.ceiling:
        target, applied = guardrails.ceiling, "ceiling"
    return target, applied
