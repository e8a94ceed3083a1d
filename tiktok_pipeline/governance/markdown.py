"""Small Polars frames as Markdown tables, for materialisation and check metadata in the UI."""

from __future__ import annotations

import polars as pl


def markdown_table(frame: pl.DataFrame, *, empty: str = "_no rows_", max_chars: int | None = None) -> str:
    """``frame`` as a Markdown table: floats to 3 decimals, nulls empty, ``|`` escaped, cells cut at ``max_chars``."""
    if frame.is_empty():
        return empty
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    for row in frame.iter_rows():
        cells = []
        for value in row:
            text = f"{value:.3f}" if isinstance(value, float) else ("" if value is None else str(value))
            cells.append(text.replace("|", "\\|")[:max_chars])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
