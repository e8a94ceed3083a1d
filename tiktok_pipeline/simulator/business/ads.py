"""The simulator's ad account: campaigns, ad groups and Spark Ads promoting the world's videos.

One advertiser (``7000000000000000001``, in a configurable time zone, UTC by default) runs four campaigns named after the shipped
tracking registry's campaign ids (``cmp-holiday-2026``, ``cmp-creator-fund``, ``cmp-spring-launch``,
``cmp-always-on``). A campaign sponsors creators (by default the same creator → campaigns table as
``data/tracking_registry.json``, by creator index), with one ad group per (campaign, creator). Each of a
sponsored creator's videos is boosted as a **Spark Ad** with a seeded chance: the ad carries the
video id as ``tiktok_item_id`` and the creator's identity (``identity_type`` ``AUTH_CODE``), exactly the
fields TikTok's ``ad/get`` returns for Spark Ads. The ad starts 1–6 h after the video was published and
runs 24–72 h.

Nothing is stored: every property is a hash of (seed, ids) and an ad's **settled** metrics for an hour
are a pure function of (seed, ad, hour). What the API **reports** as of an instant comes from them:

- **Latency**: data of the last ``REPORTING_LATENCY_SECONDS`` (10 minutes) is not reported yet; the
  current hour's row holds the share of the hour delivered before that, and an hour with nothing
  reportable has no row.
- **Attribution revisions** (:mod:`.attribution`): late conversions keep arriving for the account's
  ``attribution_days`` (default 7) after the hour, late clicks within a day; reported values never go
  down, and :meth:`AdAccount.settled` is what every hour ends at (from :meth:`AdAccount.final_at`).
- **Deleted ads**: a seeded share of ads is deleted after it stopped delivering (``Ad.deleted``); its
  hours stay in the reports, and ``ad/get`` lists it only when asked for every status.

Paid engagement follows the video's organic curve: CTR scales with the video's share rate and jumps
with its viral surge; likes, comments and shares use the video's own rates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from tiktok_pipeline.simulator.business.attribution import ATTRIBUTION_DAYS, Attribution, HourMetrics
from tiktok_pipeline.simulator.business.budgets import AdGroupBudgets
from tiktok_pipeline.simulator.curves import surge
from tiktok_pipeline.simulator.randomness import bits, unit
from tiktok_pipeline.simulator.world import VideoTruth, World

ADVERTISER_ID = "7000000000000000001"
CURRENCY = "USD"
HOUR = 3600
REPORTING_LATENCY_SECONDS = 600
"""Basic reports trail real time by about 10 minutes."""
VIDEO_METRICS_SECONDS = 3 * HOUR
"""After an hour ends, its 2s/6s view metrics may still be missing (``"-"``) for this long."""
MAX_START_DELAY = 6 * HOUR
MAX_RUN = 72 * HOUR
MAX_AD_LIFETIME = MAX_START_DELAY + MAX_RUN
"""An ad ends at most this long after its video was published."""
SPARK_SHARE = 0.6
"""Chance that a sponsoring campaign boosts a given video of the creator."""
DELETED_SHARE = 0.3
"""Chance that an ad is deleted after it stopped delivering (within ``MAX_DELETE_DELAY`` of its end)."""
MAX_DELETE_DELAY = 48 * HOUR


@dataclass(frozen=True)
class Campaign:
    """A campaign; ``name`` equals a tracking-registry campaign id, which is how the pipeline links them."""

    index: int
    id: str
    name: str
    objective: str  # "CONVERSIONS" reports conversions; "REACH" answers "-" for them


CAMPAIGN_PLAN: tuple[tuple[str, str], ...] = (
    ("cmp-holiday-2026", "CONVERSIONS"),
    ("cmp-creator-fund", "CONVERSIONS"),
    ("cmp-spring-launch", "CONVERSIONS"),
    ("cmp-always-on", "REACH"),
)
SPONSORS_BY_CREATOR_INDEX: tuple[tuple[int, ...], ...] = ((0,), (0, 1), (2,), (1,), (2, 0), (3,))
"""Campaign indexes sponsoring creators 0..5: the same pairs as the shipped tracking registry (seed 7
creators). Creators beyond these get one hashed campaign."""


@dataclass(frozen=True)
class AdGroup:
    id: str
    name: str
    campaign: Campaign
    creator_username: str


@dataclass(frozen=True)
class Ad:
    """A Spark Ad boosting one video; fixed properties drawn from (seed, campaign, video)."""

    id: str
    name: str
    adgroup: AdGroup
    video: VideoTruth
    identity_id: str
    create_time: int
    start: int
    end: int
    daily_budget: float
    cpm: float
    base_ctr: float
    play_rate: float
    watched_2s_rate: float
    watched_6s_rate: float
    conversion_rate: float
    profile_visit_rate: float
    deleted: int | None = None
    """When the advertiser deleted the ad (epoch seconds), or None."""

    @property
    def campaign(self) -> Campaign:
        return self.adgroup.campaign

    def active_seconds(self, lo: float, hi: float) -> float:
        """Seconds of ``[lo, hi)`` during which the ad delivered."""
        return max(0.0, min(hi, self.end) - max(lo, self.start))


class AdAccount:
    """The advertiser's campaigns, ad groups and ads in a :class:`World`, queried as of any instant."""

    def __init__(
        self,
        world: World,
        advertiser_id: str = ADVERTISER_ID,
        timezone: str = "UTC",
        *,
        attribution_days: float = ATTRIBUTION_DAYS,
        budget_state: Path | None = None,
    ) -> None:
        """``timezone``: the account's IANA time zone, its reports' dates and hours are in it; ``attribution_days``:
        how long after an hour its conversions keep being revised (0 < days <= 28); ``budget_state``: a file keeping
        applied budget changes across processes (:mod:`.budget_state`)."""
        self.world = world
        self.advertiser_id = advertiser_id
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        self.seed = world.config.seed
        self.attribution = Attribution(attribution_days)
        self.budgets: AdGroupBudgets = AdGroupBudgets(self, budget_state)
        """The ad groups' budgets and changes (:mod:`.adgroups`): every hour's spend respects them."""
        self._ad = lru_cache(maxsize=65_536)(self._make_ad)
        self._created_on = lru_cache(maxsize=512)(self._ads_created_on)

    def _u(self, *parts: object) -> float:
        return unit(self.seed, "ads", *parts)

    def _id(self, prefix: int, *parts: object) -> str:
        return str(prefix * 10**17 + bits(self.seed, 56, "ads", *parts) % 10**17)

    @cached_property
    def campaigns(self) -> list[Campaign]:
        return [
            Campaign(i, self._id(17, "campaign", name), name, objective)
            for i, (name, objective) in enumerate(CAMPAIGN_PLAN)
        ]

    def sponsors(self, creator_index: int) -> list[Campaign]:
        """The campaigns boosting a creator's videos."""
        if creator_index < len(SPONSORS_BY_CREATOR_INDEX):
            indexes = SPONSORS_BY_CREATOR_INDEX[creator_index]
        else:
            indexes = (int(self._u("sponsor", creator_index) * len(self.campaigns)),)
        return [self.campaigns[i] for i in indexes]

    def adgroup(self, campaign: Campaign, username: str) -> AdGroup:
        return AdGroup(
            self._id(17, "adgroup", campaign.name, username), f"{campaign.name} / {username}", campaign, username
        )

    def _make_ad(self, campaign: Campaign, video: VideoTruth) -> Ad | None:
        def u(name: str) -> float:
            return self._u(name, campaign.name, video.id)

        if u("spark") >= SPARK_SHARE:
            return None
        start = video.create_time + int(HOUR + (MAX_START_DELAY - HOUR) * u("start"))
        end = start + int(24 * HOUR + (MAX_RUN - 24 * HOUR) * u("run"))
        return Ad(
            id=self._id(17, "ad", campaign.name, video.id),
            name=f"spark {video.creator_username} {video.id[-6:]}",
            adgroup=self.adgroup(campaign, video.creator_username),
            video=video,
            identity_id=self._id(69, "identity", video.creator_username),
            create_time=start - 1800,
            start=start,
            end=end,
            daily_budget=50 + 450 * u("budget"),
            cpm=4 + 8 * u("cpm"),
            base_ctr=0.005 + 0.02 * u("ctr"),
            play_rate=0.80 + 0.15 * u("play"),
            watched_2s_rate=0.25 + 0.35 * u("2s"),
            watched_6s_rate=0.30 + 0.30 * u("6s"),
            conversion_rate=0.05 + 0.15 * u("conversion"),
            profile_visit_rate=0.15 + 0.30 * u("profile"),
            deleted=end + int(MAX_DELETE_DELAY * u("delete_at")) if u("deleted") < DELETED_SHARE else None,
        )

    def ads_between(self, lo: float, hi: float) -> list[Ad]:
        """Every ad whose delivery overlaps ``[lo, hi)``, ordered by id."""
        found: dict[str, Ad] = {}
        history = self.world.config.history_days * 86400
        for creator in self.world.creators():
            campaigns = self.sponsors(creator.index)
            seen: set[str] = set()
            t = hi
            while t >= lo - MAX_AD_LIFETIME:  # videos_as_of only looks history_days back
                for video in self.world.videos_as_of(creator.username, t):
                    if video.id in seen or video.create_time + MAX_AD_LIFETIME < lo:
                        continue
                    seen.add(video.id)
                    for campaign in campaigns:
                        ad = self._ad(campaign, video)
                        if ad is not None and ad.active_seconds(lo, hi) > 0:
                            found[ad.id] = ad
                t -= history
        return [found[k] for k in sorted(found)]

    def ads_created(self, as_of: float, since: float) -> list[Ad]:
        """Ads created in ``[since, as_of]`` (what ``ad/get`` lists as of ``as_of``), ordered by id."""
        found = [
            ad
            for day in range(int(since // 86400), int(as_of // 86400) + 1)
            for ad in self._created_on(day)
            if since <= ad.create_time <= as_of
        ]
        return sorted(found, key=lambda ad: ad.id)

    def _ads_created_on(self, day: int) -> tuple[Ad, ...]:
        """Ads created on UTC day ``day`` (days since the epoch); cached, ads never change."""
        lo = day * 86400
        return tuple(ad for ad in self.ads_between(lo, lo + 86400 + MAX_RUN) if lo <= ad.create_time < lo + 86400)

    # --- metrics -----------------------------------------------------------------------------
    def _delivery(self, ad: Ad, hour: int) -> float:
        """Impressions the ad would deliver in the hour without its ad group's budget cap (not rounded)."""
        active = ad.active_seconds(hour, hour + HOUR) / HOUR
        hour_of_day = datetime.fromtimestamp(hour, UTC).hour
        diurnal = 0.6 + 0.8 * 0.5 * (1 - math.cos(2 * math.pi * (hour_of_day - 4) / 24))
        noise = 0.75 + 0.5 * self._u("delivery", ad.id, hour)
        return ad.daily_budget / 24 * 1000 / ad.cpm * diurnal * noise * active

    def uncapped_spend(self, ad: Ad, hour: int) -> float:
        """What the ad would spend in the hour if its ad group's daily budget did not stop it."""
        return self._delivery(ad, hour) * ad.cpm / 1000

    def settled(self, ad: Ad, hour: int) -> HourMetrics:
        """The ad's final numbers for the hour starting at ``hour`` (epoch seconds, on the hour), once its ad
        group's daily budget (:attr:`budgets`) has cut what it would deliver."""
        factor = self.budgets.spend_factor(ad, hour)
        impressions = int(self._delivery(ad, hour) * factor)
        curve = ad.video.curve
        ctr = ad.base_ctr * (0.7 + 30 * curve.share_rate) * (0.85 + 0.3 * self._u("ctr_noise", ad.id, hour))
        if curve.viral_onset is not None:
            ctr *= 1 + 1.5 * surge(hour + HOUR / 2 - curve.viral_onset, curve.viral_rise_seconds)
        clicks = int(impressions * min(ctr, 0.5) + 0.5)
        plays = int(impressions * ad.play_rate)
        watched_2s = int(plays * ad.watched_2s_rate)
        conversion = int(clicks * ad.conversion_rate + 0.5) if ad.campaign.objective == "CONVERSIONS" else None
        return HourMetrics(
            impressions=impressions,
            clicks=clicks,
            spend=round(impressions * ad.cpm / 1000, 2),
            conversion=conversion,
            video_play_actions=plays,
            video_watched_2s=watched_2s,
            video_watched_6s=int(watched_2s * ad.watched_6s_rate),
            likes=int(plays * curve.like_rate * 0.4),
            comments=int(plays * curve.comment_rate * 0.4),
            shares=int(plays * curve.share_rate * 0.5),
            follows=int(clicks * 0.08),
            profile_visits=int(clicks * ad.profile_visit_rate),
        )

    def final_at(self, hour: int) -> float:
        """The as-of instant from which the hour's reported numbers are its settled ones (attribution passed)."""
        return hour + HOUR + self.attribution.seconds + REPORTING_LATENCY_SECONDS

    def reported(self, ad: Ad, hour: int, as_of: float) -> HourMetrics | None:
        """What the API reports for (ad, hour) as of ``as_of``; None when it has no row yet.

        The share of the hour's delivery made before ``as_of - latency`` is reported; late clicks and
        conversions arrive after the hour as :mod:`.attribution` says. Non-decreasing in ``as_of``.
        """
        visible_until = as_of - REPORTING_LATENCY_SECONDS
        total = ad.active_seconds(hour, hour + HOUR)
        if visible_until <= hour or total <= 0:
            return None
        shown = ad.active_seconds(hour, min(hour + HOUR, visible_until))
        if shown <= 0:
            return None
        share = shown / total
        elapsed = visible_until - hour - HOUR
        scale = HOUR * (0.5 + self._u("attribution_lag", ad.id, hour))
        final = self.settled(ad, hour)
        holes = elapsed < VIDEO_METRICS_SECONDS and self._u("hole", ad.id, hour) < 0.05  # still being computed

        def late(metric: str) -> Callable[[int], float]:
            return lambda k: self._u("late", metric, ad.id, hour, k)

        return self.attribution.report(final, share, elapsed, scale, late, holes)
