"""Creative swaps (pure): an ad whose CTR decays and a surging organic video of the same creator or campaign.

Inputs, one window or several (``window_start`` pairs them):

- ``ads``: ``ad_velocity`` rows of boosted videos (``video_id``, ``creator_username``, ``ad_campaign_names``,
  ``ad_ids``, ``active_ads``, ``impressions_60m``, ``ctr``, ``ctr_30m_ago``, ``ctr_change_30m``, ``observed_at``);
- ``videos``: ``video_velocity`` rows with the registry's ``campaign_ids``, the organic proxies ``share_rate`` and
  ``share_rate_30m`` and the video's ``active_ads`` (0 when no ad boosts it).

A creative (the video the ads boost, with its ads) fades when its 30-minute CTR change is at or below the threshold
with at least the minimum impressions; a video surges when its momentum is at least the threshold and no ad boosts
it. For each fading creative and each of its campaigns, the surging video with the highest momentum among those of
the same creator or of a creator tracked under the campaign is recommended (never the fading video itself).
Expected gain: :data:`~tiktok_pipeline.warehouse.tables.swaps.EXPECTED_GAIN_FORMULA`.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tiktok_pipeline.metrics.surge import SurgeRule
from tiktok_pipeline.warehouse.tables.swaps import CREATIVE_SWAP_RECOMMENDATIONS


@dataclass(frozen=True)
class SwapPolicy:
    """The thresholds (``TIKTOK_SWAP_*``) and how long a surge must hold (``TIKTOK_SURGE_*``)."""

    ctr_change_threshold: float
    min_impressions: float
    momentum_threshold: float
    persist_minutes: float = 0.0
    rising_minutes: float = 15.0

    @property
    def surge_rule(self) -> SurgeRule:
        """When a video surges (:mod:`tiktok_pipeline.metrics.surge`)."""
        return SurgeRule(self.momentum_threshold, self.persist_minutes, self.rising_minutes)


def fading_creatives(ads: pl.DataFrame, policy: SwapPolicy) -> pl.DataFrame:
    """Boosted videos whose ads' CTR decays: change at or below the threshold, enough impressions (NaN is no figure:
    Polars orders it above every number)."""
    return ads.filter(
        (pl.col("active_ads") > 0)
        & pl.col("ctr_change_30m").is_finite()
        & pl.col("impressions_60m").is_finite()
        & (pl.col("ctr_change_30m") <= policy.ctr_change_threshold)
        & (pl.col("impressions_60m") >= policy.min_impressions)
    )


def surging_videos(videos: pl.DataFrame, policy: SwapPolicy) -> pl.DataFrame:
    """Organic videos (no ad boosts them) whose momentum is at least the threshold (a NaN momentum is none) and, when
    ``videos`` carries ``surging`` (:func:`~tiktok_pipeline.metrics.surge.mark_surging`: the persistence rule), held."""
    held = pl.col("surging").fill_null(False) if "surging" in videos.columns else pl.lit(True)
    return videos.filter(
        pl.col("momentum").is_finite()
        & (pl.col("momentum") >= policy.momentum_threshold)
        & (pl.col("active_ads").fill_null(0) == 0)
        & held
    )


def recommend_swaps(ads: pl.DataFrame, videos: pl.DataFrame, policy: SwapPolicy) -> pl.DataFrame:
    """One recommendation per window, campaign and fading creative with an eligible surging video; the table's
    columns (:data:`CREATIVE_SWAP_RECOMMENDATIONS`)."""
    fading = (
        fading_creatives(ads, policy)
        .explode("ad_campaign_names")
        .filter(pl.col("ad_campaign_names").is_not_null())
        .select(
            "window_start",
            "observed_at",
            pl.col("ad_campaign_names").alias("campaign_id"),
            pl.col("video_id").alias("fading_video_id"),
            pl.col("ad_ids").alias("fading_ad_ids"),
            pl.col("creator_username").alias("fading_creator_username"),
            pl.col("ctr").alias("ad_ctr"),
            pl.col("ctr_30m_ago").alias("ad_ctr_30m_ago"),
            pl.col("ctr_change_30m").alias("ad_ctr_change_30m"),
            pl.col("impressions_60m").alias("ad_impressions_60m"),
        )
        .unique(["window_start", "campaign_id", "fading_video_id"], keep="first", maintain_order=True)
    )
    surging = surging_videos(videos, policy).select(
        "window_start",
        pl.col("video_id").alias("boost_video_id"),
        "creator_username",
        "campaign_ids",
        pl.col("views_per_minute").alias("video_views_per_minute"),
        pl.col("momentum").alias("video_momentum"),
        pl.col("engagement_rate").alias("video_engagement_rate"),
        pl.coalesce("share_rate_30m", "share_rate").alias("video_ctr_proxy"),
    )
    same_creator = pl.col("creator_username") == pl.col("fading_creator_username")
    in_campaign = pl.col("campaign_ids").list.contains(pl.col("campaign_id"))
    keys = ["window_start", "campaign_id", "fading_video_id"]
    pairs = (
        fading.join(surging, on="window_start", how="inner")
        .filter(same_creator.fill_null(False) | in_campaign.fill_null(False))
        .filter(pl.col("boost_video_id") != pl.col("fading_video_id"))
        .with_columns(
            pl.when(same_creator.fill_null(False)).then(pl.lit("creator")).otherwise(pl.lit("campaign")).alias("match"),
            pl.len().over(keys).alias("candidates"),
        )
        .sort(
            [*keys, "video_momentum", "video_views_per_minute", "boost_video_id"],
            descending=[False, False, False, True, True, False],
            nulls_last=True,
        )
    )
    best = pairs.group_by(keys, maintain_order=True).first()
    gain = (pl.col("video_ctr_proxy") - pl.col("ad_ctr")) * pl.col("ad_impressions_60m")
    return CREATIVE_SWAP_RECOMMENDATIONS.conform(best.with_columns(gain.alias("expected_gain_clicks_per_hour")))


def swap_figures(recommendations: pl.DataFrame, fading: int, surging: int) -> dict[str, float]:
    """A window's plotted figures: recommendations, fading creatives, surging videos, the summed expected gain."""
    gain = recommendations["expected_gain_clicks_per_hour"].drop_nulls()
    return {
        "dagster/row_count": recommendations.height,
        "recommendations": float(recommendations.height),
        "fading_creatives": float(fading),
        "surging_videos": float(surging),
        "expected_gain_clicks_per_hour": float(gain.clip(lower_bound=0).sum()) if gain.len() else 0.0,
    }
