"""Enriched metrics and velocity: one step writing both tables' windows in one transaction (issue 13).

``enriched_video_metrics`` and ``video_velocity`` stay two assets (own keys, checks, per-window figures), made by
one subsettable ``multi_asset``: selected together they share one connection and one commit (a commit per table
cost a second WAL checkpoint); selected alone, each writes only its own table. A failed blocking check of the
enriched rows keeps velocity from being written, as when they were two steps (velocity is computed while the checks
run beside it, in a thread, and dropped). A range (a backfill as one run) reads its enriched rows turn by turn,
computes their velocity once, then writes both tables turn by turn (``warehouse/turns.py``)."""

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
from dagster._core.errors import DagsterAssetCheckFailedError

from tiktok_pipeline.defs.metadata import (
    KINDS,
    check_specs,
    partition_range,
    report_windows,
    severities,
    window_check_events,
)
from tiktok_pipeline.defs.partitions import WINDOW_FRESHNESS, WINDOWS
from tiktok_pipeline.defs.resources import PollingResource, QualityResource, TrackingRegistryResource
from tiktok_pipeline.defs.videos.checks import BLOCKING, ENRICHED_CHECKS, VELOCITY_CHECKS
from tiktok_pipeline.governance import window_figures as figures
from tiktok_pipeline.ingest.polling.state import (
    PollingState,
    WindowRows,
    prepare_polling_state,
    read_fold,
    write_polling_state,
)
from tiktok_pipeline.metrics.enrichment import enrich_windows
from tiktok_pipeline.metrics.process import velocity_by_turn, write_enriched_and_velocity
from tiktok_pipeline.quality.schemas import velocity_schema
from tiktok_pipeline.quality.window_checks import enriched_by_window, schema_by_window
from tiktok_pipeline.warehouse.io import WarehouseResource
from tiktok_pipeline.warehouse.tables import ENRICHED_VIDEO_METRICS, VIDEO_VELOCITY
from tiktok_pipeline.warehouse.turns import turn_connections, turns
from tiktok_pipeline.warehouse.waits import metering
from tiktok_pipeline.windows import window_key, window_starts

ENRICHED = "enriched_video_metrics"
VELOCITY = "video_velocity"

SNAPSHOT_ASSETS = ["raw_video_snapshots", "provider_video_snapshots"]
"""Whose rows of raw_video_snapshots the enriched metrics read: the Display API's and (when switched on) the analytics
provider's, so a window's run enriches after both landed."""

ENRICHED_DOC = """Raw video snapshots joined with the tracking registry (campaign IDs, product SKUs,
audience tags) plus engagement rate = (likes + comments + shares) / views and video age. One row per video and
window: the Display API's when it observed the video, else the analytics provider's (`source`)."""

VELOCITY_DOC = """How fast each video moves now: the 30-minute view delta against the latest observation
of the same source at or before 30 minutes earlier (as-of join by video and source: never across sources), views per minute over the real elapsed time, the
engagement-rate change, and momentum (recent rate over lifetime rate; above 1 means a surge).
Each run also refreshes the polling state (data/polling_state/) that the polling sensor plans from."""


def _spec(name: str, upstream: list[str], description: str, metadata: dict) -> dg.AssetSpec:
    return dg.AssetSpec(
        name,
        deps=upstream,
        group_name="process",
        kinds=KINDS,
        description=description,
        metadata=metadata,
        freshness_policy=WINDOW_FRESHNESS,
    )


