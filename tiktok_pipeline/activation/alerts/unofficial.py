"""Alerts that come from the unofficial LIVE source say so: the label on any alert, and the viewer-spike alert.

Runs of definitions that read an unofficial source carry the run tag ``tiktok/source_terms: unofficial`` (the job's
tags); a failed check or failed run of such a run is alerted with :func:`labelled`, so its title, summary and
facts say "unofficial source". The viewer-spike alert (``TIKTOK_LIVE_VIEWER_ALERT_THRESHOLD``) is derived from
``live_stream_metrics`` only, so it is always labelled.
"""

from __future__ import annotations

from datetime import datetime

import dagster as dg
import polars as pl

from tiktok_pipeline.activation.alerts.compose import asset_url
from tiktok_pipeline.activation.alerts.models import Alert
from tiktok_pipeline.governance.admission import TERMS_TAG
from tiktok_pipeline.warehouse.tables.live import LIVE_STREAM_METRICS, UNOFFICIAL

LABEL = "UNOFFICIAL SOURCE"
NOTE = (
    "Derived from an unofficial source: LIVE events collected by the user with a community connector, outside"
    " TikTok's terms (source live_events)."
)


def run_terms(run: dg.DagsterRun | None) -> str:
    """The source terms a run's tags declare ('' for runs of official sources)."""
    return (run.tags.get(TERMS_TAG, "") if run is not None else "") or ""


def labelled(alert: Alert | None, source_terms: str) -> Alert | None:
    """``alert`` marked as coming from an unofficial source when ``source_terms`` is 'unofficial'."""
    if alert is None or source_terms != UNOFFICIAL or alert.title.startswith(f"[{LABEL}]"):
        return alert
    return alert.model_copy(
        update={
            "title": f"[{LABEL}] {alert.title}",
            "summary": f"{alert.summary} {NOTE}",
            "facts": [*alert.facts, ("Source terms", "unofficial source")],
        }
    )


def viewer_spike_alert(
    window_key: str, streams: pl.DataFrame, threshold: int, ui_url: str, now: datetime
) -> Alert | None:
    """One alert naming the LIVE streams whose peak viewers reached ``threshold`` in a window; None when none did.

    ``streams`` needs room_id, creator, peak_viewers, comments, gifts, likes.
    """
    hot = streams.filter(pl.col("peak_viewers") >= threshold).sort("peak_viewers", descending=True)
    if hot.is_empty():
        return None
    top = hot.row(0, named=True)
    rows = [
        [r["creator"], r["room_id"], str(r["peak_viewers"]), str(r["comments"]), str(r["gifts"]), str(r["likes"])]
        for r in hot.head(10).iter_rows(named=True)
    ]
    return Alert(
        alert_id=f"business:live_stream_metrics:peak_viewers:{window_key}:INFO",
        kind="business",
        severity="INFO",
        title=f"[{LABEL}] {hot.height} LIVE stream{'s' if hot.height != 1 else ''} at {threshold:,}+ viewers"
        f" ({window_key} UTC)",
        summary=(
            f"{top['creator']}'s LIVE stream {top['room_id']} peaked at {top['peak_viewers']:,} viewers in the window"
            f" {window_key}. {NOTE}"
        ),
        facts=[
            ("Window", window_key),
            ("Streams over threshold", str(hot.height)),
            ("Threshold", f"{threshold:,} viewers"),
            ("Source terms", "unofficial source"),
        ],
        table_columns=["creator", "stream", "peak viewers", "comments", "gifts", "likes"],
        table_rows=rows,
        link_url=asset_url(ui_url, LIVE_STREAM_METRICS.name),
        link_text="Open live_stream_metrics in Dagster",
        created_at=now,
    )
