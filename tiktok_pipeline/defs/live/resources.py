"""The LIVE intake's runtime configuration, from ``settings.live`` (only built when the intake is configured)."""

from datetime import timedelta
from pathlib import Path

import dagster as dg
from pydantic import Field

from tiktok_pipeline.ingest.collect.live import LiveIntake
from tiktok_pipeline.settings import Settings


class LiveIntakeResource(dg.ConfigurableResource):
    """Where LIVE event lines are dropped and landed, and when a file or a window counts as finished."""

    intake_dir: str = Field(description="TIKTOK_LIVE_INTAKE_DIR: the folder of *.jsonl dumps.")
    landing_dir: str = Field(description="Landing zone root (TIKTOK_LANDING_DIR).")
    settle_seconds: float = Field(description="TIKTOK_LIVE_SETTLE_SECONDS.")
    max_window_age_minutes: float = Field(description="TIKTOK_LIVE_MAX_WINDOW_AGE_MINUTES.")

    @classmethod
    def from_settings(cls, settings: Settings) -> "LiveIntakeResource":
        if settings.live.intake_dir is None:
            raise ValueError("the LIVE intake is off: TIKTOK_LIVE_INTAKE_DIR is not set")
        return cls(
            intake_dir=str(settings.live.intake_dir),
            landing_dir=str(settings.landing_dir),
            settle_seconds=settings.live.settle_seconds,
            max_window_age_minutes=settings.live.max_window_age_minutes,
        )

    @property
    def intake(self) -> LiveIntake:
        return LiveIntake(
            Path(self.intake_dir),
            Path(self.landing_dir),
            self.settle_seconds,
            timedelta(minutes=self.max_window_age_minutes),
        )


def live_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """``live_intake`` when the intake is configured, else nothing (the default deployment has no LIVE resource)."""
    return {"live_intake": LiveIntakeResource.from_settings(settings)} if settings.live.enabled else {}
