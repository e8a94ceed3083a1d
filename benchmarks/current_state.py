"""Benchmark: what a refresh of ``video_current_state`` costs at 2,000 to 100,000 tracked videos.

Builds a warehouse of ``--hours`` of 5-minute windows (every video observed every window, the worst case: the
budget covers demand) in DuckDB directly: ``video_velocity`` and ``enriched_video_metrics`` with the pipeline's
own table declarations. Then times, with the pipeline's own functions: the first refresh (a rebuild from every
window), the refresh after a new window (reads that window only), and after an old window is re-materialised
(reads it, applies nothing); and checks the table has one row per video from the newest window.

Run: .venv/bin/python benchmarks/current_state.py [--videos 2000 20000 100000] [--hours 24]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tiktok_pipeline.metrics.current_state import current_state_figures, refresh_current_state
from tiktok_pipeline.warehouse.io import connect, create_or_extend
from tiktok_pipeline.warehouse.tables import ENRICHED_VIDEO_METRICS, VIDEO_VELOCITY
from tiktok_pipeline.windows import WINDOW

START = datetime(2026, 11, 20, tzinfo=UTC)


def build(path: Path, videos: int, windows: int) -> None:
    """Every video observed in each of ``windows`` windows from START (synthetic counts and figures)."""
    rows = f"""FROM range({windows}) t(w), range({videos}) s(v)
        SELECT TIMESTAMP '{START:%Y-%m-%d %H:%M}' + INTERVAL (w * 5) MINUTE AS window_start,
               window_start + INTERVAL 5 MINUTE AS observed_at, (7000000000000000000 + v)::VARCHAR AS video_id,
               'creator_' || (v % 1024) AS creator_username, v * 10 + w * (v % 97) AS view_count, v, w"""
    with connect(path) as con:
        for spec in (VIDEO_VELOCITY, ENRICHED_VIDEO_METRICS):
            create_or_extend(con, spec)
        con.execute(f"""INSERT INTO video_velocity BY NAME SELECT * EXCLUDE (v, w), (v % 97) / 5.0 AS views_per_minute,
            (v % 97) * 6 AS view_delta_30m, hash(v, w) % 1000 / 100.0 AS momentum, 0.05 AS engagement_rate
            FROM ({rows})""")
        con.execute(f"""INSERT INTO enriched_video_metrics BY NAME SELECT * EXCLUDE (v, w), view_count // 20 AS like_count,
            view_count // 200 AS comment_count, view_count // 400 AS share_count, ['camp_1'] AS campaign_ids,
            ['sku_1'] AS product_skus, ['tag'] AS audience_tags, TIMESTAMP '2026-11-19' AS create_time
            FROM ({rows})""")


def timed(path: Path, windows: list[datetime] | None) -> tuple[float, int, int]:
    """Seconds for one refresh (read, merge, view), rows read, rows applied."""
    began = time.perf_counter()
    with connect(path) as con:
        merged = refresh_current_state(con, windows, datetime.now(UTC))
        current_state_figures(con)
    return time.perf_counter() - began, merged.read, merged.applied


def main(argv: list[str] | None = None) -> None:
    """Print, per size, the build and the three refreshes' times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, nargs="+", default=[2_000, 20_000, 100_000])
    parser.add_argument("--hours", type=int, default=24)
    args = parser.parse_args(argv)
    windows = args.hours * 12
    for videos in args.videos:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "warehouse.duckdb"
            began = time.perf_counter()
            build(path, videos, windows - 1)
            built = time.perf_counter() - began
            first = timed(path, None)
            with connect(path) as con:  # one more window lands
                con.execute(
                    "INSERT INTO video_velocity SELECT * REPLACE (window_start + INTERVAL 5 MINUTE AS "
                    "window_start, observed_at + INTERVAL 5 MINUTE AS observed_at) FROM video_velocity "
                    "WHERE window_start = (SELECT max(window_start) FROM video_velocity)"
                )
                con.execute(
                    "INSERT INTO enriched_video_metrics SELECT * REPLACE (window_start + INTERVAL 5 MINUTE "
                    "AS window_start, observed_at + INTERVAL 5 MINUTE AS observed_at) FROM "
                    "enriched_video_metrics WHERE window_start = (SELECT max(window_start) FROM "
                    "enriched_video_metrics)"
                )
            newest = START + (windows - 1) * WINDOW
            new = timed(path, [newest])
            old = timed(path, [START + timedelta(hours=1)])
            with connect(path, read_only=True) as con:
                rows, fresh = con.execute(
                    "SELECT count(*), count(*) FILTER (WHERE window_start = ?) FROM video_current_state",
                    [newest.replace(tzinfo=None)],
                ).fetchall()[0]
            assert rows == fresh == videos, (rows, fresh, videos)
            print(
                f"{videos:>7,} videos x {windows} windows ({videos * windows:,} rows, built in {built:.1f} s): "
                f"rebuild {first[0]:.2f} s ({first[1]:,} read); new window {new[0]:.2f} s ({new[1]:,} read, "
                f"{new[2]:,} applied); old window re-materialised {old[0]:.2f} s ({old[1]:,} read, {old[2]} applied)"
            )


if __name__ == "__main__":
    main()
