"""What a conversions run reports: its quarantined orders, log lines and figures (counts and reasons, no personal data)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import polars as pl
from polars._typing import PolarsDataType

from tiktok_pipeline.activation.conversions.orders import LoadedOrders
from tiktok_pipeline.activation.conversions.relay import RelayReport
from tiktok_pipeline.governance.markdown import markdown_table
from tiktok_pipeline.warehouse.io import read_frame
from tiktok_pipeline.warehouse.tables import CONVERSION_OUTBOX
from tiktok_pipeline.windows import utc_naive

QUARANTINE_SCHEMA: dict[str, PolarsDataType] = {
    "window_start": pl.Datetime("us"),
    "source": pl.String,
    "reason": pl.String,
    "payload": pl.String,
    "asset": pl.String,
}


def quarantined_orders(loaded: LoadedOrders, start: datetime, end: datetime) -> pl.DataFrame:
    """The bad orders of the windows ``[start, end)`` as ``conversion_quarantine`` rows (payloads already redacted)."""
    rows = [{**row, "window_start": utc_naive(row["window_start"])} for row in loaded.quarantined_in(start, end)]
    return pl.DataFrame(rows, schema=QUARANTINE_SCHEMA)


def outbox_by_status(connection: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> dict[str, int]:
    """Outbox rows of the windows ``[start, end)`` per status."""
    frame = read_frame(
        connection,
        f"SELECT status, count(*) AS n FROM {CONVERSION_OUTBOX.name} WHERE window_start >= ? AND window_start < ? GROUP BY 1",
        [utc_naive(start), utc_naive(end)],
    )
    return dict(frame.iter_rows())


def relay_log(report: RelayReport) -> list[tuple[str, str]]:
    """(level, message) lines describing a relay: ``info`` for the summary, ``warning`` for what needs a look."""
    lines = [
        (
            "info",
            f"{report.orders_in_windows} orders in range, {report.queued} newly queued, {report.already_sent} already sent or"
            f" rejected (skipped); {report.requests} requests: {report.sent} sent, {report.rejected} rejected,"
            f" {report.ambiguous} ambiguous, {report.pending} pending",
        )
    ]
    lines += [("warning", f"TikTok rejected {n} events: {reason}") for reason, n in report.rejections.most_common(10)]
    if report.ambiguous:
        lines.append(
            (
                "warning",
                f"{report.ambiguous} events got no answer: resent by a later run while TikTok still deduplicates them",
            )
        )
    if report.ambiguous_not_resent:
        lines.append(
            (
                "warning",
                f"{report.ambiguous_not_resent} ambiguous events are older than the resend horizon and are left alone (see conversion_outbox)",
            )
        )
    if report.missing_source:
        lines.append(
            ("warning", f"{report.missing_source} due events are no longer in any export file and were not sent")
        )
    return lines


def relay_figures(
    report: RelayReport, loaded: LoadedOrders, by_status: dict[str, int], quarantined: int
) -> dict[str, Any]:
    """The figures of a conversion_outbox materialisation (the ``rejection_reasons`` value is Markdown)."""
    reasons = report.rejections.most_common(10)
    return {
        "dagster/row_count": sum(by_status.values()),
        "orders_in_range": report.orders_in_windows,
        "queued": report.queued,
        "requests": report.requests,
        "sent": report.sent,
        "rejected": report.rejected,
        "ambiguous": report.ambiguous,
        "pending": report.pending,
        "duplicates_skipped": report.already_sent + loaded.duplicate_orders,
        "already_sent_or_rejected": report.already_sent,
        "duplicate_orders_in_exports": loaded.duplicate_orders,
        "relayed_from_other_windows": report.relayed_from_other_windows,
        "ambiguous_not_resent": report.ambiguous_not_resent,
        "missing_source": report.missing_source,
        "changed_after_queue": report.changed_after_queue,
        "quarantined_orders": quarantined,
        "export_files": loaded.files,
        "rejection_reasons": markdown_table(
            pl.DataFrame(
                {"reason": [r for r, _ in reasons], "events": [n for _, n in reasons]},
                schema={"reason": pl.String, "events": pl.Int64},
            ),
            empty="_none_",
        ),
    }
