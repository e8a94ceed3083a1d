"""What a run of ``pacing_recommendations`` reports, window by window: counts and budget moves the UI plots, and
a small Markdown table of the window's recommendations."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from tiktok_pipeline.governance.markdown import markdown_table
from tiktok_pipeline.governance.window_figures import Figures, Markdown, by_window
from tiktok_pipeline.windows import window_key


def pacing_figures(frame: pl.DataFrame, starts: list[datetime], mode: str) -> Figures:
    """Per window: recommendations by action, the net budget change recommended (USD a day), the median pacing
    ratio, and the recommendations as a table."""
    keys = [window_key(start) for start in starts]
    figures: Figures = {}
    for key, rows in by_window(frame, keys).items():
        changes = rows.filter(pl.col("action") != "hold")
        ratio = rows["pacing_ratio"].drop_nulls()
        figures[key] = {
            "mode": mode,
            "recommendations": rows.height,
            "raises": int((rows["action"] == "raise").sum()),
            "lowers": int((rows["action"] == "lower").sum()),
            "holds": int((rows["action"] == "hold").sum()),
            "net_budget_change": round(float((changes["budget_after"] - changes["budget_before"]).sum()), 2),
            "median_pacing_ratio": round(float(ratio.median()), 3) if len(ratio) else 0.0,  # type: ignore[arg-type]
            "recommended": Markdown(
                markdown_table(
                    rows.select(
                        "adgroup_id", "action", "budget_before", "budget_after", "pacing_ratio", "guardrail", "reason"
                    ).head(20)
                )
            ),
        }
    return figures
