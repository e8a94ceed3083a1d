"""Retention of window rows, and the partition budget of the 5-minute windows (plain functions).

Policy (the Dagster side is ``tiktok_pipeline/defs/retention.py``):

- Window rows of ``raw_video_snapshots``, ``raw_creator_snapshots``, ``enriched_video_metrics`` and
  ``video_velocity`` are deleted a whole UTC day at a time, once the day ended more than
  ``TIKTOK_RETENTION_DAYS`` ago, and **only** when the day is rolled up: the daily rollups hold
  exactly the day's rows (their ``observations`` add up to the window tables' row counts, which
  agree with each other, source by source; of ``raw_video_snapshots`` only the rows enrichment keeps count, one
  source per window and video: :mod:`tiktok_pipeline.governance.coverage`) and were materialised after every
  window of the day (by any writer of the table: ``WRITTEN_BY``). A day that fails any of these is kept and
  reported with the reason.
- Never deleted: the daily rollups, ``poll_telemetry`` (one row per window) and ``alerts``.
- Deleted by age, not by these rules (:mod:`tiktok_pipeline.governance.holdings`): ``api_call_log`` and the
  quarantine tables (``HELD_TABLES``), and the landing files. The landing files are the durable raw record:
  re-materialising a pruned window re-parses its file without calling TikTok, so pruning the warehouse is
  reversible for as long as they are kept (``TIKTOK_LANDING_RETENTION_DAYS``, never shorter than
  ``TIKTOK_RETENTION_DAYS``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from tiktok_pipeline.governance.coverage import nonzero, per_source
from tiktok_pipeline.governance.held_tables import HELD_TABLES
from tiktok_pipeline.settings import RetentionSettings
from tiktok_pipeline.warehouse.io import table_exists, write_transaction
from tiktok_pipeline.warehouse.tables import (
    DAILY_CREATOR_METRICS,
    DAILY_VIDEO_METRICS,
    ENRICHED_VIDEO_METRICS,
    RAW_CREATOR_SNAPSHOTS,
    RAW_VIDEO_SNAPSHOTS,
    VIDEO_VELOCITY,
    Retention,
    TableSpec,
)
from tiktok_pipeline.windows import DAY, WINDOW, utc_naive

COVERED_BY: dict[str, tuple[str, ...]] = {
    DAILY_VIDEO_METRICS.name: (RAW_VIDEO_SNAPSHOTS.name, ENRICHED_VIDEO_METRICS.name, VIDEO_VELOCITY.name),
    DAILY_CREATOR_METRICS.name: (RAW_CREATOR_SNAPSHOTS.name,),
}
"""Each daily rollup and the window tables whose rows it summarises (they must agree row for row)."""

PRUNED_TABLES: tuple[str, ...] = tuple(table for tables in COVERED_BY.values() for table in tables)
"""The window tables retention deletes from."""

WRITTEN_BY: dict[str, tuple[str, ...]] = {
    RAW_VIDEO_SNAPSHOTS.name: (RAW_VIDEO_SNAPSHOTS.name, "provider_video_snapshots"),
    RAW_CREATOR_SNAPSHOTS.name: (RAW_CREATOR_SNAPSHOTS.name, "provider_video_snapshots"),
}
"""Window tables written by more than their own asset: the analytics provider's step (``provider_video_snapshots``)
writes its video rows into raw_video_snapshots and its creator rows into raw_creator_snapshots, so a re-run of it
after the day's rollup makes the rollup stale too. A table not listed is written by its own asset only."""

RETENTION_DAYS_DEFAULT: int = RetentionSettings.model_fields["retention_days"].default
"""TIKTOK_RETENTION_DAYS when unset (the setting's own default)."""
LAKE_SNAPSHOT_DAYS_DEFAULT: int = RetentionSettings.model_fields["lake_snapshot_days"].default
"""TIKTOK_LAKE_SNAPSHOT_DAYS when unset (the setting's own default)."""