@dg.multi_asset(
    specs=[
        _spec(ENRICHED, SNAPSHOT_ASSETS, ENRICHED_DOC, ENRICHED_VIDEO_METRICS.asset_metadata),
        _spec(VELOCITY, [ENRICHED], VELOCITY_DOC, VIDEO_VELOCITY.asset_metadata),
    ],
    check_specs=[
        *check_specs(ENRICHED, ENRICHED_CHECKS, BLOCKING),
        *check_specs(VELOCITY, VELOCITY_CHECKS, BLOCKING),
    ],
    name="enriched_and_velocity",
    can_subset=True,
    partitions_def=WINDOWS,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def enriched_and_velocity(
    context: dg.AssetExecutionContext,
    tracking_registry: TrackingRegistryResource,
    warehouse: WarehouseResource,
    polling: PollingResource,
    quality: QualityResource,
):
    """Snapshots with campaign IDs, SKUs, audience tags and engagement rate, then the 30-minute view delta, views
    per minute, engagement-rate change and momentum per video and window: the selected tables, one transaction."""
    # the last connection closes (DuckDB checkpointing its WAL into the file) in this thread while the step reports
    # its events; the step ends once it has, and once the warehouse lock has gone
    with ThreadPoolExecutor(1, thread_name_prefix="warehouse-close") as closer:
        yield from _enriched_and_velocity(context, tracking_registry, warehouse, polling, quality, closer)


def _enriched_and_velocity(
    context: dg.AssetExecutionContext,
    tracking_registry: TrackingRegistryResource,
    warehouse: WarehouseResource,
    polling: PollingResource,
    quality: QualityResource,
    closer: ThreadPoolExecutor,
):
    """The step's work (:func:`enriched_and_velocity`), its last connection closed in ``closer``."""
    start, end = partition_range(context)
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    keys = [window_key(s) for s in window_starts(start, end)]
    spans = turns(start, end)  # a range takes the warehouse an hour at a time: a live window waits for one turn at most
    enriched = outcomes = state = None
    parts: list[pl.DataFrame | None] = [None] * len(spans)
    wait_totals: dict[str, float] = {}  # each window's steps' wait for the warehouse (poll_telemetry), by key
    velocity: pl.DataFrame | None = None  # every turn's velocity rows: a range's before its turns, else after them
    velocity_parts: Sequence[pl.DataFrame | None] = [None] * len(spans)  # a range's, by turn, computed before writing
    velocity_checked: Future | None = None
    closed: Future | None = None  # the last connection's closing, in ``closer``
    state_dir = Path(polling.state_dir)
    # a step's checks run in a thread beside its warehouse work (DuckDB lets go of the GIL while it works): the
    # enriched rows' checks while velocity is computed (written only if no blocking check failed), velocity's while
    # the polling state is refreshed and the connection closes (issue 13: a window's steps within 1.5x plain DuckDB)
    with metering() as waited, ThreadPoolExecutor(1, thread_name_prefix="window-checks") as checks:
        # the registry is read and validated beside the first connection's opening
        registry = checks.submit(lambda: tracking_registry.load().to_frame()) if ENRICHED in selected else None
        # a turn goes on with the previous turn's connection unless a live window waits for the warehouse
        bulk = partial(warehouse.connection, bulk=len(spans) > 1)  # a range's turns: fewer WAL checkpoints
        range_checked: Future | None = None
        if registry is not None and len(spans) > 1:  # a range reads every turn first: a failed check writes no velocity
            with turn_connections(spans, bulk, warehouse.urgent_waiting) as each_turn:
                for i, ((lo, hi), connection) in enumerate(each_turn):
                    parts[i] = enrich_windows(connection, registry.result(), lo, hi)
            enriched = pl.concat([p for p in parts if p is not None], how="vertical_relaxed")
            range_checked = checks.submit(enriched_by_window, enriched, start, end, quality.policy)
        blocked = ""
        written = []
        with turn_connections(spans, bulk, warehouse.urgent_waiting) as each_turn:
            for i, ((lo, hi), connection) in enumerate(each_turn):
                if range_checked is not None and i == 0:
                    # a range's velocity from its enriched rows in one query while their checks run; written by the
                    # turns only if no blocking check failed, and checked in turn while they write
                    assert enriched is not None  # read above, with its checks
                    if VELOCITY in selected:
                        velocity, velocity_parts = velocity_by_turn(connection, enriched, spans)
                    outcomes = range_checked.result()
                    blocked = _blocking_failures(outcomes)
                    if blocked:
                        velocity, velocity_parts = None, [None] * len(spans)
                    elif velocity is not None:
                        velocity_checked = _check_velocity(checks, velocity, start, end, quality.policy)
                if i == len(spans) - 1:  # read beside the last turn's work, under its lock, for the polling state
                    fold_read = checks.submit(read_fold, state_dir)
                enriched_checked: Future | None = None
                if registry is not None and parts[i] is None:  # one window: read and write on the same connection
                    enriched = parts[i] = enrich_windows(connection, registry.result(), lo, hi)
                    enriched_checked = checks.submit(enriched_by_window, enriched, start, end, quality.policy)
                rows = write_enriched_and_velocity(
                    connection,
                    lo,
                    hi,
                    parts[i],
                    velocity=VELOCITY in selected and not blocked,
                    waited=waited,
                    wait_totals=wait_totals,
                    gate=None if enriched_checked is None else _passes(enriched_checked),
                    rows=velocity_parts[i],
                )
                if enriched_checked is not None:
                    outcomes = enriched_checked.result()
                    blocked = _blocking_failures(outcomes)
                if rows is not None:
                    written.append(rows)
                if i == len(spans) - 1 and written:
                    if velocity is None:
                        velocity = pl.concat(written, how="vertical_relaxed")
                        velocity_checked = _check_velocity(checks, velocity, start, end, quality.policy)
                    # The fold is read and written under the warehouse lock, so it always matches the tables it has
                    # read (a concurrent backfill's rebuild can never be overwritten by a fold that missed its rows).
                    # Its reads now; the rest (from the window's rows in memory, when they are all it has not read)
                    # in the thread while the connection closes and checkpoints, and written before the lock goes.
                    # (one turn: its enriched rows read on this connection)
                    held = WindowRows(start, end, enriched, velocity) if enriched is not None and i == 0 else None
                    finish = prepare_polling_state(
                        connection, polling.horizon, previous=fold_read.result(), window_start=start, rows=held
                    )
                    refreshed = checks.submit(_refresh_polling_state, finish, state_dir)
                    closed = closer.submit(_let_go, connection, refreshed, each_turn.hand_over())
                    state = refreshed.result()
    if enriched is not None and outcomes is not None:
        by_window = figures.enriched_figures(enriched, keys)
        report_windows(context, ENRICHED, by_window)
        yield dg.MaterializeResult(
            asset_key=ENRICHED, metadata=figures.range_totals(by_window) if len(by_window) > 1 else {}
        )
        yield from window_check_events(context, ENRICHED, outcomes, severities(ENRICHED_CHECKS))
    if VELOCITY in selected and blocked:
        # The error Dagster itself raises for a step stopped by a failed blocking check (it would only raise it after
        # recording a velocity materialisation that was never written): the check's alert says what failed, and
        # the run-failure alert leaves such runs to it (activation/alerts/triggers.py).
        raise DagsterAssetCheckFailedError(
            f"video_velocity not computed: blocking checks of {ENRICHED} failed with ERROR severity ({blocked})"
        )
    if velocity is not None:
        by_window = figures.velocity_figures(velocity, keys, datetime.now(UTC), wait_totals)
        report_windows(context, VELOCITY, by_window)
        totals = figures.range_totals(by_window) if len(by_window) > 1 else {}
        yield dg.MaterializeResult(
            asset_key=VELOCITY,
            metadata={**totals, "tracked_videos_after_run": state.videos.height if state else 0},
        )
        assert velocity_checked is not None  # submitted with the last turn's rows
        yield from window_check_events(context, VELOCITY, velocity_checked.result(), severities(VELOCITY_CHECKS))
    if closed is not None:
        closed.result()  # a failed checkpoint fails the step


def _let_go(connection: duckdb.DuckDBPyConnection, written: Future, held: ExitStack) -> None:
    """Close ``connection`` (DuckDB checkpoints its WAL into the file, without the GIL), then, once the polling
    state is ``written`` (under the lock, so that it matches the tables), let go of the warehouse lock (``held``)."""
    with held:
        connection.close()
        wait([written])  # its error, if any, is the step's to raise


def _refresh_polling_state(finish: Callable[[], PollingState], directory: Path) -> PollingState:
    """The polling state finished (:func:`prepare_polling_state`) and written to ``directory``."""
    state = finish()
    write_polling_state(state, directory)
    return state


def _check_velocity(checks: ThreadPoolExecutor, velocity: pl.DataFrame, start, end, policy) -> Future:
    """Velocity's checks of ``velocity`` (the windows ``[start, end)``), submitted to run beside the warehouse work."""
    return checks.submit(schema_by_window, "velocity_schema", velocity_schema, velocity, start, end, policy)


def _passes(checked: Future) -> Callable[[], bool]:
    """Whether no blocking check of the enriched rows failed (``checked``: their outcomes, waited for when asked)."""
    return lambda: not _blocking_failures(checked.result())


def _blocking_failures(outcomes) -> str:
    """The blocking checks that failed, with their windows ("" when none did or nothing was checked)."""
    failed = sorted(
        f"{name} {window}"
        for window, by_check in (outcomes or {}).items()
        for name, outcome in by_check.items()
        if name in BLOCKING and not outcome.passed
    )
    return ", ".join(failed)
