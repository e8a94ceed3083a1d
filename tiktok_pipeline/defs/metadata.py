"""Helpers every domain's assets share: asset kinds, a run's window range, per-window metadata and checks.

No Dagster definitions live here (the defs-folder loader collects module-level assets, jobs and sensors).

Why per-window: a step that covers a range of windows (a backfill, the first catch-up run) records one
materialisation per window. Metadata given to ``MaterializeResult`` lands on every one of them, so
per-window figures go through :func:`report_windows` (``add_asset_metadata(..., partition_key=...)``) and
only ``range_...`` totals go on the result. Likewise check results: :func:`window_check_events` emits one
evaluation per window, carrying that window as its partition and targeting this run's materialisation of
that window (a check result yielded before its asset's materialisation would target the previous one).
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import dagster as dg

# the evaluation's link to the materialisation it checked; Dagster builds it the same way for AssetCheckResult
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from tiktok_pipeline.defs.partitions import WINDOWS
from tiktok_pipeline.governance.event_log_storage import stored_together
from tiktok_pipeline.governance.window_figures import Json, Markdown
from tiktok_pipeline.quality.checks import CheckOutcome

KINDS = {"duckdb", "polars"}
"""The kinds shown on every warehouse asset."""

Checks = Mapping[str, tuple[dg.AssetCheckSeverity, str]]
"""An asset's checks: name → (severity of a failure, description shown in the UI)."""


def check_specs(asset: str, checks: Checks, blocking: Collection[str] = ()) -> list[dg.AssetCheckSpec]:
    """Partitioned check specs (one evaluation per window) of ``asset``; the checks named in ``blocking`` block
    the downstream assets when they fail (a failing ERROR check is not blocking unless named here).

    Partitioned checks are a preview feature in Dagster 1.13, used on purpose: its warning is not repeated.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return [
            dg.AssetCheckSpec(name, asset=asset, description=text, blocking=name in blocking, partitions_def=WINDOWS)
            for name, (_, text) in checks.items()
        ]


def severities(checks: Checks) -> dict[str, dg.AssetCheckSeverity]:
    """The severity of each check's failure, for :func:`window_check_events`."""
    return {name: severity for name, (severity, _) in checks.items()}


def partition_range(context: dg.AssetExecutionContext) -> tuple[datetime, datetime]:
    """``[start, end)`` (UTC) of the windows the step covers: one window, or a backfill's range."""
    window = context.partition_time_window
    return window.start.astimezone(UTC), window.end.astimezone(UTC)


def metadata_values(figures: Mapping[str, Any]) -> dict[str, Any]:
    """Figures as Dagster metadata: Markdown tables and JSON as such, the rest as they are."""
    return {k: _metadata_value(v) for k, v in figures.items()}


def _metadata_value(value: Any) -> Any:
    if isinstance(value, Markdown):
        return dg.MetadataValue.md(value)
    if isinstance(value, Json):
        return dg.MetadataValue.json(value.value)
    return value


def report_windows(context: dg.AssetExecutionContext, asset_key: str, figures: Mapping[str, Mapping[str, Any]]) -> None:
    """Give each window's materialisation of ``asset_key`` its own figures."""
    for key, values in figures.items():
        context.add_asset_metadata(metadata_values(values), asset_key=asset_key, partition_key=key)


def check_metadata(outcome: CheckOutcome) -> dict[str, Any]:
    return {
        "failed_rows": outcome.failed_rows,
        "failing_rows_sample": dg.MetadataValue.md(outcome.sample_markdown()),
        **outcome.figures,
    }


def _own_materializations(
    context: dg.AssetExecutionContext, asset_key: dg.AssetKey, keys: list[str]
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """This run's materialisation of each window of ``asset_key`` (already stored when the result was yielded)."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=keys), limit=2 * len(keys) + 10
    ).records
    targets: dict[str, AssetCheckEvaluationTargetMaterializationData] = {}
    for record in records:  # newest first
        partition = record.partition_key
        if record.run_id == context.run.run_id and partition is not None and partition not in targets:
            targets[partition] = AssetCheckEvaluationTargetMaterializationData(
                run_id=record.run_id, storage_id=record.storage_id, timestamp=record.timestamp
            )
    return targets


EVALUATIONS_PER_TRANSACTION = 96
"""Check evaluations stored in one transaction: a range's evaluations of a check are 288 a day, each a transaction
of its own in Dagster (4 statements and a commit on PostgreSQL). 96 (8 hours of windows) keep the SQLite event log's
write lock, which every other run waits for, to a fraction of a second."""


def window_check_events(
    context: dg.AssetExecutionContext,
    asset_key: str,
    outcomes: Mapping[str, Mapping[str, CheckOutcome]],
    severities: Mapping[str, dg.AssetCheckSeverity],
) -> Iterator[dg.Output | dg.AssetCheckEvaluation]:
    """One evaluation per selected check and window (``outcomes``: window key → check name → outcome).

    Yield these after the asset's ``MaterializeResult``. A failed blocking ERROR check still stops the
    downstream assets (Dagster fails the step after it has recorded every evaluation). Dagster stores each evaluation
    on its own; here every :data:`EVALUATIONS_PER_TRANSACTION` of them are stored in one transaction
    (:func:`~tiktok_pipeline.governance.event_log_storage.stored_together`).
    """
    key = dg.AssetKey(asset_key)
    specs = {spec.name: spec for spec in context.assets_def.check_specs if spec.asset_key == key}
    output_names = {spec.key: name for name, spec in context.assets_def.check_specs_by_output_name.items()}
    selected = [name for name in specs if dg.AssetCheckKey(key, name) in context.selected_asset_check_keys]
    targets = _own_materializations(context, key, list(outcomes))
    windows = list(outcomes.items())
    for name in selected:
        yield dg.Output(None, output_name=output_names[specs[name].key])
        for first in range(0, len(windows), EVALUATIONS_PER_TRANSACTION):
            with stored_together(context.instance):
                for window, by_check in windows[first : first + EVALUATIONS_PER_TRANSACTION]:
                    outcome = by_check[name]
                    yield dg.AssetCheckEvaluation(
                        asset_key=key,
                        check_name=name,
                        passed=outcome.passed,
                        metadata=check_metadata(outcome),
                        target_materialization_data=targets.get(window),
                        severity=severities[name],
                        description=outcome.description,
                        blocking=specs[name].blocking,
                        partition=window,
                    )
