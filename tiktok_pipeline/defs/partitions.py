"""The partitions every window asset shares, from ``TIKTOK_PARTITIONS_START`` (read once, at load)."""

from datetime import UTC, datetime

import dagster as dg

from tiktok_pipeline.settings import load_settings
from tiktok_pipeline.windows import PARTITION_KEY_FORMAT, WINDOW_MINUTES


def five_minute_partitions(start: datetime) -> dg.TimeWindowPartitionsDefinition:
    """The 5-minute, UTC partitions definition starting at ``start``."""
    return dg.TimeWindowPartitionsDefinition(
        start=start.astimezone(UTC).strftime(PARTITION_KEY_FORMAT),
        fmt=PARTITION_KEY_FORMAT,
        cron_schedule=f"*/{WINDOW_MINUTES} * * * *",
        timezone="UTC",
    )


WINDOWS = five_minute_partitions(load_settings().partitions_start)
"""5-minute windows (keys ``YYYY-MM-DD-HH:MM``, UTC) from the configured start."""
