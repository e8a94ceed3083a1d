"""The analytics provider's windows: land each window's answers (the one landing path, :func:`..land.land`), parse
them, and write the provider's rows of ``raw_video_snapshots`` and ``raw_creator_snapshots`` with its quarantine and
call log in one transaction.

The provider's rows share those tables with the Display API's, told apart by ``source``; each writer replaces only
its own source's rows of a window, so the two never remove each other's observations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from tiktok_pipeline.ingest.collect.provider import collect_provider_window
from tiktok_pipeline.ingest.land import Collected, LandedWindow, land, observation_instant
from tiktok_pipeline.ingest.parse.provider import PROVIDER_SOURCE, QUARANTINE_ASSET, parse_provider
from tiktok_pipeline.sources.analytics_provider.client import ProviderClient
from tiktok_pipeline.sources.http.calllog import CallBuffer, call_context
from tiktok_pipeline.warehouse.call_log import append_calls
from tiktok_pipeline.warehouse.io import Write, prepare_window_writes, write_transaction
from tiktok_pipeline.warehouse.quarantine import adopt_legacy_rows
from tiktok_pipeline.warehouse.tables import ANALYTICS_PROVIDER_QUARANTINE, RAW_CREATOR_SNAPSHOTS, RAW_VIDEO_SNAPSHOTS
from tiktok_pipeline.windows import WINDOW, utc_naive, window_key, window_starts

LANDING_SOURCE = PROVIDER_SOURCE
"""The landing zone folder of the provider's answers (``<landing_dir>/analytics_provider/<day>/<HHMM>.jsonl.gz``)."""


@dataclass(frozen=True)
class ProviderCollection:
    """How provider windows are collected: with which client, where they land, when observed, how many pages."""

    client: ProviderClient
    landing_dir: Path
    observe_at_window_end: bool
    max_age: timedelta
    page_size: int
    max_pages: int
    refresh_minutes: float
    recollect: bool = False


@dataclass
class ProviderWindow:
    """One window's landing file and parsed rows."""

    landed: LandedWindow
    videos: pl.DataFrame
    quarantine: pl.DataFrame
    failed_calls: int
    refresh_minutes: float
    creators: pl.DataFrame

    @property
    def key(self) -> str:
        return window_key(self.landed.window_start)

    @property
    def figures(self) -> dict[str, Any]:
        """The window's figures: rows, creators, quarantined, failed calls and the staleness of the provider's data
        (fetch instant − updated_at, in minutes), with the share older than the assumed refresh interval."""
        fetched = utc_naive(self.landed.window_start) + WINDOW
        age = (
            (pl.lit(fetched) - self.videos["observed_at"]).dt.total_seconds() / 60.0
            if not self.videos.is_empty()
            else None
        )
        ages = self.videos.select(age.alias("age"))["age"] if age is not None else pl.Series("age", [], pl.Float64)
        figures: dict[str, Any] = {
            "rows": self.videos.height,
            "creators": self.videos["creator_username"].n_unique() if not self.videos.is_empty() else 0,
            "creator_rows": self.creators.height,
            "quarantined": self.quarantine.height,
            "failed_calls": self.failed_calls,
        }
        if ages.len():
            figures |= {
                "staleness_p50_minutes": round(float(ages.quantile(0.5) or 0.0), 2),
                "staleness_max_minutes": round(float(ages.max() or 0.0), 2),  # type: ignore[arg-type]
                "stale_share": round(float((ages > self.refresh_minutes).mean() or 0.0), 4),  # type: ignore[arg-type]
            }
        return figures


def observe_provider_windows(
    how: ProviderCollection, start: datetime, end: datetime, *, now: datetime
) -> list[ProviderWindow]:
    """Land (or re-read) and parse every window in ``[start, end)``, each once."""
    windows = []
    for window_start in window_starts(start, end):

        def observe(begin: datetime) -> datetime:
            return observation_instant(begin, now, at_window_end=how.observe_at_window_end, max_age=how.max_age)

        def collect(observed_at: datetime, window_start: datetime = window_start) -> Collected:
            return collect_provider_window(
                how.client, window_start, observed_at, page_size=how.page_size, max_pages=how.max_pages
            )

        with call_context(window_start=window_start):
            landed = land(
                how.landing_dir, LANDING_SOURCE, window_start, observe=observe, collect=collect, recollect=how.recollect
            )
        parsed = parse_provider(landed.records, landed.path.relative_to(how.landing_dir).as_posix())
        windows.append(
            ProviderWindow(
                landed, parsed.videos, parsed.quarantine, parsed.failed_calls, how.refresh_minutes, parsed.creators
            )
        )
    return windows


def write_provider_snapshots(
    connection: duckdb.DuckDBPyConnection,
    start: datetime,
    end: datetime,
    windows: list[ProviderWindow],
    calls: CallBuffer | None = None,
) -> None:
    """Replace the provider's rows of ``raw_video_snapshots`` and ``raw_creator_snapshots`` and its quarantine for
    ``[start, end)`` and append the step's calls to api_call_log, in ONE transaction; the Display API's rows of the
    windows are left as they are."""
    adopt_legacy_rows(connection, ANALYTICS_PROVIDER_QUARANTINE, QUARANTINE_ASSET)

    def concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
        return pl.concat(frames, how="vertical_relaxed")

    replace = prepare_window_writes(
        start,
        end,
        Write(
            RAW_VIDEO_SNAPSHOTS,
            concat([w.videos for w in windows]) if windows else RAW_VIDEO_SNAPSHOTS.empty(),
            {"source": PROVIDER_SOURCE},
        ),
        Write(
            RAW_CREATOR_SNAPSHOTS,
            concat([w.creators for w in windows]) if windows else RAW_CREATOR_SNAPSHOTS.empty(),
            {"source": PROVIDER_SOURCE},
        ),
        Write(
            ANALYTICS_PROVIDER_QUARANTINE,
            concat([w.quarantine for w in windows]) if windows else ANALYTICS_PROVIDER_QUARANTINE.empty(),
        ),
    )

    def body(con: duckdb.DuckDBPyConnection) -> None:
        replace(con)
        append_calls(con, calls or CallBuffer())

    write_transaction(connection, body)
