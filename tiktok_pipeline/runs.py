"""Run priorities: which queued run the daemon starts first (live windows before everything else).

Dagster's QueuedRunCoordinator (the embedded instance's default, and ``deploy/dagster.yaml``'s) starts queued runs
highest ``dagster/priority`` tag first; a run without the tag has priority 0. Only the polling sensor sets it:

- the live window's run: :data:`LIVE_WINDOW_PRIORITY`, so it never waits in the queue behind other runs;
- a retry of a failed window: :data:`RETRY_PRIORITY`, after the live window, before the rest;
- everything else (the warm-up range, backfills, ads, conversions, alerts, runs from the UI or a shell): 0.

The queue orders runs only until they start; a started run's steps then take turns on the warehouse lock. There, a
run with priority above 0 waits urgently (``WarehouseResource.connection``): before every other waiter.
"""

from __future__ import annotations

from collections.abc import Mapping

PRIORITY_TAG = "dagster/priority"
LIVE_WINDOW_PRIORITY = 10
"""The polling sensor's run of the window that just closed."""
RETRY_PRIORITY = 5
"""The polling sensor's retry of a window whose run failed."""


def priority_of(tags: Mapping[str, str]) -> int:
    """The priority the queue gives a run with ``tags`` (0 without a tag or with one that is not an integer)."""
    try:
        return int(tags.get(PRIORITY_TAG, "0"))
    except ValueError:
        return 0
