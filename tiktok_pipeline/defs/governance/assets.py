"""``quarantined_records`` (group ``govern``): every source's rejected records in one view, for analysts.

The view holds no rows: each source's quarantine table has one writer, the asset that parses the source
(``display_api_quarantine`` of the raw snapshots step, ``ad_report_quarantine`` of ``raw_ad_metrics``,
``conversion_quarantine`` of ``conversion_outbox``). This asset owns the view: it (re)creates it over every
``*_quarantine`` table, finishes the move of the old shared table's rows into their sources' tables, and
reports the rows per source. Declarative: ``automation_condition_sensor`` runs it after any source writes.
"""

import dagster as dg

from tiktok_pipeline.defs.metadata import KINDS
from tiktok_pipeline.warehouse.io import WarehouseResource
from tiktok_pipeline.warehouse.quarantine import SOURCES, publish_quarantine_view
from tiktok_pipeline.warehouse.tables import QUARANTINED_RECORDS

QUARANTINED_DOC = """Every record a source rejected, in one place: a **view** over the per-source quarantine tables
(`display_api_quarantine`: Display API responses; `ad_report_quarantine`: ad report rows; `conversion_quarantine`:
order exports, redacted), with the window, the source (endpoint and landing file, or export file and line), the
reason naming the field and the raw payload. `asset` tells the sources apart. Nothing is dropped silently: each
row is one record missing from its source's table; retention never deletes them (the audit trail).

Each source table is written only by its source's asset, in the same transaction as that asset's rows, so
re-running a window replaces that source's records and nobody else's. This asset (re)creates the view
(materialised by `automation_condition_sensor` after any source writes; the writers also create the view on
their first write, so it exists from the first window run on) and reports the rows per source."""

QUARANTINE_AUTOMATION = (
    dg.AutomationCondition.any_deps_updated().since_last_handled().with_label("a source wrote its quarantine")
    & ~dg.AutomationCondition.in_progress()
)
"""Requested once after any source's materialisation (one request for many), not while its own run is in flight.
Unlike ``eager()`` it does not wait for every window of the partitioned sources to exist."""


@dg.asset(
    name=QUARANTINED_RECORDS.name,
    deps=sorted({source.writer for source in SOURCES}),
    group_name="govern",
    kinds=KINDS,
    description=QUARANTINED_DOC,
    metadata={
        **QUARANTINED_RECORDS.asset_metadata,
        "source_tables": dg.MetadataValue.json({s.spec.name: s.writer for s in SOURCES}),
    },
    automation_condition=QUARANTINE_AUTOMATION,
)
def quarantined_records(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """(Re)create the view over every source's quarantine table; its rows per source."""
    with warehouse.connection() as connection:
        published = publish_quarantine_view(connection)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": published.total,
            **{f"rows_{s.spec.name}": published.rows.get(s.spec.name, 0) for s in SOURCES},
            "legacy_rows_adopted": sum(published.adopted.values()),
            "source_tables": dg.MetadataValue.json(sorted(published.rows)),
        }
    )
