"""The retention domain's runtime configuration, instantiated from ``settings.retention`` in ``definitions.py``."""

from datetime import datetime

import dagster as dg
from pydantic import Field

from tiktok_pipeline.settings import Settings


class RetentionResource(dg.ConfigurableResource):
    """How long window rows, landing files, call log rows and quarantined records are kept, where the landing files
    are, and where the windows start."""

    retention_days: int = Field(description="Days of window rows kept (TIKTOK_RETENTION_DAYS).")
    landing_retention_days: int = Field(description="Days of landing files kept (TIKTOK_LANDING_RETENTION_DAYS).")
    call_log_retention_days: int = Field(description="Days of api_call_log rows kept (TIKTOK_CALL_LOG_RETENTION_DAYS).")
    quarantine_retention_days: int = Field(
        description="Days of quarantined records kept (TIKTOK_QUARANTINE_RETENTION_DAYS)."
    )
    landing_dir: str = Field(description="Landing zone root (TIKTOK_LANDING_DIR).")
    partitions_start: str = Field(description="ISO instant of TIKTOK_PARTITIONS_START, for the partition budget.")
    lake_snapshot_days: int = Field(
        default=7, description="Days of a DuckLake's snapshots kept (TIKTOK_LAKE_SNAPSHOT_DAYS)."
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> "RetentionResource":
        return cls(
            retention_days=settings.retention.retention_days,
            landing_retention_days=settings.retention.landing_retention_days,
            call_log_retention_days=settings.retention.call_log_retention_days,
            quarantine_retention_days=settings.retention.quarantine_retention_days,
            landing_dir=str(settings.landing_dir),
            partitions_start=settings.partitions_start.isoformat(),
            lake_snapshot_days=settings.retention.lake_snapshot_days,
        )

    @property
    def held_days(self) -> dict[str, int]:
        """RetentionSettings field → days kept, for the tables deleted by age (``HELD_TABLES``)."""
        return {
            "call_log_retention_days": self.call_log_retention_days,
            "quarantine_retention_days": self.quarantine_retention_days,
        }

    @property
    def windows_start(self) -> datetime:
        return datetime.fromisoformat(self.partitions_start)
