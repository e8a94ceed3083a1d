"""Per-source quarantine tables: each source writes its own, ``quarantined_records`` is their union view.

A source adopts its rows from the old shared table on first use; the view exists from the first write on; a
re-run replaces only its source's rows; the governance step finishes a migration no source completed.
"""

from dataclasses import replace
from datetime import datetime, timedelta
from types import SimpleNamespace

import polars as pl
import pytest

from tiktok_pipeline.activation.conversions.orders import LoadedOrders
from tiktok_pipeline.activation.conversions.relay import relay_conversions
from tiktok_pipeline.activation.conversions.summary import quarantined_orders
from tiktok_pipeline.governance.retention import PRUNED_TABLES
from tiktok_pipeline.ingest.snapshots import write_raw_snapshots
from tiktok_pipeline.warehouse.ad_hours import replace_ad_hours
from tiktok_pipeline.warehouse.io import Write, connect, read_frame, replace_windows
from tiktok_pipeline.warehouse.quarantine import (
    SOURCES,
    adopt_legacy_rows,
    create_quarantine_view,
    publish_quarantine_view,
)
from tiktok_pipeline.warehouse.tables import (
    AD_REPORT_QUARANTINE,
    DISPLAY_API_QUARANTINE,
    QUARANTINED_RECORDS,
    RAW_AD_METRICS,
)

W = datetime(2026, 11, 20, 10, 0)
W2 = W + timedelta(minutes=5)
END = W + timedelta(minutes=10)


def rows(asset: str, n: int, window: datetime = W, tag: str = "") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "window_start": [window] * n,
            "source": ["s"] * n,
            "reason": [f"{asset}{tag} {i}" for i in range(n)],
            "asset": [asset] * n,
        }
    )


def legacy_warehouse(con) -> pl.DataFrame:
    """The old shared table, as the writers before this change left it: rows of all three sources."""
    legacy = pl.concat(
        [
            rows("raw_video_snapshots", 2),
            rows("raw_video_snapshots", 1, W2),
            rows("raw_ad_metrics", 3),
            rows("conversion_outbox", 1, W2),
        ]
    )
    replace_windows(con, W, END, Write(QUARANTINED_RECORDS, legacy))
    return legacy


def union(con) -> list[tuple]:
    return read_frame(con, "SELECT asset, reason FROM quarantined_records ORDER BY 1, 2").rows()


def is_view(con) -> bool:
    found = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = 'quarantined_records'")
    return found.fetchall() == [("VIEW",)]


# --- the three writers, each through its real write function --------------------------------------


def write_display(con, quarantine: pl.DataFrame) -> None:
    observed = SimpleNamespace(quarantine=quarantine, videos=None, creators=None, telemetry=None)
    write_raw_snapshots(con, W, END, observed, {"display_api_quarantine"})  # type: ignore[arg-type]


def write_ads(con, quarantine: pl.DataFrame) -> None:
    empty = RAW_AD_METRICS.empty()
    coverage = pl.DataFrame(
        schema={
            "stat_time_hour": pl.Datetime("us"),
            "fetched_at": pl.Datetime("us"),
            "fetched_in_window": pl.Datetime("us"),
        }
    )
    keys = pl.DataFrame(
        schema={"ad_id": pl.String, "stat_time_hour": pl.Datetime("us"), "fetched_in_window": pl.Datetime("us")}
    )
    replace_ad_hours(con, empty, coverage, keys, quarantine, (W, END))


def write_conversions(path, quarantine: pl.DataFrame) -> None:
    def connection():
        return connect(path)

    # no good orders: nothing is due, so no request goes out (the client is never used)
    relay_conversions(connection, None, LoadedOrders(), start=W, end=END, pixel_code="P", quarantine=quarantine)  # type: ignore[arg-type]


