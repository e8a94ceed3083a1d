"""Cumulative count curves: pure, monotone functions of a video's parameters and the instant.

Views saturate as ``V * (1 - exp(-age / tau))``; a viral video adds a steep logistic surge that
starts exactly at its onset. Interactions follow views with a lag, at a per-video rate, plus a
per-video wobble that grows with the count, so they never go down either. The only decrease is an
optional one-off correction that removes a fixed share of views and likes from an instant on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The surge's logistic midpoint, in units of its rise time after the onset.
SURGE_MIDPOINT = 4.0


@dataclass(frozen=True)
class CurveParams:
    """Everything the counts of one video depend on (times in epoch seconds)."""

    create_time: int
    base_views: float
    tau_seconds: float
    viral_onset: int | None
    viral_views: float
    viral_rise_seconds: float
    like_rate: float
    comment_rate: float
    share_rate: float
    wobble: float
    lag_seconds: tuple[float, float, float]  # likes, comments, shares
    correction_time: int | None
    correction_fraction: float


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def surge(elapsed: float, rise_seconds: float) -> float:
    """Share in [0, 1) of a viral surge reached ``elapsed`` seconds after onset: 0 at the onset,
    steepest ``SURGE_MIDPOINT`` rise times later, monotone in ``elapsed``."""
    if elapsed <= 0:
        return 0.0
    x = min(elapsed / rise_seconds, 60.0)
    floor = _logistic(-SURGE_MIDPOINT)
    return (_logistic(x - SURGE_MIDPOINT) - floor) / (1.0 - floor)


def organic_views(p: CurveParams, t: float) -> float:
    """Uncorrected cumulative views at ``t`` (0 before publication)."""
    age = t - p.create_time
    if age <= 0:
        return 0.0
    views = p.base_views * (1.0 - math.exp(-age / p.tau_seconds))
    if p.viral_onset is not None:
        views += p.viral_views * surge(t - p.viral_onset, p.viral_rise_seconds)
    return views


def corrected(p: CurveParams, t: float) -> bool:
    """Whether the correction event has happened by ``t``."""
    return p.correction_time is not None and t >= p.correction_time


def views_at(p: CurveParams, t: float) -> int:
    """Reported view count at ``t``: organic views less the removed share after a correction."""
    views = organic_views(p, t)
    if corrected(p, t):
        views -= p.correction_fraction * organic_views(p, p.correction_time)  # type: ignore[arg-type]
    return max(int(views), 0)


def _tracking(p: CurveParams, rate: float, lag: float, t: float) -> float:
    base = rate * organic_views(p, t - lag)
    return base + p.wobble * math.sqrt(base)


def interactions_at(p: CurveParams, t: float) -> tuple[int, int, int]:
    """(likes, comments, shares) at ``t``; likes lose the correction share with the views."""
    like_lag, comment_lag, share_lag = p.lag_seconds
    likes = _tracking(p, p.like_rate, like_lag, t)
    if corrected(p, t):
        likes *= 1.0 - p.correction_fraction
    return (
        int(likes),
        int(_tracking(p, p.comment_rate, comment_lag, t)),
        int(_tracking(p, p.share_rate, share_lag, t)),
    )
