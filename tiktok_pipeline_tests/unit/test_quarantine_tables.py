"""Per-source quarantine tables: a source adopts its rows from the old shared table; the union view waits for all."""

from datetime import datetime

import polars as pl
import pytest

from tiktok_pipeline.warehouse.io import Write, connect, read_frame, replace_windows
from tiktok_pipeline.warehouse.quarantine import adopt_legacy_rows, create_quarantine_view
from tiktok_pipeline.warehouse.tables import DISPLAY_API_QUARANTINE, QUARANTINED_RECORDS, TableSpec

W = datetime(2026, 11, 20, 10, 0)


def rows(asset: str, n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "window_start": [W] * n,
            "source": ["s"] * n,
            "reason": [f"{asset} {i}" for i in range(n)],
            "asset": [asset] * n,
        }
    )


def test_sources_adopt_their_rows_and_the_view_unites_them(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        replace_windows(
            con,
            W,
            datetime(2026, 11, 20, 10, 5),
            Write(QUARANTINED_RECORDS, pl.concat([rows("raw_video_snapshots", 2), rows("raw_ad_metrics", 1)])),
        )

        assert adopt_legacy_rows(con, DISPLAY_API_QUARANTINE, "raw_video_snapshots") == 2
        assert adopt_legacy_rows(con, DISPLAY_API_QUARANTINE, "raw_video_snapshots") == 0  # once only
        assert read_frame(con, "SELECT asset FROM quarantined_records")["asset"].to_list() == ["raw_ad_metrics"]
        assert read_frame(con, "SELECT count(*) AS n FROM display_api_quarantine")["n"][0] == 2

        with pytest.raises(RuntimeError, match="raw_ad_metrics"):  # a source still writes the shared table
            create_quarantine_view(con)

        ads = TableSpec("ad_report_quarantine", QUARANTINED_RECORDS.columns)
        assert adopt_legacy_rows(con, ads, "raw_ad_metrics") == 1
        assert create_quarantine_view(con) == ["ad_report_quarantine", "display_api_quarantine"]
        union = read_frame(con, "SELECT asset, count(*) AS n FROM quarantined_records GROUP BY 1 ORDER BY 1")
        assert union.rows() == [("raw_ad_metrics", 1), ("raw_video_snapshots", 2)]