class RetentionDeclarationError(ValueError):
    """A table's declared retention contradicts the rules of this module."""


def retention_rule(spec: TableSpec) -> str:
    """What retention does to ``spec``'s rows, from this module's rules and the settings' defaults (for the data
    dictionary); raises RetentionDeclarationError when the table's declared ``retention`` says otherwise."""
    rollup = next((r for r, tables in COVERED_BY.items() if spec.name in tables), None)
    if (spec.retention is Retention.WINDOW_ROWS) != (spec.name in PRUNED_TABLES):
        listed = "is" if spec.name in PRUNED_TABLES else "is not"
        raise RetentionDeclarationError(
            f"{spec.name} declares retention {spec.retention.value} but {listed} in PRUNED_TABLES"
            " (tiktok_pipeline/governance/retention.py)"
        )
    if (spec.retention is Retention.ROLLUP) != (spec.name in COVERED_BY):
        raise RetentionDeclarationError(
            f"{spec.name} declares retention {spec.retention.value} but COVERED_BY"
            f" {'names' if spec.name in COVERED_BY else 'does not name'} it as a rollup"
        )
    if (spec.retention is Retention.AGED) != (spec.name in HELD_TABLES):
        listed = "is" if spec.name in HELD_TABLES else "is not"
        raise RetentionDeclarationError(
            f"{spec.name} declares retention {spec.retention.value} but {listed} in HELD_TABLES"
            " (tiktok_pipeline/governance/held_tables.py)"
        )
    if spec.view != (spec.retention is Retention.VIEW):
        raise RetentionDeclarationError(f"{spec.name}: a view, and only a view, declares retention view")
    if spec.retention is Retention.WINDOW_ROWS:
        return (
            f"Deleted a whole UTC day at a time once the day ended more than TIKTOK_RETENTION_DAYS"
            f" (default {RETENTION_DAYS_DEFAULT}) whole days ago, and only when {rollup} holds the day's rows;"
            " its landing files outlive it (TIKTOK_LANDING_RETENTION_DAYS), so a pruned window can be re-parsed."
        )
    if spec.retention is Retention.ROLLUP:
        return f"Kept (never deleted): holds the days retention deletes from {', '.join(COVERED_BY[spec.name])}."
    if spec.retention is Retention.AGED:
        held = HELD_TABLES[spec.name]
        return (
            f"Rows whose {held.column} is before midnight UTC {held.setting} (default {held.default_days}) whole days"
            " before today are deleted by window_retention_job (daily), one transaction per table."
        )
    if spec.retention is Retention.LATEST:
        return "Latest state only: each refresh replaces the rows it changes; retention deletes nothing."
    if spec.retention is Retention.VIEW:
        return "A view: stores nothing; shows what the tables it reads hold."
    return "Kept: never deleted by retention."


PARTITION_LIMIT = 100_000
"""Partitions per asset the Dagster UI is tuned for."""

PARTITION_WARNING_LEAD = timedelta(days=30)
"""Warn this long before the window partitions reach PARTITION_LIMIT."""


