"""Polling policy: cadence tiers from momentum, the per-window request budgets, and backoff."""

from __future__ import annotations

from enum import Enum

from tiktok_pipeline.governance.rate_limits import display_requests_per_minute
from tiktok_pipeline.settings import PollingSettings
from tiktok_pipeline.sources.display_api.models import MAX_VIDEOS_PER_REQUEST


class Tier(str, Enum):
    HOT = "hot"
    WARM = "warm"
    COLD = "cold"


class PollingPolicy(PollingSettings):
    """The ``TIKTOK_POLL_*`` settings and what they decide: tiers, cadences, budget and backoff."""

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

    def endpoint_budget(self, backoff: float = 1.0) -> dict[str, int]:
        """Requests allowed this window per endpoint (``user/info``, ``video/list``, ``video/query``): each one's
        budget (:meth:`endpoint_budgets`; unset: from the declared rate limit) shrunk by the backoff factor."""
        budgets = self.endpoint_budgets(display_requests_per_minute(None))
        return {endpoint: max(1, int(b / backoff)) for endpoint, b in budgets.items()}

    def budget(self, backoff: float = 1.0) -> int:
        """Requests allowed this window, all endpoints together: the per-endpoint budgets' sum, or the overall
        cap (``TIKTOK_POLL_BUDGET_REQUESTS``) when it is smaller, shrunk by the backoff factor."""
        total = sum(self.endpoint_budget(backoff).values())
        return total if self.budget_requests is None else min(total, max(1, int(self.budget_requests / backoff)))

    def next_backoff(self, backoff: float, throttled: int, server_errors: int) -> float:
        """Double after a window with 429s or 5xx (up to ``max_backoff``); recover gradually otherwise."""
        if throttled or server_errors:
            return min(self.max_backoff, max(1.0, backoff) * 2)
        return max(1.0, backoff * self.recovery)


def requests_for(videos: int) -> int:
    """``video/query`` requests needed for one creator's ``videos``."""
    return -(-videos // MAX_VIDEOS_PER_REQUEST)
