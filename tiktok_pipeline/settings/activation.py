"""Activation from signals: creative swaps (``TIKTOK_SWAP_*``) and the merchandising feed (``TIKTOK_MERCH_*``).

The merchandising webhook's URL and signing key are secrets, not settings: ``TIKTOK_MERCH_WEBHOOK_URL`` and
``TIKTOK_MERCH_WEBHOOK_SECRET`` reach the resource only as ``dagster.EnvVar``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tiktok_pipeline.settings.domains import DATA_DIR


class SwapSettings(BaseSettings):
    """When a creative swap is recommended: a fading ad (CTR falling, enough impressions) and a surging video."""

    model_config = SettingsConfigDict(env_prefix="TIKTOK_SWAP_", extra="ignore", frozen=True)

    ctr_change_threshold: float = Field(
        default=-0.002,
        lt=0,
        ge=-1,
        description=(
            "An ad's CTR is decaying when its 30-minute change (ad_velocity.ctr_change_30m, a fraction: -0.002 is"
            " -0.2 percentage points) is at or below this."
        ),
    )
    min_impressions: float = Field(
        default=1000.0,
        ge=0,
        description="Impressions in the trailing 60 minutes an ad needs before its CTR change counts (noise guard).",
    )
    momentum_threshold: float = Field(
        default=2.0,
        gt=0,
        description="Momentum (video_velocity) at or above which an organic video is surging and may be boosted.",
    )


class MerchandisingSettings(BaseSettings):
    """Where the merchandising feed is published (the webhook's URL and key are secrets, read as EnvVar)."""

    model_config = SettingsConfigDict(env_prefix="TIKTOK_MERCH_", extra="ignore", frozen=True)

    feed_dir: Path = Field(
        default=DATA_DIR / "merchandising",
        description="Folder of the published feed files (merchandising_feed.json and .csv, replaced atomically).",
    )
    feed_size: int = Field(default=50, ge=1, le=10_000, description="Most SKUs a published feed lists (top ranks).")
