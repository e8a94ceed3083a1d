"""Raw snapshots of a range of windows: land each window (or re-read its landing file) once, parse it once.

Everything the raw snapshot assets need comes out of :func:`observe_windows` as per-window figures, so
a run over many windows reports each window's own numbers (see :mod:`tiktok_pipeline.governance.window_figures`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from tiktok_pipeline.governance.telemetry import RunTiming, stamp_warehouse_waits, window_telemetry
from tiktok_pipeline.ingest.land import DisplayCollection, LandedWindow, land_window
from tiktok_pipeline.ingest.parse.display import DISPLAY_SOURCE, Parsed, parse_landed
from tiktok_pipeline.sources.http.calllog import CallBuffer, call_context
from tiktok_pipeline.warehouse.call_log import append_calls
from tiktok_pipeline.warehouse.io import Write, prepare_window_writes, write_transaction
from tiktok_pipeline.warehouse.quarantine import adopt_legacy_rows
from tiktok_pipeline.warehouse.tables import (
    DISPLAY_API_QUARANTINE,
    POLL_TELEMETRY,
    RAW_CREATOR_SNAPSHOTS,
    RAW_VIDEO_SNAPSHOTS,
)
from tiktok_pipeline.warehouse.waits import WaitMeter
from tiktok_pipeline.windows import window_key, window_starts

QUARANTINE_ASSET = "raw_video_snapshots"
"""The ``asset`` column of the video side's quarantined records: the table they are missing from."""


class NothingTrackedError(ValueError):
    """The tracking registry lists no creator: a run would succeed with 0 rows and say nothing."""


class NothingObservedError(RuntimeError):
    """A window was collected but no observation landed: every creator failed."""


def require_tracked(usernames: list[str], registry_path: str | Path) -> list[str]:
    """``usernames``, or an error naming the registry file and TIKTOK_REGISTRY_PATH when it is empty."""
    if not usernames:
        raise NothingTrackedError(
            f"the tracking registry {registry_path} lists no creators, so there is nothing to poll: add creators "
            "to it (or point TIKTOK_REGISTRY_PATH at the right file) and re-materialise these windows"
        )
    return usernames


@dataclass
class ObservedWindow:
    """One window's landing file, parsed rows and telemetry."""

    landed: LandedWindow
    parsed: Parsed
    telemetry: dict[str, Any]

    @property
    def key(self) -> str:
        return window_key(self.landed.window_start)

    @property
    def failures(self) -> dict[str, str]:
        """Creator → why its calls failed: from the collection, or (for a re-parsed file) from its failed records."""
        if self.landed.failures:
            return dict(self.landed.failures)
        return {str(r.get("username")): str(r["error"]) for r in self.landed.records if r.get("error")}

    @property
    def observed_nothing(self) -> bool:
        """Calls were made but not one video or creator observation came back."""
        return self.parsed.videos.is_empty() and self.parsed.creators.is_empty() and bool(self.failures)


@dataclass
class ObservedRange:
    """Every window of a run, in order."""

    windows: list[ObservedWindow]
    landing_dir: Path

    @property
    def videos(self) -> pl.DataFrame:
        return pl.concat([w.parsed.videos for w in self.windows])

    @property
    def creators(self) -> pl.DataFrame:
        return pl.concat([w.parsed.creators for w in self.windows])

    @property
    def quarantine(self) -> pl.DataFrame:
        return pl.concat([w.parsed.quarantine for w in self.windows])

    @property
    def telemetry(self) -> pl.DataFrame:
        return POLL_TELEMETRY.conform(pl.DataFrame([w.telemetry for w in self.windows], infer_schema_length=None))

    def landing_file(self, window: ObservedWindow) -> str:
        return window.landed.path.relative_to(self.landing_dir).as_posix()

    def raise_if_nothing_observed(self) -> None:
        """Fail loudly, with each creator's reason, for windows in which every call failed."""
        empty = [w for w in self.windows if w.observed_nothing]
        if not empty:
            return
        lines = [
            f"{w.key}: " + "; ".join(f"{user}: {why}" for user, why in list(w.failures.items())[:5]) for w in empty[:10]
        ]
        raise NothingObservedError(
            f"no observation landed in {len(empty)} of {len(self.windows)} windows: every creator failed\n"
            + "\n".join(lines)
        )


def observe_windows(
    how: DisplayCollection,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    gap_windows_before: int = 0,
    run: RunTiming | None = None,
) -> ObservedRange:
    """Land (or re-read) and parse every window in ``[start, end)``; each window exactly once. ``run``: when the run
    doing it was requested and started, for the freshness breakdown of the windows it collects."""
    windows = []
    for window_start in window_starts(start, end):
        with call_context(window_start=window_start):
            landed = land_window(how, window_start, now=now)
        parsed = parse_landed(
            landed.records, landed.path.relative_to(how.landing_dir).as_posix(), asset=QUARANTINE_ASSET
        )
        telemetry = window_telemetry(
            window_start,
            landed.records,
            landed_at=landed.landed_at,
            videos_polled=parsed.videos.height,
            plan=how.plan,
            gap_windows_before=gap_windows_before,
            run=run,
            collected=landed.collected,
        )
        windows.append(ObservedWindow(landed, parsed, telemetry))
    return ObservedRange(windows, how.landing_dir)


RAW_TABLES = {
    "raw_video_snapshots": RAW_VIDEO_SNAPSHOTS,
    "raw_creator_snapshots": RAW_CREATOR_SNAPSHOTS,
    "display_api_quarantine": DISPLAY_API_QUARANTINE,
    "poll_telemetry": POLL_TELEMETRY,
}
"""The tables the raw snapshots step writes, by asset key: it is the only writer of each (but for poll_telemetry's
``warehouse_wait_seconds``, which the enriched/velocity step completes with its own wait)."""


def write_raw_snapshots(
    connection: duckdb.DuckDBPyConnection,
    start: datetime,
    end: datetime,
    observed: ObservedRange,
    selected: set[str],
    calls: CallBuffer | None = None,
    waited: WaitMeter | None = None,
) -> None:
    """Replace the windows of the ``selected`` tables (asset keys of :data:`RAW_TABLES`) and append the step's
    ``calls`` to api_call_log, in one transaction; poll_telemetry's rows get the step's wait for the warehouse so
    far (``waited``: the meter its connection was opened under)."""
    frames = {
        "raw_video_snapshots": observed.videos,
        "raw_creator_snapshots": observed.creators,
        "display_api_quarantine": observed.quarantine,
        "poll_telemetry": observed.telemetry,
    }
    if "display_api_quarantine" in selected:
        adopt_legacy_rows(connection, DISPLAY_API_QUARANTINE, QUARANTINE_ASSET)
    own = {"source": DISPLAY_SOURCE}  # the analytics provider's rows of the windows stay
    scopes = {"raw_video_snapshots": own, "raw_creator_snapshots": own}
    replace = prepare_window_writes(
        start,
        end,
        *(Write(spec, frames[name], scopes.get(name, {})) for name, spec in RAW_TABLES.items() if name in selected),
    )

    def body(con: duckdb.DuckDBPyConnection) -> None:
        replace(con)
        if (
            waited is not None and "poll_telemetry" in selected
        ):  # read now: a re-run after a conflict counts its backoff
            stamp_warehouse_waits(con, start, end, waited.seconds, raw=True)
        append_calls(con, calls or CallBuffer())

    write_transaction(connection, body)
