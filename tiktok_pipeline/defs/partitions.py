"""The partitions every window asset shares, from ``TIKTOK_PARTITIONS_START`` (read once, at load)."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from tiktok_pipeline.settings import load_settings
from tiktok_pipeline.windows import PARTITION_KEY_FORMAT, WINDOW_MINUTES, first_whole_day


def five_minute_partitions(start: datetime) -> dg.TimeWindowPartitionsDefinition:
    """The 5-minute, UTC partitions definition starting at ``start``."""
    return dg.TimeWindowPartitionsDefinition(
        start=start.astimezone(UTC).strftime(PARTITION_KEY_FORMAT),
        fmt=PARTITION_KEY_FORMAT,
        cron_schedule=f"*/{WINDOW_MINUTES} * * * *",
        timezone="UTC",
    )


def daily_partitions(windows_start: datetime) -> dg.DailyPartitionsDefinition:
    """Daily UTC partitions from the first whole day of 5-minute windows, so that a daily partition always
    maps onto 288 existing windows."""
    return dg.DailyPartitionsDefinition(start_date=first_whole_day(windows_start).strftime("%Y-%m-%d"), timezone="UTC")


_START = load_settings().partitions_start

WINDOWS = five_minute_partitions(_START)
"""5-minute windows (keys ``YYYY-MM-DD-HH:MM``, UTC) from the configured start."""

WINDOW_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(minutes=15), warn_window=timedelta(minutes=10))
"""Every window table: stale in the UI (warn) 10 minutes, failing 15 minutes after its last materialisation."""

DAYS = daily_partitions(_START)
"""Daily UTC partitions (keys ``YYYY-MM-DD``) from the first whole day of the windows: each maps onto 288 windows."""
