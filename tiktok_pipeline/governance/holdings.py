"""Retention of what the pipeline holds besides window rows: landing files, ``api_call_log`` rows and quarantined
records (plain functions; the job is ``tiktok_pipeline/defs/retention/jobs.py``).

- **Rows by age** (:data:`~tiktok_pipeline.governance.held_tables.HELD_TABLES`): rows dated before the cutoff
  (midnight UTC, today minus the table's days) are deleted, each table in ONE transaction (counted inside it).
- **Landing files**: a day folder ``<source>/<YYYY-MM-DD>`` older than ``TIKTOK_LANDING_RETENTION_DAYS`` loses its
  files one by one, each only when nothing still needs it (:meth:`LandingEvidence.needed`): its window was parsed
  (the asset that parses the source has a materialisation of the window's partition), no queued or running run
  covers the window, and, for the Display API, its day's window rows are gone (rolled up and pruned: the file is
  what makes pruning reversible, so it outlives them; ``TIKTOK_LANDING_RETENTION_DAYS`` below
  ``TIKTOK_RETENTION_DAYS`` is refused). Files a run wrote in the last day are kept whatever their folder, and the
  emptied folder is removed. The polling sensor follows a failed window for at most two hours
  (``MAX_FOLLOWED_WINDOWS``), far inside the at least two days kept, so a pending retry never loses its file.

Crash safety: each table's delete is one transaction, each file's removal one ``unlink`` (atomic), and nothing is
remembered between runs: a run killed halfway leaves every row and file either there whole or gone, and the next
run deletes what is left (and reports only what it deleted itself).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from tiktok_pipeline.governance.held_tables import HELD_TABLES
from tiktok_pipeline.governance.retention import retention_cutoff
from tiktok_pipeline.ingest.collect.adgroups import LANDING_SOURCE as ADGROUP_LANDING_SOURCE
from tiktok_pipeline.ingest.collect.ads import DAYS_LANDING_SOURCE
from tiktok_pipeline.ingest.collect.ads import LANDING_SOURCE as ADS_LANDING_SOURCE
from tiktok_pipeline.ingest.land import LANDING_SOURCE as DISPLAY_LANDING_SOURCE
from tiktok_pipeline.settings.retention import check_landing_outlives_windows
from tiktok_pipeline.warehouse.io import table_exists, write_transaction
from tiktok_pipeline.warehouse.tables import PACING_RECOMMENDATIONS, RAW_AD_METRICS, RAW_VIDEO_SNAPSHOTS
from tiktok_pipeline.windows import utc_naive, window_key

LANDED_BY: dict[str, str] = {
    DISPLAY_LANDING_SOURCE: RAW_VIDEO_SNAPSHOTS.name,
    ADS_LANDING_SOURCE: RAW_AD_METRICS.name,
    DAYS_LANDING_SOURCE: RAW_AD_METRICS.name,
    ADGROUP_LANDING_SOURCE: PACING_RECOMMENDATIONS.name,  # the budgets a pacing run read
    "analytics_provider": "provider_video_snapshots",  # the provider's answers (ingest/provider_snapshots.py)
}
"""Each landing source (folder under TIKTOK_LANDING_DIR) and the asset that parses its files. A folder of a source
not listed here is never deleted (reported with the reason): declare its parser here first."""

RECENT = timedelta(days=1)
"""A landing file modified less than this long ago is kept whatever its day: a run may be writing or reading it."""

DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
WINDOW_FILE = re.compile(r"^(\d{2})(\d{2})\.jsonl\.gz$")


# --- rows by age -----------------------------------------------------------------------------


def prune_held_rows(
    connection: duckdb.DuckDBPyConnection, *, now: datetime, days: Mapping[str, int], dry_run: bool = False
) -> dict[str, int]:
    """Rows deleted (or, with ``dry_run``, that would be) per table of HELD_TABLES; ``days``: RetentionSettings field
    → days kept. Each table in one transaction."""
    deleted: dict[str, int] = {}
    for held in HELD_TABLES.values():
        if not table_exists(connection, held.name):
            continue
        cutoff = utc_naive(retention_cutoff(now, days[held.field]))
        where = f'"{held.column}" < ?'

        def prune(connection: duckdb.DuckDBPyConnection, table: str = held.name, where: str = where) -> int:
            (count,) = connection.execute(f'SELECT count(*) FROM "{table}" WHERE {where}', [cutoff]).fetchone()  # type: ignore[misc]
            if count and not dry_run:
                connection.execute(f'DELETE FROM "{table}" WHERE {where}', [cutoff]).fetchall()
            return int(count)

        deleted[held.name] = prune(connection) if dry_run else write_transaction(connection, prune)
    return deleted


# --- landing files ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LandingDay:
    """One day folder of one landing source."""

    source: str
    """The source's folder relative to the landing root (``display_api``, ``business_api/report``)."""
    day: datetime
    path: Path


