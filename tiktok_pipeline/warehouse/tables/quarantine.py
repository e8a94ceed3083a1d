"""Quarantine: one table per source, each written by the asset that parses the source; their union view."""

from __future__ import annotations

from tiktok_pipeline.governance.owners import DATA_PLATFORM, GROWTH
from tiktok_pipeline.warehouse.tables.spec import WINDOW_COLUMN, Column, Retention, TableSpec

QUARANTINED_RECORDS = TableSpec(
    "quarantined_records",
    (
        WINDOW_COLUMN,
        Column("source", "VARCHAR", "Endpoint and landing file (or export file and line) the record came from."),
        Column("log_id", "VARCHAR", "TikTok's log_id (or request_id) of the response, if any."),
        Column("reason", "VARCHAR", "Why the record was rejected, naming the field."),
        Column("payload", "VARCHAR", "The raw record as JSON, exactly as received (conversions: redacted)."),
        Column(
            "asset",
            "VARCHAR",
            "The asset whose materialisation quarantined it: raw_video_snapshots (Display API), raw_ad_metrics"
            " (API for Business reports), conversion_outbox (order exports), provider_video_snapshots (the"
            " analytics provider) or raw_shop_orders (TikTok Shop).",
        ),
    ),
    description="The view over every source's quarantine table: each record rejected by validation, with its reason.",
    owner=DATA_PLATFORM,
    sources=("display_api", "business_reporting", "order_exports", "analytics_provider", "tiktok_shop"),
    retention=Retention.VIEW,
    view=True,
)
"""The columns every quarantine table shares, and the view ``quarantined_records``: the union of every source's
``<source>_quarantine`` table (:mod:`tiktok_pipeline.warehouse.quarantine`). Each source table has one writer, the
asset that parses the source; the view's owner is the governance asset ``quarantined_records``."""


def _quarantine_spec(name: str, source: str, asset: str, *, owner: str, sources: tuple[str, ...]) -> TableSpec:
    """A source's quarantine table: the shared columns, with what ``source`` and ``asset`` hold for that source;
    owned by the owner of ``asset``, its only writer."""
    described = {
        "source": source,
        "asset": f"Always {asset}: the table the record is missing from (the same value in quarantined_records).",
    }
    return TableSpec(
        name,
        tuple(
            Column(c.name, c.type, described[c.name]) if c.name in described else c for c in QUARANTINED_RECORDS.columns
        ),
        description=f"Records of {', '.join(sources)} that failed validation, written only by {asset}.",
        owner=owner,
        sources=sources,
        retention=Retention.AGED,
    )


DISPLAY_API_QUARANTINE = _quarantine_spec(
    "display_api_quarantine",
    "Endpoint (user/info, video/list, video/query) and landing file the record came from.",
    "raw_video_snapshots",
    owner=DATA_PLATFORM,
    sources=("display_api",),
)
"""Display API records that failed validation, written only by the raw snapshots step (asset display_api_quarantine)."""

AD_REPORT_QUARANTINE = _quarantine_spec(
    "ad_report_quarantine",
    "Endpoint (report/integrated/get, ad/get) and landing file the row came from.",
    "raw_ad_metrics",
    owner=GROWTH,
    sources=("business_reporting",),
)
"""Ad report rows that failed validation, written only by raw_ad_metrics (in the transaction that replaces its hours)."""

CONVERSION_QUARANTINE = _quarantine_spec(
    "conversion_quarantine",
    "Export file and line the order came from: conversions/<file>:<line>.",
    "conversion_outbox",
    owner=GROWTH,
    sources=("order_exports",),
)
"""Orders of the shop's exports that failed validation (payloads redacted), written only by conversion_outbox (in
the transaction that queues its orders)."""

ANALYTICS_PROVIDER_QUARANTINE = _quarantine_spec(
    "analytics_provider_quarantine",
    "Endpoint (video/list) and landing file the record came from.",
    "provider_video_snapshots",
    owner=DATA_PLATFORM,
    sources=("analytics_provider",),
)
"""Analytics provider records that failed validation, written only by provider_video_snapshots (in the transaction
that writes its rows of raw_video_snapshots)."""
SHOP_ORDER_QUARANTINE = _quarantine_spec(
    "shop_order_quarantine",
    "Endpoint (orders/search) and landing file the order came from.",
    "raw_shop_orders",
    owner=GROWTH,
    sources=("tiktok_shop",),
)
"""TikTok Shop orders that failed validation (buyer fields already digests), written only by raw_shop_orders (in the
transaction that upserts its lines)."""
