"""LIVE intake assets (group ``live``), every one labelled UNOFFICIAL: kind ``unofficial``, tags
``tiktok/source_terms: unofficial``, descriptions that start with it, a ``source_terms`` column on every row.

- ``live_events_raw``: each window takes the LIVE event lines added to ``TIKTOK_LIVE_INTAKE_DIR`` since the last
  take (:mod:`tiktok_pipeline.ingest.collect.live`), lands them, validates each line and writes the events, and
  the rejected lines to ``live_events_rejected``, in one transaction.
- ``live_stream_metrics``: per window and stream, comments, gifts, likes, follows, shares and peak viewers.

Launched by ``live_intake_sensor`` (``live_intake_job``) when the folder holds lines not taken yet.
"""

from datetime import UTC, datetime

import dagster as dg

from tiktok_pipeline.defs.live.resources import LiveIntakeResource
from tiktok_pipeline.defs.metadata import (
    KINDS,
    check_specs,
    partition_range,
    report_windows,
    severities,
    window_check_events,
)
from tiktok_pipeline.defs.partitions import WINDOWS
from tiktok_pipeline.governance.admission import SOURCE_TAG, TERMS_TAG
from tiktok_pipeline.governance.owners import GROWTH
from tiktok_pipeline.ingest.collect.live import describe, land_live_window
from tiktok_pipeline.ingest.land import WindowNotObservableError
from tiktok_pipeline.ingest.parse.live import PARSER_VERSION, ParsedLive, concat, parse_live_window
from tiktok_pipeline.metrics.live import stream_figures, stream_metrics
from tiktok_pipeline.quality.live_schemas import by_window, live_events_schema, live_metrics_schema
from tiktok_pipeline.warehouse.io import WarehouseResource, Write, read_frame, replace_windows, table_exists
from tiktok_pipeline.warehouse.tables.live import LIVE_EVENTS_RAW, LIVE_EVENTS_REJECTED, LIVE_STREAM_METRICS, UNOFFICIAL
from tiktok_pipeline.windows import utc_naive, window_key, window_starts

LIVE_GROUP = "live"
UNOFFICIAL_TAGS = {SOURCE_TAG: "live_events", TERMS_TAG: UNOFFICIAL}
"""On every LIVE definition: leaves them out unless the source is in use, shows the label, reaches alerts."""
BANNER = (
    "**UNOFFICIAL SOURCE** (`live_events`): TikTok has no public LIVE events API; these events were collected by"
    " the user with a community connector, outside TikTok's terms, under a recorded risk acceptance.\n\n"
)
RAW_CHECKS = {
    "live_events_raw_schema": (
        dg.AssetCheckSeverity.ERROR,
        "Structure (Pandera) of the window's events: known types, ids, non-negative counts, one row per intake line,"
        " source_terms 'unofficial' on every row. Blocking.",
    )
}
METRICS_CHECKS = {
    "live_stream_metrics_schema": (
        dg.AssetCheckSeverity.ERROR,
        "Structure (Pandera) of the window's stream figures: one row per stream, non-negative figures, every row"
        " labelled unofficial.",
    )
}
LIVE_ASSET: dict = dict(
    partitions_def=WINDOWS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=LIVE_GROUP,
    kinds=KINDS | {UNOFFICIAL},
    tags=UNOFFICIAL_TAGS,
    owners=[GROWTH],
)


