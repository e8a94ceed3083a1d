"""The creative swaps' thresholds, instantiated from ``settings.swaps`` (``TIKTOK_SWAP_*``)."""

import dagster as dg
from pydantic import Field

from tiktok_pipeline.metrics.swaps import SwapPolicy
from tiktok_pipeline.settings import Settings


class SwapsResource(dg.ConfigurableResource):
    """When a creative swap is recommended (defaults in ``SwapSettings`` only)."""

    ctr_change_threshold: float = Field(description="TIKTOK_SWAP_CTR_CHANGE_THRESHOLD.")
    min_impressions: float = Field(description="TIKTOK_SWAP_MIN_IMPRESSIONS.")
    momentum_threshold: float = Field(description="TIKTOK_SWAP_MOMENTUM_THRESHOLD.")
    persist_minutes: float = Field(default=0.0, description="TIKTOK_SURGE_PERSIST_MINUTES.")
    rising_minutes: float = Field(default=15.0, description="TIKTOK_SURGE_RISING_MINUTES.")

    @classmethod
    def from_settings(cls, settings: Settings) -> "SwapsResource":
        return cls(**settings.swaps.model_dump(), **settings.surge.model_dump())

    @property
    def policy(self) -> SwapPolicy:
        return SwapPolicy(
            self.ctr_change_threshold,
            self.min_impressions,
            self.momentum_threshold,
            self.persist_minutes,
            self.rising_minutes,
        )
