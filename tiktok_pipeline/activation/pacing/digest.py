"""The pacing section of the per-window digest: the window's budget recommendations, in a few lines."""

from __future__ import annotations

from datetime import datetime

import duckdb

from tiktok_pipeline.activation.digest.model import DigestSection
from tiktok_pipeline.warehouse.io import read_frame, table_exists
from tiktok_pipeline.warehouse.tables import BUDGET_CHANGES, PACING_RECOMMENDATIONS
from tiktok_pipeline.windows import utc_naive

MAX_LINES = 5
LINK_PATH = f"/assets/{PACING_RECOMMENDATIONS.name}"


def pacing_digest_section(connection: duckdb.DuckDBPyConnection, window_start: datetime) -> DigestSection | None:
    """The window's raise/lower recommendations (largest change first, at most five lines, then a count of the
    rest) and whether each was applied; None when the window recommended no change."""
    if not table_exists(connection, PACING_RECOMMENDATIONS.name):
        return None
    changes = table_exists(connection, BUDGET_CHANGES.name)
    applied = (
        f"(SELECT c.state FROM {BUDGET_CHANGES.name} c WHERE c.change_id = r.recommendation_id)" if changes else "NULL"
    )
    rows = read_frame(
        connection,
        f"""SELECT r.adgroup_id, r.action, r.budget_before, r.budget_after, r.pacing_ratio, r.guardrail,
                   {applied} AS state
            FROM {PACING_RECOMMENDATIONS.name} r
            WHERE r.window_start = ? AND r.action IN ('raise', 'lower')
            ORDER BY abs(r.budget_after - r.budget_before) DESC, r.adgroup_id""",
        [utc_naive(window_start)],
    )
    if rows.is_empty():
        return None
    lines = []
    for row in rows.head(MAX_LINES).iter_rows(named=True):
        ratio = "n/a" if row["pacing_ratio"] is None else f"{row['pacing_ratio']:.2f}"
        guard = f", capped by {row['guardrail']}" if row["guardrail"] else ""
        status = f" [{row['state']}]" if row["state"] else " [recommended]"
        lines.append(
            f"{row['action']} ad group {row['adgroup_id']}: {row['budget_before']:.2f} → {row['budget_after']:.2f}"
            f" USD/day (pacing {ratio}{guard}){status}"
        )
    if rows.height > MAX_LINES:
        lines.append(f"… and {rows.height - MAX_LINES} more")
    return DigestSection(title="Budget pacing", lines=tuple(lines), link_path=LINK_PATH)
