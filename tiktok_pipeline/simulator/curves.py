"""Cumulative count curves: pure, monotone functions of a video's parameters and the instant.

Views saturate as ``V * (1 - exp(-age / tau))``; a viral video adds a steep logistic surge that
starts exactly at its onset. A **decoy** adds a short burst instead: a fixed number of extra views at a
constant rate over 10–40 minutes (a share, a brief feature), then nothing more: momentum spikes and dies.
Interactions follow views with a lag, at a per-video rate, plus a per-video wobble that grows with the
count, so they never go down either. The only decrease is an optional one-off correction that removes a
fixed share of views and likes from an instant on.

**Noisy counts**: TikTok's public counters are cached and catch up in jumps, so a 5-minute delta is not the
true rate. Counts are read at a jittered instant (:func:`observed_time`): the true instant shifted by up to
``noise_seconds``, interpolated between hashed shifts every :data:`NOISE_KNOT_SECONDS`, so a 5-minute delta
swings by up to ±2 × noise / 300 of the true one while counts stay non-decreasing (the shift never moves
back faster than time moves forward, as long as ``noise_seconds`` ≤ half a knot).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tiktok_pipeline.simulator.randomness import unit

# The surge's logistic midpoint, in units of its rise time after the onset.
SURGE_MIDPOINT = 4.0
NOISE_KNOT_SECONDS = 300
"""Distance between the hashed shifts of :func:`observed_time` (the noise's shifts are at most half of it)."""


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
    burst_start: int | None = None
    """A decoy's burst: when it starts (None: no burst), how many views it adds and over how many seconds."""
    burst_views: float = 0.0
    burst_seconds: float = 0.0
    noise_seconds: float = 0.0
    """Largest shift of the instant counts are read at (0: exact counts); at most ``NOISE_KNOT_SECONDS / 2``."""
    noise_key: str = ""
    """Hash key of the video's shifts (its id)."""


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


def burst(elapsed: float, burst_seconds: float) -> float:
    """Share in [0, 1] of a decoy's burst reached ``elapsed`` seconds after it starts: linear, then flat."""
    if elapsed <= 0 or burst_seconds <= 0:
        return 0.0
    return min(elapsed / burst_seconds, 1.0)


def observed_time(p: CurveParams, t: float, seed: int = 0) -> float:
    """The instant the counters shown at ``t`` are true for: ``t`` shifted by a hashed amount in
    ``[-noise_seconds, noise_seconds]``, linear between knots every :data:`NOISE_KNOT_SECONDS` (non-decreasing)."""
    if p.noise_seconds <= 0:
        return t
    knot = math.floor(t / NOISE_KNOT_SECONDS)
    share = t / NOISE_KNOT_SECONDS - knot

    def shift(k: int) -> float:
        return p.noise_seconds * (2.0 * unit(seed, "count_noise", p.noise_key, k) - 1.0)

    return t + (1.0 - share) * shift(knot) + share * shift(knot + 1)


def organic_views(p: CurveParams, t: float) -> float:
    """Uncorrected cumulative views at ``t`` (0 before publication), a decoy's burst included."""
    age = t - p.create_time
    if age <= 0:
        return 0.0
    views = p.base_views * (1.0 - math.exp(-age / p.tau_seconds))
    if p.viral_onset is not None:
        views += p.viral_views * surge(t - p.viral_onset, p.viral_rise_seconds)
    if p.burst_start is not None:
        views += p.burst_views * burst(t - p.burst_start, p.burst_seconds)
    return views


def corrected(p: CurveParams, t: float) -> bool:
    """Whether the correction event has happened by ``t``."""
    return p.correction_time is not None and t >= p.correction_time


def views_at(p: CurveParams, t: float, seen: float | None = None) -> int:
    """Reported view count at ``t``: organic views (read at ``seen``, :func:`observed_time`, default ``t``) less
    the removed share after a correction (which happens at ``t``, exactly)."""
    views = organic_views(p, t if seen is None else seen)
    if corrected(p, t):
        views -= p.correction_fraction * organic_views(p, p.correction_time)  # type: ignore[arg-type]
    return max(int(views), 0)


def _tracking(p: CurveParams, rate: float, lag: float, t: float) -> float:
    base = rate * organic_views(p, t - lag)
    return base + p.wobble * math.sqrt(base)


def interactions_at(p: CurveParams, t: float, seen: float | None = None) -> tuple[int, int, int]:
    """(likes, comments, shares) at ``t`` (read at ``seen``, default ``t``); likes lose the correction share with
    the views."""
    like_lag, comment_lag, share_lag = p.lag_seconds
    at = t if seen is None else seen
    likes = _tracking(p, p.like_rate, like_lag, at)
    if corrected(p, t):
        likes *= 1.0 - p.correction_fraction
    return (
        int(likes),
        int(_tracking(p, p.comment_rate, comment_lag, at)),
        int(_tracking(p, p.share_rate, share_lag, at)),
    )
