"""The digest's sections for creative swaps and the merchandising feed: one window's rows, as short lines."""

from __future__ import annotations

from datetime import datetime

import duckdb

from tiktok_pipeline.activation.digest.model import DigestSection
from tiktok_pipeline.warehouse.io import read_frame, table_exists
from tiktok_pipeline.warehouse.tables import CREATIVE_SWAP_RECOMMENDATIONS, MERCHANDISING_FEED
from tiktok_pipeline.windows import utc_naive

MAX_LINES = 5


def swaps_digest_section(connection: duckdb.DuckDBPyConnection, window_start: datetime) -> DigestSection | None:
    """The window's swap recommendations, best expected gain first; None when there is none."""
    if not table_exists(connection, CREATIVE_SWAP_RECOMMENDATIONS.name):
        return None
    rows = read_frame(
        connection,
        f"""SELECT campaign_id, fading_video_id, ad_ctr, ad_ctr_30m_ago, boost_video_id, video_momentum,
                   expected_gain_clicks_per_hour
            FROM "{CREATIVE_SWAP_RECOMMENDATIONS.name}" WHERE window_start = ?
            ORDER BY expected_gain_clicks_per_hour DESC NULLS LAST, campaign_id, fading_video_id""",
        [utc_naive(window_start)],
    )
    if rows.is_empty():
        return None
    lines = []
    for row in rows.head(MAX_LINES).iter_rows(named=True):
        gain = row["expected_gain_clicks_per_hour"]
        lines.append(
            f"{row['campaign_id']}: boost video {row['boost_video_id']} (momentum {row['video_momentum']:.1f})"
            f" instead of {row['fading_video_id']} (CTR {row['ad_ctr_30m_ago']:.2%} → {row['ad_ctr']:.2%})"
            + ("" if gain is None else f", expected {gain:+.0f} clicks/h")
        )
    if rows.height > MAX_LINES:
        lines.append(f"… and {rows.height - MAX_LINES} more")
    return DigestSection(
        title=f"Creative swaps ({rows.height})",
        lines=tuple(lines),
        link_path=f"/assets/{CREATIVE_SWAP_RECOMMENDATIONS.name}",
    )


def merchandising_digest_section(connection: duckdb.DuckDBPyConnection, window_start: datetime) -> DigestSection | None:
    """The window's top SKUs with their feed version; None when the window ranked none."""
    if not table_exists(connection, MERCHANDISING_FEED.name):
        return None
    rows = read_frame(
        connection,
        f"""SELECT rank, sku, momentum, promoting_videos, feed_version FROM "{MERCHANDISING_FEED.name}"
            WHERE window_start = ? ORDER BY rank LIMIT {MAX_LINES}""",
        [utc_naive(window_start)],
    )
    if rows.is_empty():
        return None
    lines = tuple(
        f"#{row['rank']} {row['sku']}: momentum {row['momentum']:.1f} ({row['promoting_videos']} videos)"
        for row in rows.iter_rows(named=True)
    )
    return DigestSection(
        title=f"Merchandising feed {rows['feed_version'][0]}",
        lines=lines,
        link_path=f"/assets/{MERCHANDISING_FEED.name}",
    )