def landing_days(landing_dir: Path) -> list[LandingDay]:
    """Every ``<source>/<YYYY-MM-DD>`` folder under ``landing_dir`` (a source may be nested), sorted."""
    root = Path(landing_dir)
    found: list[LandingDay] = []
    for folder, subfolders, _ in os.walk(root):
        for name in list(subfolders):
            if DAY_FOLDER.match(name):
                subfolders.remove(name)  # a day folder holds files, not sources
                try:
                    day = datetime.strptime(name, "%Y-%m-%d").replace(tzinfo=UTC)
                except ValueError:
                    continue
                source = Path(folder).relative_to(root).as_posix()
                found.append(LandingDay(source, day, Path(folder) / name))
    return sorted(found, key=lambda d: (d.source, d.day))


@dataclass(frozen=True)
class LandingEvidence:
    """What decides whether an old landing file is still needed (read from the warehouse and Dagster)."""

    window_row_days: frozenset[str]
    """Days (``YYYY-MM-DD``) whose window rows the warehouse still holds."""
    parsed: Mapping[str, frozenset[str]]
    """Per asset of LANDED_BY: the window keys it has a materialisation of."""
    busy: frozenset[str] = frozenset()
    """Window keys a queued or running run covers."""

    def needed(self, source: str, window_start: datetime) -> str | None:
        """Why the landing file of ``source``'s window is still needed, or None when it may go."""
        asset = LANDED_BY.get(source)
        key = window_key(window_start)
        if asset is None:
            return f"no parser is declared for landing source {source} (LANDED_BY, governance/holdings.py)"
        if key in self.busy:
            return f"a run of window {key} is queued or in progress"
        if key not in self.parsed.get(asset, frozenset()):
            return f"window {key} was never parsed into {asset}: materialise that partition, or delete the file by hand"
        if asset in (RAW_VIDEO_SNAPSHOTS.name, "provider_video_snapshots") and key[:10] in self.window_row_days:
            return f"the window rows of {key[:10]} are still held (not rolled up and pruned): the file keeps them re-parseable"
        return None


@dataclass
class FolderOutcome:
    """What retention did to one landing day folder."""

    folder: str
    deleted: int = 0
    bytes_deleted: int = 0
    kept: int = 0
    reasons: list[str] = field(default_factory=list)

    def keep(self, reason: str) -> None:
        self.kept += 1
        if reason not in self.reasons and len(self.reasons) < 5:
            self.reasons.append(reason)


@dataclass
class LandingPrune:
    """One run's landing retention: the cutoff and each folder past it."""

    cutoff: datetime
    dry_run: bool
    folders: list[FolderOutcome] = field(default_factory=list)

    @property
    def files_deleted(self) -> int:
        return sum(f.deleted for f in self.folders)

    @property
    def bytes_deleted(self) -> int:
        return sum(f.bytes_deleted for f in self.folders)

    @property
    def files_kept(self) -> int:
        return sum(f.kept for f in self.folders)


def prune_landing(
    landing_dir: Path,
    *,
    now: datetime,
    landing_days_kept: int,
    window_days_kept: int,
    needed: Callable[[str, datetime], str | None],
    dry_run: bool = False,
    log: Callable[[str, str], None] = lambda level, message: None,
) -> LandingPrune:
    """Delete (unless ``dry_run``) the landing files of days before the cutoff that nothing still needs.

    ``needed(source, window_start)`` says why a window's file must stay (None: it may go); files that are no
    window's record (a writer's leftover ``.partial``, a file set aside as unreadable) go with their day. Refuses
    (ValueError naming both variables) a landing retention shorter than the window rows'.
    """
    check_landing_outlives_windows(landing_days_kept, window_days_kept)
    run = LandingPrune(retention_cutoff(now, landing_days_kept), dry_run)
    for day in landing_days(landing_dir):
        if day.day >= run.cutoff:
            continue
        outcome = FolderOutcome(f"{day.source}/{day.day:%Y-%m-%d}")
        for path in sorted(day.path.iterdir()):
            if not path.is_file():
                outcome.keep(f"{path.name} is not a file")
                continue
            stat = path.stat()
            match = WINDOW_FILE.match(path.name)
            reason = needed(day.source, day.day.replace(hour=int(match[1]), minute=int(match[2]))) if match else None
            if now - datetime.fromtimestamp(stat.st_mtime, UTC) < RECENT:
                reason = "written less than a day ago (a run may be using it)"
            if reason:
                outcome.keep(reason)
                continue
            if not dry_run:
                path.unlink(missing_ok=True)
            outcome.deleted += 1
            outcome.bytes_deleted += stat.st_size
        if not dry_run and not outcome.kept:
            with contextlib.suppress(OSError):  # a writer put a file there meanwhile: the next run looks again
                day.path.rmdir()
        run.folders.append(outcome)
        verb = "would delete" if dry_run else "deleted"
        kept = f", kept {outcome.kept}: {'; '.join(outcome.reasons)}" if outcome.kept else ""
        log("warning" if outcome.kept else "info", f"landing {outcome.folder}: {verb} {outcome.deleted} files{kept}")
    return run
