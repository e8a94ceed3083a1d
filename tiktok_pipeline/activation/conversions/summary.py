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
from tiktok_pipeline.governance.window_figures import Figures, Json, Markdown
from tiktok_pipeline.warehouse.io import read_frame
from tiktok_pipeline.warehouse.tables import CONVERSION_OUTBOX
from tiktok_pipeline.windows import utc_naive, window_key, window_starts

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


def outbox_by_status(
    connection: duckdb.DuckDBPyConnection, start: datetime, end: datetime
) -> dict[str, dict[str, int]]:
    """Outbox rows of each window of ``[start, end)`` per status (window key → status → rows)."""
    frame = read_frame(
        connection,
        f"""SELECT window_start, status, count(*) AS n FROM {CONVERSION_OUTBOX.name}
            WHERE window_start >= ? AND window_start < ? GROUP BY 1, 2""",
        [utc_naive(start), utc_naive(end)],
    )
    by_status: dict[str, dict[str, int]] = {window_key(s): {} for s in window_starts(start, end)}
    for window, status, n in frame.iter_rows():
        by_status[window_key(window)][status] = n
    return by_status


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
    if report.split_requests:
        lines.append(
            (
                "warning",
                f"TikTok refused whole requests for bad events: {report.split_requests} more requests split them"
                " to send the others (see rejected events)",
            )
        )
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


OUTCOMES = ("sent", "rejected", "ambiguous", "pending")


def window_figures(report: RelayReport, by_status: dict[str, dict[str, int]], quarantine: pl.DataFrame) -> Figures:
    """Each window's own figures: its outbox rows (``dagster/row_count``, ``outbox_by_status``), its orders, and
    what this run did with that window's events (queued, already sent or rejected, and the outcomes). Events
    of other windows relayed by the run are not in any window's figures (see :func:`run_figures`)."""
    quarantined = quarantine.group_by("window_start").len()
    per_window = {window_key(w): n for w, n in quarantined.iter_rows()}
    figures: Figures = {}
    for window, counts in report.by_window.items():
        key = window_key(window)
        figures[key] = {
            "dagster/row_count": sum(by_status[key].values()),
            "orders_in_window": counts["orders"],
            "queued": counts["queued"],
            "already_sent_or_rejected": counts["already_sent"],
            "changed_after_queue": counts["changed_after_queue"],
            **{outcome: counts[outcome] for outcome in OUTCOMES},
            "quarantined_orders": per_window.get(key, 0),
            "outbox_by_status": Json(by_status[key]),
        }
    return figures


def run_figures(report: RelayReport, loaded: LoadedOrders) -> dict[str, Any]:
    """What the run did that belongs to no single window: requests, events relayed from other windows (and
    their outcomes), what was left alone, the exports read (those quarantined whole, those left for a later run
    because they are still being written) and TikTok's rejection reasons."""
    reasons = report.rejections.most_common(10)
    return {
        "requests": report.requests,
        "split_requests": report.split_requests,
        "relayed_from_other_windows": report.relayed_from_other_windows,
        **{f"relayed_{outcome}": report.relayed[outcome] for outcome in OUTCOMES},
        "ambiguous_not_resent": report.ambiguous_not_resent,
        "missing_source": report.missing_source,
        "duplicates_skipped": report.already_sent + loaded.duplicate_orders,
        "duplicate_orders_in_exports": loaded.duplicate_orders,
        "export_files": loaded.files,
        "exports_unreadable": loaded.unreadable_files,
        "exports_still_being_written": len(loaded.waiting),
        "rejection_reasons": Markdown(
            markdown_table(
                pl.DataFrame(
                    {"reason": [r for r, _ in reasons], "events": [n for _, n in reasons]},
                    schema={"reason": pl.String, "events": pl.Int64},
                ),
                empty="_none_",
            )
        ),
        "batches": Json(report.batches[:50]),
    }


def relay_figures(
    report: RelayReport, loaded: LoadedOrders, by_status: dict[str, dict[str, int]], quarantine: pl.DataFrame
) -> tuple[Figures, dict[str, Any]]:
    """(each window's figures, the run's figures). A one-window run's figures are its window's, under their own
    names; a run over several windows adds the run's figures and totals to every window, prefixed ``range_``
    (``range_ambiguous``: every event the run left ambiguous, its windows' and those relayed)."""
    by_window = window_figures(report, by_status, quarantine)
    run = run_figures(report, loaded)
    if len(by_window) == 1:
        for figures in by_window.values():
            figures.update(run)
        return by_window, {}
    keys = list(by_window)
    totals = {
        "range_windows": len(keys),
        "range_first_window": keys[0],
        "range_last_window": keys[-1],
        "range_row_count": sum(int(f["dagster/row_count"]) for f in by_window.values()),
        "range_orders": report.orders_in_windows,
        "range_queued": report.queued,
        "range_already_sent_or_rejected": report.already_sent,
        "range_changed_after_queue": report.changed_after_queue,
        **{f"range_{outcome}": getattr(report, outcome) for outcome in OUTCOMES},
        "range_quarantined_orders": quarantine.height,
    }
    return by_window, {**totals, **{f"range_{name}": value for name, value in run.items()}}
