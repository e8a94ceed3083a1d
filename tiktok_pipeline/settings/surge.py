"""When a video surges for creative swaps and budget pacing: persistence against bursts that fade (``TIKTOK_SURGE_*``).

Each consumer keeps its own momentum threshold (``TIKTOK_SWAP_MOMENTUM_THRESHOLD``, ``TIKTOK_PACING_SURGE_MOMENTUM``);
these say how long it must hold (:class:`tiktok_pipeline.metrics.surge.SurgeRule`). ``benchmarks/recommendations.py``
measures the trade (README "Activation quality").
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from tiktok_pipeline.settings.domains import _config


class SurgeSettings(BaseSettings):
    """How long a surge must hold before a swap or a raise is recommended (0: one observation, the old rule)."""

    model_config = _config("TIKTOK_SURGE_")

    persist_minutes: float = Field(
        default=0.0,
        ge=0,
        le=240,
        description=(
            "Minutes a video's momentum must have stayed at or above the consumer's threshold at every observation"
            " (and not fallen over TIKTOK_SURGE_RISING_MINUTES) before creative swaps and pacing raises count it as"
            " surging; 0: one observation. 30 took the flag's precision from 0.40 to 0.93 against the simulator's"
            " decoys, for 30 minutes of lag (README, Activation quality)."
        ),
    )
    rising_minutes: float = Field(
        default=15.0,
        gt=0,
        le=120,
        description="With persistence: momentum now must be at least its value at the observation this long before.",
    )
