"""``governance_report`` (group ``govern``): per day and source, the calls of ``api_call_log`` against declared limits.

Unpartitioned: the report is a small aggregate over a small table (one row per logical call), recomputed
whole in milliseconds, and a day's calls keep arriving until the day ends (late windows, retried alerts), so
a daily partition would have to be re-materialised anyway. Each materialisation plots the latest day's
figures (``calls_<source>``, ``quota_used_pct_<source>``, ...) and shows every day in a Markdown table.
"""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl

from tiktok_pipeline.defs.governance.resources import RiskAcceptancesResource
from tiktok_pipeline.defs.metadata import KINDS
from tiktok_pipeline.governance.call_report import REPORT_COLUMN_DOCS, daily_call_summary, report_metadata
from tiktok_pipeline.governance.markdown import markdown_table
from tiktok_pipeline.governance.provider_validation import load_validation, validation_section
from tiktok_pipeline.governance.risk import SourceRefused, load_acceptances
from tiktok_pipeline.governance.risk_register import acceptance_states
from tiktok_pipeline.governance.sources import SOURCES
from tiktok_pipeline.warehouse.io import WarehouseResource

REPORT_DOC = """What the pipeline asked of each source, per UTC day: calls, errors (no answer, HTTP 4xx/5xx or a
TikTok error code), 429s, attempts, quota used against the limits declared in `SOURCES`
(`governance/sources.py`), and p95 latency, from `api_call_log` (one row per logical outbound call, written by
every step that calls out). Secrets and personal data are never in the log, so never here. Also lists every risk
acceptance recorded in TIKTOK_RISK_ACCEPTANCES_PATH with its state (current, expired, not yet valid) and whether it
admits a declared unofficial source (`risk_acceptances`), and each approved analytics provider's validation: its
declared facts and the refresh interval, staleness and coverage measured by `benchmarks/provider_validation.py`,
with the date measured (`provider_validation`)."""


REPORT_SCHEMA = dg.TableSchema(
    columns=[dg.TableColumn(name, kind, description=doc) for name, (kind, doc) in REPORT_COLUMN_DOCS.items()]
)


@dg.asset(group_name="govern", kinds=KINDS, description=REPORT_DOC, metadata={"dagster/column_schema": REPORT_SCHEMA})
def governance_report(warehouse: WarehouseResource, risk_acceptances: RiskAcceptancesResource) -> dg.MaterializeResult:
    """Summarise api_call_log per day and source; plottable figures of the latest day and a table of every day; the
    risk acceptances on record and their state; the approved providers' validation (declared and measured)."""
    with warehouse.connection(read_only=True) as connection:
        summary = daily_call_summary(connection)
    measured = load_validation()
    try:
        acceptances = acceptance_states(
            SOURCES,
            load_acceptances(Path(risk_acceptances.path)),
            datetime.now(UTC),
            switched_on=risk_acceptances.switched_on,
        )
        shown = markdown_table(pl.DataFrame(acceptances), empty="_no risk acceptance is recorded_")
    except SourceRefused as exc:  # no unofficial source is declared, so the load did not need the file
        acceptances, shown = [], f"_{exc}_"
    return dg.MaterializeResult(
        metadata={
            **report_metadata(summary),
            "days": summary["day"].n_unique() if not summary.is_empty() else 0,
            "report": dg.MetadataValue.md(markdown_table(summary)),
            "risk_acceptances": dg.MetadataValue.md(shown),
            "unofficial_sources_admitted": sum(row["standing"] == "admits the source" for row in acceptances),
            "provider_validation": dg.MetadataValue.md(validation_section(SOURCES, measured)),
            "provider_validation_measured_at": (measured or {}).get("measured_at", "not measured"),
        }
    )
