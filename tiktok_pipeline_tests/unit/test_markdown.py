"""Markdown tables for UI metadata."""

import polars as pl

from tiktok_pipeline.governance.markdown import markdown_table


def test_floats_nulls_and_pipes_are_rendered_safely():
    frame = pl.DataFrame({"name": ["a|b", None], "rate": [0.12345, None]})
    assert markdown_table(frame) == "| name | rate |\n|---|---|\n| a\\|b | 0.123 |\n|  |  |"


def test_empty_frames_and_long_cells():
    assert markdown_table(pl.DataFrame({"x": []}), empty="_none_") == "_none_"
    assert markdown_table(pl.DataFrame({"x": ["y" * 100]}), max_chars=5).endswith("| yyyyy |")
