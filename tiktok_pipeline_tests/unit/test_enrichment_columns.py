"""The enriched asset reads only the raw columns it carries: the list must follow the tables."""

from tiktok_pipeline.metrics.enrichment import SNAPSHOT_COLUMNS
from tiktok_pipeline.warehouse.tables import ENRICHED_VIDEO_METRICS, RAW_VIDEO_SNAPSHOTS


def test_snapshot_columns_are_exactly_the_raw_columns_enriched_metrics_keep():
    kept = [c for c in ENRICHED_VIDEO_METRICS.column_names if c in RAW_VIDEO_SNAPSHOTS.column_names]
    assert list(SNAPSHOT_COLUMNS) == kept
