"""The LIVE events intake (``TIKTOK_LIVE_*``): an unofficial, opt-in source, off unless its folder is set."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LIVE_INTAKE_SWITCH = "TIKTOK_LIVE_INTAKE_DIR"
"""The setting that turns the LIVE intake on (the ``switch`` of the ``live_events`` source declaration)."""


class LiveSettings(BaseSettings):
    """Where a user drops LIVE events they collected on their own responsibility, and how they are taken."""

    model_config = SettingsConfigDict(env_prefix="TIKTOK_LIVE_", extra="ignore", frozen=True)

    intake_dir: Path | None = Field(
        default=None,
        description=(
            "Folder of LIVE event JSON lines (*.jsonl) collected by the user with an unofficial connector. Unset:"
            " the intake is off and nothing LIVE is loaded. Set: the unofficial source live_events must have a"
            " current risk acceptance (TIKTOK_RISK_ACCEPTANCES_PATH) or the definitions refuse to load."
        ),
    )
    settle_seconds: float = Field(
        default=300.0,
        ge=0,
        description=(
            "A file not modified for this long is finished: a last line without newline is taken too. Younger,"
            " only whole lines (ending in a newline) are taken; the rest waits for a later window."
        ),
    )
    max_window_age_minutes: float = Field(
        default=15.0,
        gt=0,
        description="A window takes new lines only until this long after it closed; older windows not taken stay empty.",
    )
    viewer_alert_threshold: int | None = Field(
        default=None,
        ge=1,
        description="Peak viewers of a stream in a window that raises an alert (labelled unofficial). Unset: none.",
    )

    @property
    def enabled(self) -> bool:
        """Whether the intake is configured (its folder is set)."""
        return self.intake_dir is not None

    def switched_on(self) -> frozenset[str]:
        """The source switches these settings turn on."""
        return frozenset({LIVE_INTAKE_SWITCH}) if self.enabled else frozenset()
