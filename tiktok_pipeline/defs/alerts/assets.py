"""The ``alerts`` table: written by ``alert_job`` (an external asset: no step materialises it)."""

import dagster as dg

from tiktok_pipeline.warehouse.tables import ALERTS

alerts_table = dg.AssetSpec(
    ALERTS.name,
    description=(
        "Every alert composed by alert_job: failed asset checks, failed runs and momentum digests, with where "
        "each was delivered. Recorded even when no Slack or Teams webhook is configured; undelivered alerts "
        "are retried on later alert runs."
    ),
    group_name="govern",
    kinds={"duckdb"},
    metadata=ALERTS.asset_metadata,
)