def test_sources_adopt_their_rows_and_the_view_unites_them(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        replace_windows(
            con,
            W,
            W2,
            Write(QUARANTINED_RECORDS, pl.concat([rows("raw_video_snapshots", 2), rows("raw_ad_metrics", 1)])),
        )

        assert adopt_legacy_rows(con, DISPLAY_API_QUARANTINE, "raw_video_snapshots") == 2
        assert adopt_legacy_rows(con, DISPLAY_API_QUARANTINE, "raw_video_snapshots") == 0  # once only
        assert read_frame(con, "SELECT asset FROM quarantined_records")["asset"].to_list() == ["raw_ad_metrics"]
        assert read_frame(con, "SELECT count(*) AS n FROM display_api_quarantine")["n"][0] == 2

        with pytest.raises(RuntimeError, match="raw_ad_metrics"):  # a source still writes the shared table
            create_quarantine_view(con)

        ads = replace(AD_REPORT_QUARANTINE, columns=QUARANTINED_RECORDS.columns)
        assert adopt_legacy_rows(con, ads, "raw_ad_metrics") == 1
        assert is_view(con)  # the last source to move creates the view
        assert create_quarantine_view(con) == ["ad_report_quarantine", "display_api_quarantine"]
        union_counts = read_frame(con, "SELECT asset, count(*) AS n FROM quarantined_records GROUP BY 1 ORDER BY 1")
        assert union_counts.rows() == [("raw_ad_metrics", 1), ("raw_video_snapshots", 2)]


def test_each_source_writes_its_own_table_and_the_view_exists_from_the_first_write(tmp_path):
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        write_display(con, rows("raw_video_snapshots", 2))
        assert is_view(con) and len(union(con)) == 2  # right after the first window run

        write_ads(con, rows("raw_ad_metrics", 3, W2))
    orders = LoadedOrders(quarantine=[{**r, "log_id": None} for r in rows("conversion_outbox", 1).to_dicts()])
    write_conversions(path, quarantined_orders(orders, W, END))
    with connect(path) as con:
        for source, n in (("display_api_quarantine", 2), ("ad_report_quarantine", 3), ("conversion_quarantine", 1)):
            assert read_frame(con, f"SELECT count(*) AS n FROM {source}")["n"][0] == n, source
        assert [a for a, _ in union(con)] == ["conversion_outbox"] + ["raw_ad_metrics"] * 3 + [
            "raw_video_snapshots"
        ] * 2

        # re-running each source's window replaces that source's rows only: never double-counted
        write_ads(con, rows("raw_ad_metrics", 1, W2, tag=" rerun"))
        write_display(con, rows("raw_video_snapshots", 2))
    write_conversions(path, quarantined_orders(orders, W, END))
    with connect(path) as con:
        assert union(con) == [
            ("conversion_outbox", "conversion_outbox 0"),
            ("raw_ad_metrics", "raw_ad_metrics rerun 0"),
            ("raw_video_snapshots", "raw_video_snapshots 0"),
            ("raw_video_snapshots", "raw_video_snapshots 1"),
        ]
        assert publish_quarantine_view(con).rows == {
            "ad_report_quarantine": 1,
            "conversion_quarantine": 1,
            "display_api_quarantine": 2,
        }


def test_a_warehouse_with_the_old_shared_table_migrates_without_losing_or_duplicating_a_row(tmp_path):
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        legacy = legacy_warehouse(con)
        before = sorted(legacy.select("asset", "reason").rows())

        write_display(con, rows("raw_video_snapshots", 2))  # W is replaced: its 2 legacy rows by the same 2
        assert not is_view(con)  # ads and conversions still hold rows in the old table
        write_ads(con, rows("raw_ad_metrics", 0))  # a run that quarantined nothing over W..END
        assert read_frame(con, "SELECT count(*) AS n FROM ad_report_quarantine")["n"][0] == 0
    write_conversions(path, rows("conversion_outbox", 1, W2))
    with connect(path) as con:
        assert is_view(con)  # every source adopted its rows: the old table became the view
        assert union(con) == sorted(
            [("raw_video_snapshots", r) for r in ("raw_video_snapshots 0", "raw_video_snapshots 1")]
            + [("conversion_outbox", "conversion_outbox 0")]
        )

    # the same warehouse again, migrated by the governance step alone (no source ran since): nothing lost
    with connect(tmp_path / "again.duckdb") as con:
        legacy_warehouse(con)
        published = publish_quarantine_view(con)
        assert published.adopted == {
            "display_api_quarantine": 3,
            "ad_report_quarantine": 3,
            "conversion_quarantine": 1,
        }
        assert is_view(con) and sorted(union(con)) == before and published.total == len(before)
        assert publish_quarantine_view(con).adopted == {}  # idempotent


def test_rows_of_an_unknown_asset_keep_the_old_table_and_fail_loudly(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        replace_windows(con, W, END, Write(QUARANTINED_RECORDS, pl.concat([rows("raw_ad_metrics", 1), rows("x", 1)])))
        with pytest.raises(RuntimeError, match="holding rows of x"):
            publish_quarantine_view(con)
        assert read_frame(con, "SELECT asset FROM quarantined_records")["asset"].to_list() == ["x"]


def test_retention_never_prunes_a_quarantine_table():
    assert not {s.spec.name for s in SOURCES} & set(PRUNED_TABLES)
    assert QUARANTINED_RECORDS.name not in PRUNED_TABLES
