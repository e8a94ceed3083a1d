"""Five-minute windows: the partitioning every table shares.

Keys look like ``2026-11-24-13:05`` (UTC) and name the window's start; the window is
``[start, start + 5 min)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg

WINDOW = timedelta(minutes=5)
PARTITION_KEY_FORMAT = "%Y-%m-%d-%H:%M"


def five_minute_partitions(start: datetime) -> dg.TimeWindowPartitionsDefinition:
    """The 5-minute, UTC partitions definition starting at ``start``."""
    return dg.TimeWindowPartitionsDefinition(
        start=start.astimezone(UTC).strftime(PARTITION_KEY_FORMAT),
        fmt=PARTITION_KEY_FORMAT,
        cron_schedule="*/5 * * * *",
        timezone="UTC",
    )


def window_starts(start: datetime, end: datetime) -> Iterator[datetime]:
    """The starts of every 5-minute window in ``[start, end)``."""
    if start.astimezone(UTC).minute % 5 or start.second or start.microsecond:
        raise ValueError(f"{start.isoformat()} is not on a 5-minute boundary")
    current = start
    while current < end:
        yield current
        current += WINDOW


def window_key(window_start: datetime) -> str:
    """The partition key of the window that starts at ``window_start``."""
    return window_start.astimezone(UTC).strftime(PARTITION_KEY_FORMAT)


def window_from_key(key: str) -> datetime:
    """The UTC start of the window named by a partition key."""
    try:
        return datetime.strptime(key, PARTITION_KEY_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"partition key {key!r} is not of the form YYYY-MM-DD-HH:MM") from exc


def utc_naive(moment: datetime) -> datetime:
    """``moment`` in UTC without tzinfo: how timestamps are stored in DuckDB ``TIMESTAMP`` columns."""
    return moment.astimezone(UTC).replace(tzinfo=None)


RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
"""Run tags of a run over a range of windows (one run for many partitions)."""


def latest_closed_window(moment: datetime) -> datetime:
    """Start of the last 5-minute window that had closed at ``moment``."""
    moment = moment.astimezone(UTC)
    floored = moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)
    return floored - WINDOW
