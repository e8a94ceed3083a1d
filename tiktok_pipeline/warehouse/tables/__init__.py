"""The warehouse's tables, described once: DDL, Polars casts and the UI's column descriptions (one module per domain)."""

from tiktok_pipeline.warehouse.tables.activation import ALERTS, CONVERSION_OUTBOX
from tiktok_pipeline.warehouse.tables.ads import AD_VELOCITY, RAW_AD_METRICS
from tiktok_pipeline.warehouse.tables.consent import CREATOR_CONSENT
from tiktok_pipeline.warehouse.tables.governance import API_CALL_LOG
from tiktok_pipeline.warehouse.tables.live import LIVE_EVENTS_RAW, LIVE_EVENTS_REJECTED, LIVE_STREAM_METRICS
from tiktok_pipeline.warehouse.tables.merchandising import MERCHANDISING_DELIVERIES, MERCHANDISING_FEED
from tiktok_pipeline.warehouse.tables.now import TOP_MOVERS_LAST_HOUR, TOP_MOVERS_VIEW, VIDEO_CURRENT_STATE
from tiktok_pipeline.warehouse.tables.pacing import BUDGET_CHANGES, PACING_RECOMMENDATIONS
from tiktok_pipeline.warehouse.tables.quarantine import (
    AD_REPORT_QUARANTINE,
    ANALYTICS_PROVIDER_QUARANTINE,
    CONVERSION_QUARANTINE,
    DISPLAY_API_QUARANTINE,
    QUARANTINED_RECORDS,
    SHOP_ORDER_QUARANTINE,
)
from tiktok_pipeline.warehouse.tables.rollups import DAILY_CREATOR_METRICS, DAILY_VIDEO_METRICS
from tiktok_pipeline.warehouse.tables.shop import RAW_SHOP_ORDERS, SHOP_SKU_SALES
from tiktok_pipeline.warehouse.tables.spec import Column, Retention, TableSpec
from tiktok_pipeline.warehouse.tables.swaps import CREATIVE_SWAP_RECOMMENDATIONS
from tiktok_pipeline.warehouse.tables.versions import SCHEMA_VERSIONS
from tiktok_pipeline.warehouse.tables.videos import (
    ENRICHED_VIDEO_METRICS,
    POLL_TELEMETRY,
    RAW_CREATOR_SNAPSHOTS,
    RAW_VIDEO_SNAPSHOTS,
    VIDEO_VELOCITY,
)

ALL_TABLES: tuple[TableSpec, ...] = (
    RAW_VIDEO_SNAPSHOTS,
    RAW_CREATOR_SNAPSHOTS,
    DISPLAY_API_QUARANTINE,
    ANALYTICS_PROVIDER_QUARANTINE,
    POLL_TELEMETRY,
    ENRICHED_VIDEO_METRICS,
    VIDEO_VELOCITY,
    VIDEO_CURRENT_STATE,
    TOP_MOVERS_LAST_HOUR,
    DAILY_VIDEO_METRICS,
    DAILY_CREATOR_METRICS,
    RAW_AD_METRICS,
    AD_REPORT_QUARANTINE,
    AD_VELOCITY,
    CONVERSION_OUTBOX,
    CONVERSION_QUARANTINE,
    QUARANTINED_RECORDS,
    ALERTS,
    API_CALL_LOG,
    LIVE_EVENTS_RAW,
    LIVE_EVENTS_REJECTED,
    LIVE_STREAM_METRICS,
    SCHEMA_VERSIONS,
    CREATOR_CONSENT,
    CREATIVE_SWAP_RECOMMENDATIONS,
    MERCHANDISING_FEED,
    MERCHANDISING_DELIVERIES,
    PACING_RECOMMENDATIONS,
    BUDGET_CHANGES,
    RAW_SHOP_ORDERS,
    SHOP_ORDER_QUARANTINE,
    SHOP_SKU_SALES,
)
"""Every table and view of the warehouse, in the data dictionary's order (``docs/data-dictionary.md``)."""

__all__ = [
    "ALL_TABLES",
    "AD_REPORT_QUARANTINE",
    "ANALYTICS_PROVIDER_QUARANTINE",
    "AD_VELOCITY",
    "BUDGET_CHANGES",
    "ALERTS",
    "API_CALL_LOG",
    "CONVERSION_OUTBOX",
    "CONVERSION_QUARANTINE",
    "CREATIVE_SWAP_RECOMMENDATIONS",
    "CREATOR_CONSENT",
    "Column",
    "DAILY_CREATOR_METRICS",
    "DAILY_VIDEO_METRICS",
    "DISPLAY_API_QUARANTINE",
    "ENRICHED_VIDEO_METRICS",
    "LIVE_EVENTS_RAW",
    "LIVE_EVENTS_REJECTED",
    "LIVE_STREAM_METRICS",
    "MERCHANDISING_DELIVERIES",
    "MERCHANDISING_FEED",
    "PACING_RECOMMENDATIONS",
    "POLL_TELEMETRY",
    "QUARANTINED_RECORDS",
    "RAW_AD_METRICS",
    "RAW_CREATOR_SNAPSHOTS",
    "RAW_SHOP_ORDERS",
    "RAW_VIDEO_SNAPSHOTS",
    "Retention",
    "SCHEMA_VERSIONS",
    "SHOP_ORDER_QUARANTINE",
    "SHOP_SKU_SALES",
    "TableSpec",
    "TOP_MOVERS_LAST_HOUR",
    "TOP_MOVERS_VIEW",
    "VIDEO_CURRENT_STATE",
    "VIDEO_VELOCITY",
]
