"""Five-minute windows: the partitioning every table shares, and all arithmetic on windows.

Keys look like ``2026-11-24-13:05`` (UTC) and name the window's start; the window is
``[start, start + 5 min)``. Pure standard library: settings, parsers and SQL builders use it too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

WINDOW_MINUTES = 5
WINDOW = timedelta(minutes=WINDOW_MINUTES)
PARTITION_KEY_FORMAT = "%Y-%m-%d-%H:%M"


def window_starts(start: datetime, end: datetime) -> Iterator[datetime]:
    """The starts of every 5-minute window in ``[start, end)``."""
    if not on_boundary(start):
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


def on_boundary(moment: datetime) -> bool:
    """Whether ``moment`` is the start of a window."""
    return window_containing(moment) == moment.astimezone(UTC)


def window_containing(moment: datetime) -> datetime:
    """Start (UTC) of the window that contains ``moment``."""
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % WINDOW_MINUTES, second=0, microsecond=0)


def window_end(window_start: datetime) -> datetime:
    """The instant a window closes (exclusive end); keeps ``window_start``'s tzinfo (or its absence)."""
    return window_start + WINDOW


def latest_closed_window(moment: datetime) -> datetime:
    """Start of the last window that had closed at ``moment``."""
    return window_containing(moment) - WINDOW


def sql_window_end(column: str = "window_start") -> str:
    """The DuckDB expression of a window's end, for SQL over a ``window_start`` column."""
    return f"({column} + INTERVAL {WINDOW_MINUTES} MINUTE)"


DAY = timedelta(days=1)


def first_whole_day(windows_start: datetime) -> datetime:
    """``TIKTOK_PARTITIONS_START``'s day when it starts at midnight (UTC), else the next day."""
    start = windows_start.astimezone(UTC)
    first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    return first if first == start else first + DAY


RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
"""Run tags of a run over a range of windows (one run for many partitions)."""
