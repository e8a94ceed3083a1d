"""When the ads of a window are fetched: once per closed window, after its video metrics, or after a wait."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tiktok_pipeline.windows import WINDOW, window_from_key, window_key


@dataclass(frozen=True)
class AdWindowDecision:
    """The window whose ads to fetch now (``key``), or why none (``reason``)."""

    key: str | None
    reason: str = ""
    videos_ready: bool = False
    attribution_days: bool = False
    """The run also re-fetches the attribution days: the first window requested on its (UTC) day."""


def decide_ad_window(
    latest: datetime,
    now: datetime,
    *,
    last_requested: str | None,
    partitions_start: datetime,
    wait_for_videos: timedelta,
    videos_ready: Callable[[str], bool],
) -> AdWindowDecision:
    """Fetch the ads of ``latest`` (the last closed window) unless already requested, as soon as
    ``videos_ready(key)`` or once ``wait_for_videos`` has passed since it closed.

    Only the latest window is ever fetched: each fetch's lookback re-fetches the hours of windows
    skipped while nobody was asking (daemon down). The first window requested on a UTC day (or the first
    ever) also re-fetches the attribution days, so they are re-read once a day even when the daemon was
    down over midnight.
    """
    if latest < partitions_start:
        return AdWindowDecision(None, f"window {window_key(latest)} is before TIKTOK_PARTITIONS_START")
    if last_requested and window_from_key(last_requested) >= latest:
        return AdWindowDecision(None, f"ads of window {last_requested} already requested")
    key = window_key(latest)
    ready = videos_ready(key)
    waited = now - (latest + WINDOW)
    if not ready and waited < wait_for_videos:
        return AdWindowDecision(
            None, f"waiting for enriched_video_metrics of {key} ({waited.total_seconds():.0f}s so far)"
        )
    first_of_day = not last_requested or window_from_key(last_requested).date() != latest.date()
    return AdWindowDecision(key, videos_ready=ready, attribution_days=first_of_day)
