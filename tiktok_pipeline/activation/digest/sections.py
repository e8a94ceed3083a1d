"""The digest's sections: a registry of builders ``(connection, window_start) -> DigestSection | None``.

Each builder reads what its domain wrote for one window (``window_start``: naive UTC, as stored) and returns a
:class:`DigestSection`, or None when it has nothing to say for that window (the section is then left out). Adding a
domain's section is one line in :data:`SECTION_BUILDERS`, e.g. ``pacing_digest_section`` from
``activation/pacing/digest.py``. A builder that fails leaves its section out (logged), never the whole digest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import duckdb

from tiktok_pipeline.activation.digest.model import DigestSection
from tiktok_pipeline.activation.digest.swaps_feed import merchandising_digest_section, swaps_digest_section
from tiktok_pipeline.activation.pacing.digest import pacing_digest_section
from tiktok_pipeline.warehouse.io import read_frame, table_exists
from tiktok_pipeline.warehouse.tables import ALERTS, VIDEO_VELOCITY
from tiktok_pipeline.windows import WINDOW

log = logging.getLogger(__name__)

SectionBuilder = Callable[[duckdb.DuckDBPyConnection, datetime], DigestSection | None]

TOP_MOVERS = 5
"""Videos listed in the top movers section."""
MAX_ALERT_LINES = 8
"""Alerts listed by title in the alerts section; the rest are counted in one last line."""


def top_movers_section(connection: duckdb.DuckDBPyConnection, window_start: datetime) -> DigestSection | None:
    """The window's videos with the highest momentum (video_velocity): video id, momentum and views per minute.
    No creator name: a digest line carries no personal data."""
    if not table_exists(connection, VIDEO_VELOCITY.name):
        return None
    movers = read_frame(
        connection,
        f"""SELECT video_id, momentum, views_per_minute FROM {VIDEO_VELOCITY.name}
            WHERE window_start = ? AND momentum IS NOT NULL ORDER BY momentum DESC, video_id LIMIT ?""",
        [window_start, TOP_MOVERS],
    )
    if movers.is_empty():
        return None
    lines = tuple(
        f"video {video_id}: momentum {momentum:.1f}x, {views_per_minute or 0:.0f} views/min"
        for video_id, momentum, views_per_minute in movers.iter_rows()
    )
    return DigestSection("Top movers", lines, f"/assets/{VIDEO_VELOCITY.name}")


def alerts_section(connection: duckdb.DuckDBPyConnection, window_start: datetime) -> DigestSection | None:
    """The alerts composed during the window (``created_at`` in it; digests themselves excluded), by severity."""
    if not table_exists(connection, ALERTS.name):
        return None
    raised = read_frame(
        connection,
        f"""SELECT severity, title FROM {ALERTS.name}
            WHERE created_at >= ? AND created_at < ? AND kind <> 'digest'
            ORDER BY CASE severity WHEN 'ERROR' THEN 0 WHEN 'WARN' THEN 1 ELSE 2 END, created_at, alert_id""",
        [window_start, window_start + WINDOW],
    )
    if raised.is_empty():
        return None
    lines = [title if title.startswith(severity) else f"{severity}: {title}" for severity, title in raised.iter_rows()]
    if len(lines) > MAX_ALERT_LINES:
        lines = [*lines[: MAX_ALERT_LINES - 1], f"and {len(lines) - MAX_ALERT_LINES + 1} more"]
    return DigestSection("Alerts raised", tuple(lines), f"/assets/{ALERTS.name}")


SECTION_BUILDERS: tuple[SectionBuilder, ...] = (
    top_movers_section,
    alerts_section,
    pacing_digest_section,
    swaps_digest_section,
    merchandising_digest_section,
    # another activation domain adds its builder here, one line
)
"""The digest's sections, in the order they are shown."""


def build_sections(
    connection: duckdb.DuckDBPyConnection,
    window_start: datetime,
    builders: tuple[SectionBuilder, ...] = SECTION_BUILDERS,
) -> list[DigestSection]:
    """Every section with something to say for the window; a builder that raises is logged and left out."""
    sections = []
    for builder in builders:
        try:
            section = builder(connection, window_start)
        except Exception:  # one domain's bug must not silence the others' sections
            log.exception("digest section %s failed for the window %s; left out", builder.__name__, window_start)
            continue
        if section is not None and section.lines:
            sections.append(section)
    return sections
