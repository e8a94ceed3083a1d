"""The ``quarantined_records`` governance asset over a real window run, on a warehouse with the old shared table."""

from datetime import timedelta

import dagster as dg
import polars as pl
import pytest

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.warehouse.io import Write, connect, replace_windows
from tiktok_pipeline.warehouse.tables import QUARANTINED_RECORDS
from tiktok_pipeline_tests.conftest import open_warehouse

from .conftest import T0
from .test_assets import materialize_range

OLD = T0 - timedelta(days=1)  # rows the old writers left a day before: no run replaces them


def seed_shared_table(settings) -> int:
    legacy = pl.DataFrame(
        {
            "window_start": [OLD.replace(tzinfo=None)] * 4,
            "reason": ["video", "ad 1", "ad 2", "order"],
            "asset": ["raw_video_snapshots", "raw_ad_metrics", "raw_ad_metrics", "conversion_outbox"],
        }
    )
    with connect(settings.warehouse) as con:
        replace_windows(con, OLD, OLD + timedelta(minutes=5), Write(QUARANTINED_RECORDS, legacy))
    return legacy.height


@pytest.mark.both_backends
def test_the_governance_asset_finishes_the_migration_and_reports_rows_per_source(settings, instance):
    legacy = seed_shared_table(settings)
    assert materialize_range(settings, T0, T0, instance=instance).success  # the video side adopts its row
    with open_warehouse(settings) as con:
        assert con.execute("SELECT count(*) FROM display_api_quarantine WHERE reason = 'video'").fetchone() == (1,)
        video_rows = con.execute("SELECT count(*) FROM display_api_quarantine").fetchone()[0]

    defs = build_definitions(settings)
    result = dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.assets("quarantined_records"),
        resources=dict(defs.resources),
        instance=instance,
    )
    assert result.success
    [event] = [e for e in result.all_events if e.is_step_materialization]
    meta = {k: v.value for k, v in event.step_materialization_data.materialization.metadata.items()}
    assert meta["rows_display_api_quarantine"] == video_rows
    assert meta["rows_ad_report_quarantine"] == 2 and meta["rows_conversion_quarantine"] == 1
    assert meta["legacy_rows_adopted"] == legacy - 1 and meta["dagster/row_count"] == video_rows + 3

    with open_warehouse(settings) as con:
        kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = 'quarantined_records'")
        assert kind.fetchall() == [("VIEW",)]
        old = con.execute(
            "SELECT asset, reason FROM quarantined_records WHERE window_start < ? ORDER BY 1, 2",
            [T0.replace(tzinfo=None)],
        ).fetchall()
    assert old == [
        ("conversion_outbox", "order"),
        ("raw_ad_metrics", "ad 1"),
        ("raw_ad_metrics", "ad 2"),
        ("raw_video_snapshots", "video"),
    ]