def day_start(moment: datetime) -> datetime:
    """Midnight UTC of ``moment``'s day (aware)."""
    moment = moment.astimezone(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    """Days starting before this instant (midnight UTC) are old enough to prune.

    Today and the ``retention_days`` whole days before it are always kept.
    """
    return day_start(now) - timedelta(days=retention_days)


# --- the partition budget ------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionBudget:
    """How many 5-minute partitions exist now, and when they reach the UI's limit."""

    start: datetime
    now: datetime
    partitions_now: int
    limit: int
    limit_reached_on: datetime

    @property
    def near_limit(self) -> bool:
        """True within PARTITION_WARNING_LEAD of the limit (or past it)."""
        return self.now + PARTITION_WARNING_LEAD >= self.limit_reached_on

    def message(self) -> str:
        verb = "passed" if self.partitions_now >= self.limit else "reach"
        return (
            f"the 5-minute window partitions since TIKTOK_PARTITIONS_START={self.start:%Y-%m-%dT%H:%MZ} number "
            f"{self.partitions_now:,} and {verb} the {self.limit:,} per asset the Dagster UI is tuned for on "
            f"{self.limit_reached_on:%Y-%m-%d}: move TIKTOK_PARTITIONS_START forward to a day already pruned by "
            "retention (see README, 'Retention and partition hygiene')"
        )


def partition_budget(start: datetime, now: datetime, limit: int = PARTITION_LIMIT) -> PartitionBudget:
    """The window partitions from ``start`` to ``now`` and the day their count reaches ``limit``."""
    start, now = start.astimezone(UTC), now.astimezone(UTC)
    existing = max(0, math.floor((now - start) / WINDOW))
    return PartitionBudget(
        start=start, now=now, partitions_now=existing, limit=limit, limit_reached_on=start + limit * WINDOW
    )


# --- which days may go ---------------------------------------------------------------------


@dataclass(frozen=True)
class DayEvidence:
    """What is known about one day before its window rows may be deleted."""

    day: datetime
    window_rows: Mapping[str, int]
    """Rows per window table for the day (tables without rows may be missing)."""
    rolled_up: Mapping[str, int | None]
    """Per rollup: the sum of its ``observations`` for the day, None when it has no rows for the day."""
    rollup_marks: Mapping[str, int | None]
    """Per rollup: storage id of the latest materialisation of the day's partition (None: never)."""
    window_marks: Mapping[str, int | None] = field(default_factory=dict)
    """Per window table: the latest storage id among the materialisations of the day's windows."""
    covered: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Per window table and source: the rows its rollup summarises (:func:`~tiktok_pipeline.governance.coverage.
    covered_rows`; raw_video_snapshots: the rows of the source enrichment keeps). Empty: the totals are compared."""
    rolled_up_by_source: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Per rollup and source: the sum of its ``observations`` for the day (compared with ``covered``)."""


@dataclass(frozen=True)
class DayDecision:
    day: datetime
    prune: bool
    reasons: tuple[str, ...]
    window_rows: Mapping[str, int]


def decide(evidence: DayEvidence) -> DayDecision:
    """Whether a day's window rows may be deleted, and if not, why (pure).

    A rollup covers its window tables when it has rows for the day, its observations equal the rows of
    every window table it summarises (per source when ``covered`` is known: a day both sources observed is compared
    like with like), and its partition was materialised after every window of the day.
    """
    key = f"{evidence.day:%Y-%m-%d}"
    reasons: list[str] = []
    for rollup, tables in COVERED_BY.items():
        rows = {table: evidence.window_rows.get(table, 0) for table in tables}
        if not any(rows.values()):
            continue
        observed = evidence.rolled_up.get(rollup)
        mark = evidence.rollup_marks.get(rollup)
        if not observed:
            reasons.append(f"{rollup} has no rows for {key}: materialise its partition {key}")
            continue
        if mark is None:
            reasons.append(f"{rollup} partition {key} has no materialisation recorded in this Dagster instance")
            continue
        if evidence.covered:  # per source, like with like
            expected = nonzero(evidence.rolled_up_by_source.get(rollup, {}))
            held = {table: nonzero(evidence.covered.get(table, {})) for table in tables}
            if any(counts != expected for counts in held.values()):
                summed = ", ".join(f"{table} {per_source(counts)}" for table, counts in held.items())
                reasons.append(
                    f"{rollup} rolled up {observed} observations for {key} ({per_source(expected)}) but the window"
                    f" tables hold, per source (raw_video_snapshots: the rows enrichment keeps): {summed}"
                )
                continue
        elif any(count != observed for count in rows.values()):
            counts = ", ".join(f"{table} {count}" for table, count in rows.items())
            reasons.append(f"{rollup} rolled up {observed} observations for {key} but the window tables hold: {counts}")
            continue
        newer = [table for table in tables if (evidence.window_marks.get(table) or 0) > mark]
        if newer:
            reasons.append(
                f"{', '.join(newer)} re-materialised after {rollup} {key}: re-materialise {rollup} partition {key}"
            )
    return DayDecision(evidence.day, not reasons, tuple(reasons), dict(evidence.window_rows))


# --- warehouse I/O -------------------------------------------------------------------------


def days_before(connection: duckdb.DuckDBPyConnection, cutoff: datetime) -> dict[datetime, dict[str, int]]:
    """Rows per pruned window table for every day starting before ``cutoff`` (UTC, aware keys)."""
    found: dict[datetime, dict[str, int]] = {}
    for table in PRUNED_TABLES:
        if not table_exists(connection, table):
            continue
        rows = connection.execute(
            f"SELECT date_trunc('day', window_start) AS day, count(*) FROM \"{table}\" WHERE window_start < ? GROUP BY 1",
            [utc_naive(cutoff)],
        ).fetchall()
        for day, count in rows:
            found.setdefault(day.replace(tzinfo=UTC), {})[table] = int(count)
    return dict(sorted(found.items()))


def rolled_up_observations(connection: duckdb.DuckDBPyConnection, day: datetime) -> dict[str, int | None]:
    """Per rollup, the sum of ``observations`` stored for ``day`` (None when it has no rows)."""
    result: dict[str, int | None] = {}
    for rollup in COVERED_BY:
        if not table_exists(connection, rollup):
            result[rollup] = None
            continue
        (total,) = connection.execute(
            f'SELECT sum(observations) FROM "{rollup}" WHERE window_start = ?', [utc_naive(day_start(day))]
        ).fetchone()  # type: ignore[misc]
        result[rollup] = None if total is None else int(total)
    return result


class ChangedUnderfootError(RuntimeError):
    """The day's rows changed between the decision and the delete: nothing was deleted."""


def prune_day(connection: duckdb.DuckDBPyConnection, day: datetime, expected: Mapping[str, int]) -> dict[str, int]:
    """Delete ``day``'s rows from every pruned window table in ONE transaction; returns rows deleted per table.

    The rows are recounted inside the transaction: if they differ from ``expected`` (what the
    decision was made on), everything is rolled back and ChangedUnderfootError is raised.
    """
    lo = utc_naive(day_start(day))
    hi = lo + DAY

    def prune(connection: duckdb.DuckDBPyConnection) -> dict[str, int]:
        deleted: dict[str, int] = {}
        for table in PRUNED_TABLES:
            if not table_exists(connection, table):
                continue
            where = "window_start >= ? AND window_start < ?"
            (count,) = connection.execute(f'SELECT count(*) FROM "{table}" WHERE {where}', [lo, hi]).fetchone()  # type: ignore[misc]
            if count != expected.get(table, 0):
                raise ChangedUnderfootError(
                    f"{table} holds {count} rows for {lo:%Y-%m-%d}, not the {expected.get(table, 0)} checked"
                )
            connection.execute(f'DELETE FROM "{table}" WHERE {where}', [lo, hi]).fetchall()
            deleted[table] = int(count)
        return deleted

    return write_transaction(connection, prune)  # re-run whole when a window writer's commit conflicts


def landing_footprint(landing_dir: Path, day: datetime) -> tuple[int, int]:
    """Files and bytes landed for ``day`` (every source): what retention keeps on disk."""
    files = size = 0
    root = Path(landing_dir)
    if not root.is_dir():
        return 0, 0
    for folder in root.glob(f"**/{day:%Y-%m-%d}"):  # a source may be nested (business_api/report)
        if folder.is_dir():
            for path in folder.glob("*.jsonl.gz"):
                files += 1
                size += path.stat().st_size
    return files, size
