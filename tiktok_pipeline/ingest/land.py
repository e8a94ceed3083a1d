"""Observing a window: decide when it may be observed, collect and land it, or re-read its landing file.

:func:`land` is the one landing path of every source: a source supplies its landing source name, the
instant a window is observed at and its collect function. :func:`land_window` is the Display API's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tiktok_pipeline.ingest.collect.display import collect_window
from tiktok_pipeline.ingest.landing import UnreadableLandingError, landing_path, read_landing, write_landing
from tiktok_pipeline.ingest.polling.plan import WindowPlan
from tiktok_pipeline.ingest.schemas import stamp
from tiktok_pipeline.sources.display_api.client import DisplayApiClient
from tiktok_pipeline.windows import WINDOW, window_key

LANDING_SOURCE = "display_api"


class WindowNotObservableError(RuntimeError):
    """A window cannot be observed now without storing counts that belong to another moment."""


def observation_instant(window_start: datetime, now: datetime, *, at_window_end: bool, max_age: timedelta) -> datetime:
    """The instant a window's counts are observed at.

    ``at_window_end`` (a simulator, which answers for any instant): the window's end, so a backfill
    builds a consistent history. Otherwise (TikTok): now, which must be at most ``max_age`` after the
    window's end, because the API only ever answers with present-day counts.
    """
    end = window_start + WINDOW
    key = window_key(window_start)
    if end > now:
        raise WindowNotObservableError(
            f"window {key} closes at {end:%H:%M} UTC; it cannot be observed before it has closed"
        )
    if at_window_end:
        return end
    if now - end > max_age:
        raise WindowNotObservableError(
            f"window {key} closed {now - end} ago, longer than TIKTOK_MAX_WINDOW_AGE_MINUTES"
            f" ({max_age}). TikTok only serves present-day counts: observing it now would store today's"
            " numbers under an old window. Windows that were landed on time are re-parsed from data/landing;"
            " this one was not, so it stays a gap."
        )
    return now


@dataclass
class LandedWindow:
    """A window's landed responses and how they were obtained."""

    window_start: datetime
    path: Path
    records: list[dict[str, Any]]
    collected: bool
    failures: dict[str, str] = field(default_factory=dict)
    deferred: dict[str, str] = field(default_factory=dict)
    reauthorise: dict[str, str] = field(default_factory=dict)
    """Creators who must authorise the app again (TikTok's code), among ``failures``."""

    @property
    def landed_at(self) -> datetime:
        """When the landing file was written (its modification time)."""
        return datetime.fromtimestamp(self.path.stat().st_mtime, UTC)


@dataclass
class Collected:
    """What a source's collect function produced for one window: its landing records, and what failed or waited."""

    records: list[dict[str, Any]]
    failures: dict[str, str] = field(default_factory=dict)
    deferred: dict[str, str] = field(default_factory=dict)
    reauthorise: dict[str, str] = field(default_factory=dict)


def land(
    landing_dir: Path,
    source: str,
    window_start: datetime,
    *,
    observe: Callable[[datetime], datetime],
    collect: Callable[[datetime], Collected],
    recollect: bool = False,
) -> LandedWindow:
    """A window's responses from ``source``, landed durably before anyone parses them.

    ``observe(window_start)`` is the instant the window is observed at (it raises
    :class:`WindowNotObservableError` when the window cannot be observed now); ``collect(observed_at)``
    makes the calls, whose records are landed with their answer's schema version (:mod:`.schemas`). An existing
    landing file is re-read rather than collected again, unless ``recollect`` is set or the file holds failed
    calls and the window can still be observed (then it is collected afresh).
    """
    path = landing_path(landing_dir, source, window_start)
    if path.exists() and not recollect:
        try:
            landed = read_landing(path)
        except UnreadableLandingError as exc:
            # never the window's record: kept aside for inspection, collected afresh while still observable
            aside = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
            os.replace(path, aside)
            if not _observable(observe, window_start):
                raise WindowNotObservableError(
                    f"{exc}; it was moved to {aside.name}, and window {window_key(window_start)} can no longer be"
                    " observed, so it stays a gap"
                ) from exc
        else:
            complete = not any(record.get("error") for record in landed)
            if complete or not _observable(observe, window_start):
                return LandedWindow(window_start, path, landed, collected=False)
    collection = collect(observe(window_start))
    records = stamp(source, collection.records)  # each record says which answer schema it holds (ingest/schemas.py)
    write_landing(path, records)
    return LandedWindow(
        window_start,
        path,
        records,
        collected=True,
        failures=collection.failures,
        deferred=collection.deferred,
        reauthorise=collection.reauthorise,
    )


@dataclass(frozen=True)
class DisplayCollection:
    """How Display API windows are collected: whose videos, where they land, how far back, when observed.

    ``observe_at_window_end``: see :func:`observation_instant` (given by the resource: simulator or not);
    ``recollect``: call the API again even when a window is landed; ``plan``: the polling sensor's plan
    (None: every creator is discovered).
    """

    client: DisplayApiClient
    usernames: list[str]
    landing_dir: Path
    horizon: timedelta
    max_age: timedelta
    observe_at_window_end: bool
    recollect: bool = False
    plan: WindowPlan | None = None


def land_window(how: DisplayCollection, window_start: datetime, *, now: datetime) -> LandedWindow:
    """Responses for one window, landed durably before anyone parses them.

    An existing landing file is re-read rather than collected again, unless ``recollect`` is set or
    the file holds failed calls and the window can still be observed (then it is collected afresh).
    """

    def observe(start: datetime) -> datetime:
        return observation_instant(start, now, at_window_end=how.observe_at_window_end, max_age=how.max_age)

    def collect(observed_at: datetime) -> Collected:
        collection = collect_window(how.client, how.usernames, window_start, observed_at, how.horizon, how.plan)
        return Collected(collection.records(), collection.failures, collection.deferred, collection.reauthorise)

    return land(
        how.landing_dir, LANDING_SOURCE, window_start, observe=observe, collect=collect, recollect=how.recollect
    )


def _observable(observe: Callable[[datetime], datetime], window_start: datetime) -> bool:
    try:
        observe(window_start)
    except WindowNotObservableError:
        return False
    return True
