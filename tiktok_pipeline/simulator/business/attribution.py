"""An ad-hour's numbers (:class:`HourMetrics`), and when its late clicks and conversions arrive: TikTok keeps
revising an hour for days.

TikTok attributes a conversion to an ad up to 7 days after a view and up to 28 days after a click, and
its reports move with every attribution (airbytehq/airbyte issue 23756: connectors re-read a window of
days, not hours). The simulator models this for each (ad, hour) deterministically from the seed:

- half of the hour's conversions are known right away; each of the other half arrives at its own
  seeded instant within the account's attribution window (:attr:`Attribution.days`, 7 by default, at
  most 28) after the hour ended: most in the first hours, a long tail over the days (a logarithmic
  curve whose time scale, 30 to 90 minutes, is seeded per ad-hour);
- a tenth of the clicks arrive late, within the first day (or the window, if shorter);
- nothing moves once the window has passed: the reported numbers are then the settled ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

HOUR = 3600
ATTRIBUTION_DAYS = 7.0
"""Default attribution window of the simulated account (TikTok's view-through window)."""
MAX_ATTRIBUTION_DAYS = 28.0
"""TikTok's longest attribution window (click-through)."""
LATE_CLICK_SHARE = 0.10
LATE_CONVERSION_SHARE = 0.50
CLICK_SETTLE_SECONDS = 24 * HOUR
"""Late clicks are all in within this long after the hour (or the attribution window, if shorter)."""


def arrival(quantile: float, horizon: float, scale: float) -> float:
    """Seconds after the hour at which the late arrival at ``quantile`` (in [0, 1)) comes in, within ``horizon``.

    The inverse of a logarithmic curve: the share in by ``t`` is ``log1p(t/scale) / log1p(horizon/scale)``,
    fast at first and with a long tail.
    """
    return scale * ((1 + horizon / scale) ** quantile - 1)


@dataclass(frozen=True)
class HourMetrics:
    """An ad's numbers for one hour; ``None`` means the metric does not apply (TikTok's ``"-"``)."""

    impressions: int
    clicks: int
    spend: float
    conversion: int | None
    video_play_actions: int
    video_watched_2s: int | None
    video_watched_6s: int | None
    likes: int
    comments: int
    shares: int
    follows: int
    profile_visits: int


@dataclass(frozen=True)
class Attribution:
    """The account's attribution window and how much of a settled count is reported ``elapsed`` seconds after the hour."""

    days: float = ATTRIBUTION_DAYS

    def __post_init__(self) -> None:
        if not 0 < self.days <= MAX_ATTRIBUTION_DAYS:
            raise ValueError(f"attribution_days must be in (0, {MAX_ATTRIBUTION_DAYS:g}], got {self.days}")

    @property
    def seconds(self) -> float:
        """How long after an hour ends its numbers keep changing."""
        return self.days * 86400

    def clicks(self, settled: float, elapsed: float, scale: float, draw: Callable[[int], float]) -> int:
        """Clicks reported of ``settled`` (the delivered share of the hour's final clicks); see :meth:`count`."""
        return self.count(settled, LATE_CLICK_SHARE, min(CLICK_SETTLE_SECONDS, self.seconds), elapsed, scale, draw)

    def conversions(self, settled: float, elapsed: float, scale: float, draw: Callable[[int], float]) -> int:
        """Conversions reported of ``settled``; see :meth:`count`."""
        return self.count(settled, LATE_CONVERSION_SHARE, self.seconds, elapsed, scale, draw)

    @staticmethod
    def count(
        settled: float, late_share: float, horizon: float, elapsed: float, scale: float, draw: Callable[[int], float]
    ) -> int:
        """The early part of ``settled`` plus the late arrivals in by ``elapsed`` seconds after the hour.

        Each of the ``late_share`` late units arrives at its own instant, :func:`arrival` of the seeded
        quantile ``draw(k)``; all are in from ``horizon`` on, so the count then equals ``settled``.
        """
        total = int(settled + 1e-9)
        late = int(total * late_share + 0.5)
        if elapsed >= horizon:
            return total
        if elapsed <= 0 or late == 0:
            return total - late
        return total - late + sum(1 for k in range(late) if arrival(draw(k), horizon, scale) <= elapsed)

    def report(
        self,
        final: HourMetrics,
        share: float,
        elapsed: float,
        scale: float,
        late: Callable[[str], Callable[[int], float]],
        holes: bool,
    ) -> HourMetrics:
        """What is reported of an hour's ``final`` numbers: the ``share`` of its delivery made so far, the clicks
        and conversions arrived ``elapsed`` seconds after the hour (``late(metric)`` draws their quantiles), and
        no 2s/6s views while ``holes`` (still being computed)."""

        def part(value: int) -> int:
            return int(value * share)

        return HourMetrics(
            impressions=part(final.impressions),
            clicks=self.clicks(final.clicks * share, elapsed, scale, late("clicks")),
            spend=math.floor(final.spend * share * 100) / 100,
            conversion=(
                None
                if final.conversion is None
                else self.conversions(final.conversion * share, elapsed, scale, late("conversion"))
            ),
            video_play_actions=part(final.video_play_actions),
            video_watched_2s=None if holes else part(final.video_watched_2s or 0),
            video_watched_6s=None if holes else part(final.video_watched_6s or 0),
            likes=part(final.likes),
            comments=part(final.comments),
            shares=part(final.shares),
            follows=part(final.follows),
            profile_visits=part(final.profile_visits),
        )