@dg.asset(
    name=LIVE_EVENTS_RAW.name,
    description=BANNER
    + "One row per LIVE event line (comment, gift, like, viewer count, follow, share) that passed validation, in"
    " the window that took it from `TIKTOK_LIVE_INTAKE_DIR`. Lines are landed under `data/landing/live_events/`"
    " first; each line is taken once, a partial last line waits. Rejected lines go to `live_events_rejected` with"
    " their payload and reason. Viewer ids are stored as SHA-256, comment text not at all.",
    metadata={
        **LIVE_EVENTS_RAW.asset_metadata,
        "quarantine_table": LIVE_EVENTS_REJECTED.name,
        "source_terms": UNOFFICIAL,
    },
    code_version=PARSER_VERSION,
    check_specs=check_specs(LIVE_EVENTS_RAW.name, RAW_CHECKS, blocking=set(RAW_CHECKS)),
    **LIVE_ASSET,
)
def live_events_raw(context: dg.AssetExecutionContext, live_intake: LiveIntakeResource, warehouse: WarehouseResource):
    """Take each window's new intake lines, land them, and write the events and rejected lines (UNOFFICIAL)."""
    start, end = partition_range(context)
    now = datetime.now(UTC)
    parsed: list[ParsedLive] = []
    figures: dict[str, dict] = {}
    gaps: dict[str, str] = {}
    for window in window_starts(start, end):
        key = window_key(window)
        try:
            landed = land_live_window(live_intake.intake, window, now=now)
        except WindowNotObservableError as exc:
            gaps[key] = str(exc)
            context.log.warning(f"LIVE window {key} took nothing: {exc}")
            continue
        window_rows = parse_live_window(window, landed.records)
        parsed.append(window_rows)
        figures[key] = {
            **describe(landed.records),
            "events": window_rows.events.height,
            "rejected_lines": window_rows.rejected.height,
            "taken_now": landed.collected,
            "source_terms": UNOFFICIAL,
        }
    if not parsed:
        raise dg.Failure(description=f"no window of the run could take LIVE lines: {next(iter(gaps.values()))}")
    rows = concat(parsed)
    with warehouse.connection() as connection:
        replace_windows(
            connection, start, end, Write(LIVE_EVENTS_RAW, rows.events), Write(LIVE_EVENTS_REJECTED, rows.rejected)
        )
    report_windows(context, LIVE_EVENTS_RAW.name, figures)
    yield dg.MaterializeResult(metadata={"source_terms": UNOFFICIAL, "windows_not_taken": len(gaps)})
    outcomes = by_window(
        "live_events_raw_schema", live_events_schema(), rows.events, [s for s in window_starts(start, end)]
    )
    yield from window_check_events(context, LIVE_EVENTS_RAW.name, outcomes, severities(RAW_CHECKS))


@dg.asset(
    name=LIVE_STREAM_METRICS.name,
    deps=[LIVE_EVENTS_RAW.name],
    description=BANNER
    + "Per window and LIVE stream: events, comments, gifts (a streak counted once, whole), gift diamonds, likes,"
    " follows, shares and peak viewers, from `live_events_raw` (the window is the one that took the lines).",
    metadata={**LIVE_STREAM_METRICS.asset_metadata, "source_terms": UNOFFICIAL},
    check_specs=check_specs(LIVE_STREAM_METRICS.name, METRICS_CHECKS),
    **LIVE_ASSET,
)
def live_stream_metrics(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Per-stream figures of each window's LIVE events (UNOFFICIAL)."""
    start, end = partition_range(context)
    with warehouse.connection() as connection:
        events = (
            read_frame(
                connection,
                f'SELECT * FROM "{LIVE_EVENTS_RAW.name}" WHERE window_start >= ? AND window_start < ?',
                [utc_naive(start), utc_naive(end)],
            )
            if table_exists(connection, LIVE_EVENTS_RAW.name)
            else LIVE_EVENTS_RAW.empty()
        )
        metrics = stream_metrics(events)
        replace_windows(connection, start, end, Write(LIVE_STREAM_METRICS, metrics))
    starts = list(window_starts(start, end))
    by_key = {
        window_key(s): {
            **stream_figures(metrics.filter(metrics["window_start"] == utc_naive(s))),
            "source_terms": UNOFFICIAL,
        }
        for s in starts
    }
    report_windows(context, LIVE_STREAM_METRICS.name, by_key)
    yield dg.MaterializeResult(metadata={"source_terms": UNOFFICIAL})
    outcomes = by_window("live_stream_metrics_schema", live_metrics_schema(), metrics, starts)
    yield from window_check_events(context, LIVE_STREAM_METRICS.name, outcomes, severities(METRICS_CHECKS))
