"""How long what the pipeline holds is kept: window rows, landing files, call log rows, quarantined records, and a
DuckLake's snapshots (``TIKTOK_*``). The rules that apply them are in ``tiktok_pipeline/governance/``."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_RETENTION_DAYS = 2
"""Whole days of window rows retention always keeps besides today: velocity reads up to 24 h + 30 min
back, the quality checks and the polling state one day back."""


class RetentionSettings(BaseSettings):
    """How long window rows, landing files, call log rows, quarantined records and lake snapshots are kept."""

    model_config = SettingsConfigDict(env_prefix="TIKTOK_", extra="ignore", frozen=True)

    retention_days: int = Field(
        default=35,
        ge=MIN_RETENTION_DAYS,
        description=(
            "Window rows are kept for today and this many whole days before it (UTC); older days are deleted"
            " once their daily rollups hold them. At least 2: velocity and the quality checks read the previous 24 h."
        ),
    )
    landing_retention_days: int = Field(
        default=45,
        ge=MIN_RETENTION_DAYS,
        description=(
            "Landing files (raw answers) are kept for today and this many whole days before it; older ones are deleted"
            " once their window was parsed and its day's window rows are gone. At least TIKTOK_RETENTION_DAYS: a"
            " pruned window stays re-parseable."
        ),
    )
    call_log_retention_days: int = Field(
        default=90,
        ge=1,
        description="api_call_log rows are kept for today and this many whole days before it (by called_at).",
    )
    quarantine_retention_days: int = Field(
        default=90,
        ge=1,
        description=(
            "Rows of the quarantine tables (display_api_quarantine, ad_report_quarantine, conversion_quarantine) are"
            " kept for today and this many whole days before it (by window_start)."
        ),
    )
    lake_snapshot_days: int = Field(
        default=7,
        ge=1,
        description=(
            "DuckLake only: snapshots (time travel, AT (VERSION => n)) are kept this many days; the retention job"
            " expires older ones and deletes the Parquet files only they read, after merging small files."
        ),
    )

    @model_validator(mode="after")
    def _landing_outlives_window_rows(self) -> RetentionSettings:
        check_landing_outlives_windows(self.landing_retention_days, self.retention_days)
        return self


def check_landing_outlives_windows(landing_days: int, window_days: int) -> None:
    """ValueError naming both variables when landing files would be deleted before the window rows parsed from them."""
    if landing_days < window_days:
        raise ValueError(
            f"TIKTOK_LANDING_RETENTION_DAYS={landing_days} is shorter than TIKTOK_RETENTION_DAYS={window_days}: landing"
            " files must outlive the window rows parsed from them (a pruned window is restored by re-parsing its"
            " file); raise TIKTOK_LANDING_RETENTION_DAYS or lower TIKTOK_RETENTION_DAYS"
        )
