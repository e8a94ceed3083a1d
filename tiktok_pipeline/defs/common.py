"""Helpers the ads and rollup definitions share with the window assets (no Dagster definitions here).

Public stand-ins for ``KINDS``, ``_check`` and ``_range`` of ``defs/videos/assets.py``, until those move to
one neutral module; same behaviour.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from tiktok_pipeline.quality.checks import CheckOutcome

KINDS = {"duckdb", "polars"}
"""The kinds (UI badges) of every table asset."""


def check_result(asset: str, name: str, outcome: CheckOutcome, severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
    """An asset check result with the failing rows' count, a sample and the check's figures."""
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=name,
        passed=outcome.passed,
        severity=severity,
        description=outcome.description,
        metadata={
            "failed_rows": outcome.failed_rows,
            "failing_rows_sample": dg.MetadataValue.md(outcome.sample_markdown()),
            **outcome.figures,
        },
    )


def partition_range(context: dg.AssetExecutionContext) -> tuple[datetime, datetime]:
    """The run's partitions as one UTC time range ``[start, end)`` (one window, or a backfill's range)."""
    window = context.partition_time_window
    return window.start.astimezone(UTC), window.end.astimezone(UTC)
