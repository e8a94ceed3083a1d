"""Budget pacing: the spend curve, the recommendation thresholds and the guardrails (``TIKTOK_PACING_*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings

from tiktok_pipeline.settings.domains import _config

FLAT_CURVE = tuple([1.0] * 24)


class PacingSettings(BaseSettings):
    """How ad group budgets are paced: expected spend by hour, when to raise or lower, and how far at most."""

    model_config = _config()

    pacing_mode: Literal["recommend", "apply"] = Field(
        default="recommend",
        description=(
            "recommend: write recommendations only; apply: also send each one through adgroup/budget/update, exactly"
            " once (budget_changes)."
        ),
    )
    pacing_hour_weights: tuple[float, ...] = Field(
        default=FLAT_CURVE,
        description=(
            "24 non-negative weights (JSON array), one per local hour of the ad account's day from 00:00: the share"
            " of the daily budget expected in that hour. Default flat."
        ),
    )
    pacing_max_step_percent: float = Field(
        default=20.0, gt=0, le=100, description="Largest budget change of one recommendation, in % of the budget."
    )
    pacing_max_day_percent: float = Field(
        default=50.0,
        gt=0,
        le=500,
        description="Largest total change of an ad group's budget in one local day, in % of the day's first budget.",
    )
    pacing_floor: float = Field(
        default=20.0, ge=20, description="Lowest daily budget recommended (USD; TikTok's minimum is 20)."
    )
    pacing_ceiling: float = Field(default=5000.0, gt=0, description="Highest daily budget recommended (USD).")
    pacing_cooldown_minutes: float = Field(
        default=60.0, ge=0, description="Minutes after an ad group's last recommended change before another one."
    )
    pacing_surge_momentum: float = Field(
        default=1.5,
        gt=0,
        description=(
            "video_velocity.momentum (views per minute now / over the video's life) at or above which a boosted"
            " video surges."
        ),
    )
    pacing_ctr_drop: float = Field(
        default=0.002,
        ge=0,
        description=(
            "CTR change over 30 minutes (ad_velocity.ctr_change_30m, a fraction) below minus this is 'falling'; above"
            " it the CTR 'holds'."
        ),
    )
    pacing_overspend_ratio: float = Field(
        default=1.2, gt=1, description="Pacing ratio (spent / expected by now) above which an ad group overspends."
    )

    @field_validator("pacing_hour_weights")
    @classmethod
    def _weights(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if len(value) != 24:
            raise ValueError(f"needs 24 weights (one per hour of the day), got {len(value)}")
        if any(w < 0 for w in value) or sum(value) <= 0:
            raise ValueError("weights must be non-negative and not all zero")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> PacingSettings:
        if self.pacing_ceiling < self.pacing_floor:
            raise ValueError(
                f"TIKTOK_PACING_CEILING ({self.pacing_ceiling}) is below TIKTOK_PACING_FLOOR ({self.pacing_floor})"
            )
        return self


def load_pacing_settings() -> PacingSettings:
    """PacingSettings from the environment; a bad value raises ``SettingsError`` naming its variable."""
    from pydantic import ValidationError

    from tiktok_pipeline.settings.errors import SettingsError, describe

    try:
        return PacingSettings()
    except ValidationError as exc:
        raise SettingsError("invalid configuration:\n" + describe(exc)) from None
