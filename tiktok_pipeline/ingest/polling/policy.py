"""Polling policy: cadence tiers from momentum, the per-window request budget, and backoff."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

from tiktok_pipeline.sources.display_api.models import MAX_VIDEOS_PER_REQUEST

WINDOW_MINUTES = 5
DISPLAY_API_REQUESTS_PER_MINUTE = 600


class Tier(str, Enum):
    HOT = "hot"
    WARM = "warm"
    COLD = "cold"


class PollingPolicy(BaseModel):
    """Thresholds and cadences; every field has a documented default and an environment variable."""

    model_config = ConfigDict(frozen=True)

    hot_momentum: float = Field(default=1.0, description="Momentum at or above this is hot (polled every window).")
    warm_momentum: float = Field(default=0.5, description="Momentum at or above this (and below hot) is warm.")
    hot_every_minutes: int = Field(default=5, ge=5)
    warm_every_minutes: int = Field(default=10, ge=5)
    cold_every_minutes: int = Field(default=15, ge=5)
    discovery_every_minutes: int = Field(
        default=60, ge=5, description="video/list cadence per creator (finds new videos, observes all recent ones)."
    )
    budget_requests: int = Field(
        default=int(DISPLAY_API_REQUESTS_PER_MINUTE * WINDOW_MINUTES * 0.9),
        ge=1,
        description="Requests per window, all endpoints together; default 90% of one endpoint's 600/min over 5 minutes.",
    )
    max_backoff: float = Field(default=4.0, ge=1, description="Largest backoff factor after throttling.")
    recovery: float = Field(default=0.75, gt=0, lt=1, description="Backoff multiplier per clean window.")

    def tier(self, momentum: float | None, has_history: bool) -> Tier:
        """Brand-new videos (no velocity yet) are hot; then momentum decides."""
        if not has_history or momentum is None:
            return Tier.HOT
        if momentum >= self.hot_momentum:
            return Tier.HOT
        if momentum >= self.warm_momentum:
            return Tier.WARM
        return Tier.COLD

    def every_minutes(self, tier: Tier, backoff: float = 1.0) -> float:
        """Polling interval of a tier, widened by the current backoff factor."""
        base = {
            Tier.HOT: self.hot_every_minutes,
            Tier.WARM: self.warm_every_minutes,
            Tier.COLD: self.cold_every_minutes,
        }
        return base[tier] * backoff

    def budget(self, backoff: float = 1.0) -> int:
        """Requests allowed this window: the configured budget shrunk by the backoff factor."""
        return max(1, int(self.budget_requests / backoff))

    def next_backoff(self, backoff: float, throttled: int, server_errors: int) -> float:
        """Double after a window with 429s or 5xx (up to ``max_backoff``); recover gradually otherwise."""
        if throttled or server_errors:
            return min(self.max_backoff, max(1.0, backoff) * 2)
        return max(1.0, backoff * self.recovery)


def requests_for(videos: int) -> int:
    """``video/query`` requests needed for one creator's ``videos``."""
    return -(-videos // MAX_VIDEOS_PER_REQUEST)
