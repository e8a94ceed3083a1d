"""The pacing domain's runtime configuration, instantiated from ``settings.pacing`` in ``build_resources``."""

import dagster as dg
from pydantic import Field

from tiktok_pipeline.activation.pacing.compute import PacingRules
from tiktok_pipeline.metrics.pacing import Guardrails, Thresholds
from tiktok_pipeline.settings import Settings


class PacingResource(dg.ConfigurableResource):
    """Budget pacing's curve, thresholds, guardrails and mode. Defaults live in ``PacingSettings`` only."""

    mode: str = Field(description="TIKTOK_PACING_MODE: recommend (nothing sent) or apply.")
    hour_weights: list[float] = Field(description="TIKTOK_PACING_HOUR_WEIGHTS: 24 hour-of-day weights.")
    max_step_percent: float = Field(description="TIKTOK_PACING_MAX_STEP_PERCENT.")
    max_day_percent: float = Field(description="TIKTOK_PACING_MAX_DAY_PERCENT.")
    floor: float = Field(description="TIKTOK_PACING_FLOOR (USD a day).")
    ceiling: float = Field(description="TIKTOK_PACING_CEILING (USD a day).")
    cooldown_minutes: float = Field(description="TIKTOK_PACING_COOLDOWN_MINUTES.")
    surge_momentum: float = Field(description="TIKTOK_PACING_SURGE_MOMENTUM.")
    ctr_drop: float = Field(description="TIKTOK_PACING_CTR_DROP.")
    overspend_ratio: float = Field(description="TIKTOK_PACING_OVERSPEND_RATIO.")
    landing_dir: str = Field(description="Landing zone root (TIKTOK_LANDING_DIR): adgroup/get answers land there.")
    advertiser_timezone: str | None = Field(description="TIKTOK_ADVERTISER_TIMEZONE (None: from advertiser/info).")
    persist_minutes: float = Field(default=0.0, description="TIKTOK_SURGE_PERSIST_MINUTES.")
    rising_minutes: float = Field(default=15.0, description="TIKTOK_SURGE_RISING_MINUTES.")

    @classmethod
    def from_settings(cls, settings: Settings) -> "PacingResource":
        p = settings.pacing
        return cls(
            mode=p.pacing_mode,
            hour_weights=list(p.pacing_hour_weights),
            max_step_percent=p.pacing_max_step_percent,
            max_day_percent=p.pacing_max_day_percent,
            floor=p.pacing_floor,
            ceiling=p.pacing_ceiling,
            cooldown_minutes=p.pacing_cooldown_minutes,
            surge_momentum=p.pacing_surge_momentum,
            ctr_drop=p.pacing_ctr_drop,
            overspend_ratio=p.pacing_overspend_ratio,
            landing_dir=str(settings.landing_dir),
            advertiser_timezone=settings.ads.advertiser_timezone,
            persist_minutes=settings.surge.persist_minutes,
            rising_minutes=settings.surge.rising_minutes,
        )

    @property
    def rules(self) -> PacingRules:
        """The plain rules :func:`~tiktok_pipeline.activation.pacing.compute.window_recommendations` applies."""
        return PacingRules(
            weights=tuple(self.hour_weights),
            thresholds=Thresholds(self.surge_momentum, self.ctr_drop, self.overspend_ratio),
            guardrails=Guardrails(
                self.max_step_percent, self.max_day_percent, self.floor, self.ceiling, self.cooldown_minutes
            ),
            mode=self.mode,
            persist_minutes=self.persist_minutes,
            rising_minutes=self.rising_minutes,
        )
