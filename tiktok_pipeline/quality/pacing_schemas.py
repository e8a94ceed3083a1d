"""Pandera (Polars API) schema of ``pacing_recommendations``: one check per window."""

from __future__ import annotations

from datetime import datetime

import pandera.polars as pa
import polars as pl

from tiktok_pipeline.quality.checks import CheckOutcome, validate_schema
from tiktok_pipeline.windows import utc_naive, window_key


def pacing_recommendations_schema(floor: float, ceiling: float) -> pa.DataFrameSchema:
    """Ids of digits, a known action, positive budgets, a change only for raise/lower and in its direction,
    recommended budgets within [floor, ceiling] (TikTok's 20 USD minimum included), unique (window, ad group)."""

    def direction(data: pa.PolarsData) -> pl.LazyFrame:
        before, after, action = pl.col("budget_before"), pl.col("budget_after"), pl.col("action")
        return data.lazyframe.select(
            pl.when(action == "raise")
            .then(after > before)
            .when(action == "lower")
            .then(after < before)
            .otherwise(after == before)
        )

    def within(data: pa.PolarsData) -> pl.LazyFrame:
        after, action = pl.col("budget_after"), pl.col("action")
        return data.lazyframe.select((action == "hold") | ((after >= floor) & (after <= ceiling) & (after >= 20.0)))

    return pa.DataFrameSchema(
        {
            "window_start": pa.Column(pl.Datetime("us")),
            "recommendation_id": pa.Column(pl.String, unique=True),
            "adgroup_id": pa.Column(pl.String, pa.Check.str_matches(r"^\d+$")),
            "action": pa.Column(pl.String, pa.Check.isin(["raise", "lower", "hold"])),
            "budget_before": pa.Column(pl.Float64, pa.Check.gt(0.0)),
            "budget_after": pa.Column(pl.Float64, pa.Check.gt(0.0)),
            "spent_today": pa.Column(pl.Float64, pa.Check.ge(0.0)),
            "pacing_ratio": pa.Column(pl.Float64, pa.Check.ge(0.0), nullable=True),
            "reason": pa.Column(pl.String),
        },
        checks=[
            pa.Check(direction, name="change_in_its_direction", error="budget_after does not match the action"),
            pa.Check(within, name="within_floor_and_ceiling", error="recommended budget outside [floor, ceiling]"),
        ],
        unique=["window_start", "adgroup_id"],
        name="pacing_recommendations",
    )


def pacing_by_window(
    rows: pl.DataFrame, starts: list[datetime], floor: float, ceiling: float
) -> dict[str, dict[str, CheckOutcome]]:
    """Window key → ``pacing_recommendations_schema`` → its outcome on the window's rows."""
    schema = pacing_recommendations_schema(floor, ceiling)
    return {
        window_key(start): {
            "pacing_recommendations_schema": validate_schema(
                schema, rows.filter(pl.col("window_start") == utc_naive(start))
            )
        }
        for start in starts
    }
