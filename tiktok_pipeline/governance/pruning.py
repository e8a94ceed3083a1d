"""One retention run: decide every day past the cutoff (:mod:`tiktok_pipeline.governance.retention`'s rules),
delete the days that may go, and describe what was deleted or kept and why."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from tiktok_pipeline.governance.coverage import covered_rows, rolled_up_by_source
from tiktok_pipeline.governance.retention import (
    COVERED_BY,
    PRUNED_TABLES,
    WRITTEN_BY,
    ChangedUnderfootError,
    DayDecision,
    DayEvidence,
    PartitionBudget,
    days_before,
    decide,
    landing_footprint,
    partition_budget,
    prune_day,
    retention_cutoff,
    rolled_up_observations,
)
from tiktok_pipeline.windows import first_whole_day

NO_DAILY_PARTITION = (
    "no daily partition covers the day (they start at the first whole day from TIKTOK_PARTITIONS_START), "
    "so it cannot be rolled up"
)


@dataclass
class RetentionRun:
    """What one retention run decided and deleted."""

    cutoff: datetime
    budget: PartitionBudget
    dry_run: bool
    decisions: list[DayDecision] = field(default_factory=list)
    deleted: dict[str, dict[str, int]] = field(default_factory=dict)
    """Day (``YYYY-MM-DD``) → rows deleted per table."""

    @property
    def per_table(self) -> dict[str, int]:
        return {table: sum(day.get(table, 0) for day in self.deleted.values()) for table in PRUNED_TABLES}


def _latest(latest_by_day: Callable[[str], dict[str, int]], assets: tuple[str, ...]) -> dict[str, int]:
    """Per day, the latest materialisation of any of ``assets`` (the writers of one table)."""
    merged: dict[str, int] = {}
    for asset in assets:
        for day, mark in latest_by_day(asset).items():
            merged[day] = max(mark, merged.get(day, mark))
    return merged


def prune_windows(
    connection: duckdb.DuckDBPyConnection,
    *,
    now: datetime,
    retention_days: int,
    partitions_start: datetime,
    latest_by_day: Callable[[str], dict[str, int]],
    dry_run: bool = False,
    log: Callable[[str, str], None] = lambda level, message: None,
) -> RetentionRun:
    """Decide and (unless ``dry_run``) delete every day before the cutoff that still has window rows.

    ``latest_by_day(asset)``: storage id of the asset's latest materialisation per day, the evidence that
    a rollup was materialised after every window of its day. The caller holds ``connection`` throughout,
    so no other process writes between a decision and its delete. ``log(level, message)`` is told each day.
    """
    run = RetentionRun(retention_cutoff(now, retention_days), partition_budget(partitions_start, now), dry_run)
    first_day = first_whole_day(partitions_start)
    candidates = days_before(connection, run.cutoff)
    if candidates:
        rollup_marks = {rollup: latest_by_day(rollup) for rollup in COVERED_BY}
        window_marks = {table: _latest(latest_by_day, WRITTEN_BY.get(table, (table,))) for table in PRUNED_TABLES}
    for day, rows in candidates.items():
        key = f"{day:%Y-%m-%d}"
        decision = decide(
            DayEvidence(
                day=day,
                window_rows=rows,
                rolled_up=rolled_up_observations(connection, day),
                rollup_marks={rollup: marks.get(key) for rollup, marks in rollup_marks.items()},
                window_marks={table: marks.get(key) for table, marks in window_marks.items()},
                covered=covered_rows(connection, day, PRUNED_TABLES),
                rolled_up_by_source=rolled_up_by_source(connection, day, tuple(COVERED_BY)),
            )
        )
        if not decision.prune and day < first_day:
            decision = DayDecision(day, False, (*decision.reasons, NO_DAILY_PARTITION), decision.window_rows)
        if decision.prune and not dry_run:
            try:
                run.deleted[key] = prune_day(connection, day, decision.window_rows)
            except ChangedUnderfootError as exc:
                decision = DayDecision(day, False, (str(exc),), decision.window_rows)
        run.decisions.append(decision)
        if decision.prune:
            log("info", f"{key}: {'would delete' if dry_run else 'deleted'} {dict(decision.window_rows)}")
        else:
            log("warning", f"{key} kept: {'; '.join(decision.reasons)}")
    return run


def decisions_table(run: RetentionRun, landing_dir: Path) -> pl.DataFrame:
    """One row per day considered: what happened, its window rows, the landing files kept and why a day was kept."""
    rows = []
    for decision in run.decisions:
        key = f"{decision.day:%Y-%m-%d}"
        files, size = landing_footprint(landing_dir, decision.day)
        action = "deleted" if key in run.deleted else ("would delete (dry run)" if decision.prune else "kept")
        rows.append(
            {
                "day": key,
                "action": action,
                **{table: decision.window_rows.get(table, 0) for table in PRUNED_TABLES},
                "landing_files_kept": files,
                "landing_mb_kept": round(size / 1e6, 3),
                "reason_kept": "; ".join(decision.reasons),
            }
        )
    return pl.DataFrame(rows)
