"""The raw window tables (snapshots, creators, quarantine, telemetry), on 5-minute partitions; enriched metrics
and velocity are in ``process.py``.

Each asset is thin: it reads its inputs from the warehouse, calls plain functions, replaces its windows
in one transaction and describes what it wrote, window by window. Backfills of many windows run as one
run (``BackfillPolicy.single_run()``); each window's materialisation still carries that window's own
figures and check evaluations (``tiktok_pipeline.defs.metadata``), range totals are prefixed ``range_``.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from tiktok_pipeline.defs.metadata import (
    KINDS,
    check_specs,
    partition_range,
    report_windows,
    severities,
    window_check_events,
)
from tiktok_pipeline.defs.partitions import WINDOW_FRESHNESS, WINDOWS
from tiktok_pipeline.defs.resources import (
    DisplayApiResource,
    QualityResource,
    TrackingRegistryResource,
)
from tiktok_pipeline.defs.videos.checks import BLOCKING, RAW_CHECKS
from tiktok_pipeline.defs.videos.config import RawSnapshotsConfig
from tiktok_pipeline.governance import window_figures as figures
from tiktok_pipeline.governance.telemetry import RunTiming
from tiktok_pipeline.ingest.land import DisplayCollection, WindowNotObservableError
from tiktok_pipeline.ingest.parse.display import PARSER_VERSION
from tiktok_pipeline.ingest.snapshots import (
    NothingObservedError,
    NothingTrackedError,
    ObservedRange,
    observe_windows,
    require_tracked,
    write_raw_snapshots,
)
from tiktok_pipeline.quality.window_checks import (
    observation_history,
    raw_by_window,
)
from tiktok_pipeline.sources.display_api.consent import revoked_creators
from tiktok_pipeline.sources.http.calllog import recording
from tiktok_pipeline.warehouse.io import WarehouseResource
from tiktok_pipeline.warehouse.tables import (
    DISPLAY_API_QUARANTINE,
    POLL_TELEMETRY,
    RAW_CREATOR_SNAPSHOTS,
    RAW_VIDEO_SNAPSHOTS,
    TableSpec,
)
from tiktok_pipeline.warehouse.waits import metering

"""A window table not updated for 10 minutes warns, for 15 fails: a 5-minute pipeline 20 minutes behind is stale."""

RAW_VIDEO_DOC = """One row per video and window: cumulative counts as TikTok reported them.

Collected from the Display API (`user/info`, `video/list`, `video/query`) for every creator in the
tracking registry. The raw responses are landed under `data/landing/display_api/` before parsing;
records that fail validation go to `display_api_quarantine` with their raw payload and reason."""

RAW_CREATOR_DOC = """One row per creator and window: follower, like and video totals from `user/info` (the Display
API's rows, `source = 'display_api'`; this step replaces only those). When the analytics provider is switched on, its
step (`provider_video_snapshots`) writes the creators' profiles it crawled into the same table with `source =
'analytics_provider'`: every reader keeps the sources apart (README "Approved analytics provider")."""

TELEMETRY_DOC = """One row per window: requests, videos polled, due-but-deferred (queue depth), retries, 429, 5xx
and timeout counts, calls given up on the retry budget, why each discovery's pagination stopped (per reason),
error rate, request latency percentiles and freshness (window close → data landed), broken down for the run that
collected the window: close → run requested (the sensor's tick), → run started (queue), → landed. Derived
from the landed responses (the breakdown from the collecting run's record), so a re-parse reproduces the rest. Velocity's freshness is on video_velocity
(`ready_seconds_after_close` of each window's materialisation)."""

QUARANTINE_DOC = """Display API records that failed validation, kept with their raw payload, source (endpoint and
landing file), window and a reason naming the field. Nothing is dropped silently: each row is one record
missing from raw_video_snapshots or raw_creator_snapshots. Written only by the raw snapshots step;
`quarantined_records` is the view over every source's quarantine table (this one included)."""

COMMON: dict[str, Any] = dict(partitions_def=WINDOWS, backfill_policy=dg.BackfillPolicy.single_run())


def _raw_spec(spec: TableSpec, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        spec.name,
        description=description,
        group_name="collect",
        kinds=KINDS,
        metadata=spec.asset_metadata,
        code_version=PARSER_VERSION,
        freshness_policy=WINDOW_FRESHNESS,
    )


@dg.multi_asset(
    specs=[
        _raw_spec(RAW_VIDEO_SNAPSHOTS, RAW_VIDEO_DOC),
        _raw_spec(RAW_CREATOR_SNAPSHOTS, RAW_CREATOR_DOC),
        _raw_spec(DISPLAY_API_QUARANTINE, QUARANTINE_DOC),
        _raw_spec(POLL_TELEMETRY, TELEMETRY_DOC),
    ],
    check_specs=check_specs("raw_video_snapshots", RAW_CHECKS, BLOCKING),
    name="raw_snapshots",
    can_subset=True,
    **COMMON,
)
def raw_snapshots(
    context: dg.AssetExecutionContext,
    config: RawSnapshotsConfig,
    display_api: DisplayApiResource,
    tracking_registry: TrackingRegistryResource,
    warehouse: WarehouseResource,
    quality: QualityResource,
):
    """Observe the tracked creators' videos (all of them, or the sensor's plan), land the raw responses, parse them
    once per window, and write the selected tables (any subset: one writer per table), with a row per call made in
    api_call_log."""
    start, end = partition_range(context)
    with recording() as calls:
        observed, usernames = _observe(context, config, display_api, tracking_registry, start, end)
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    with metering() as waited, warehouse.connection() as connection:
        write_raw_snapshots(connection, start, end, observed, selected, calls, waited)
        previous, sightings = observation_history(
            connection, start, end, timedelta(minutes=quality.policy.creator_silence_minutes)
        )
    try:
        observed.raise_if_nothing_observed()
    except NothingObservedError as exc:
        raise dg.Failure(description=str(exc)) from exc
    yield from _raw_results(context, observed, selected, waited.seconds)
    if "raw_video_snapshots" in selected:
        outcomes = raw_by_window(observed, previous, sightings, usernames, quality.policy)
        yield from window_check_events(context, "raw_video_snapshots", outcomes, severities(RAW_CHECKS))


def _observe(context, config, display_api, tracking_registry, start, end) -> tuple[ObservedRange, list[str]]:
    """Land and parse the windows; an empty registry or an unobservable window fails the run with the reason."""
    try:
        tracked = require_tracked(tracking_registry.load().usernames, tracking_registry.path)
        revoked = revoked_creators(Path(display_api.token_store_path), datetime.now(UTC))
        usernames = [u for u in tracked if u not in revoked]  # neither collected nor expected to report
        if revoked & set(tracked):
            context.log.info("not collecting creators whose grant was revoked: %s", ", ".join(sorted(revoked)))
        with display_api.client() as client:
            how = DisplayCollection(
                client,
                usernames,
                landing_dir=Path(display_api.landing_dir),
                horizon=display_api.horizon,
                max_age=display_api.max_window_age,
                observe_at_window_end=display_api.observe_at_window_end,
                recollect=config.recollect,
                plan=config.plan.to_plan() if config.plan else None,
            )
            gaps = config.plan.gap_windows_before if config.plan else 0
            run = RunTiming.of_run(context.instance, context.run.run_id)
            observed = observe_windows(how, start, end, now=datetime.now(UTC), gap_windows_before=gaps, run=run)
    except (NothingTrackedError, WindowNotObservableError) as exc:
        raise dg.Failure(description=str(exc)) from exc
    for window in observed.windows:
        for user, why in window.landed.failures.items():
            if user in window.landed.reauthorise:
                context.log.error("creator %s must re-authorise (%s): %s", user, window.key, why)
            else:
                context.log.warning("collection failed for %s %s: %s", window.key, user, why)
        for user, why in window.landed.deferred.items():
            context.log.info("%s %s: %s", window.key, user, why)
    return observed, usernames


def _raw_results(context: dg.AssetExecutionContext, observed: ObservedRange, selected: set[str], waited: float):
    """One materialisation per selected table, each window with its own figures (range totals on multi-window runs);
    ``waited``: the step's wait for the warehouse."""
    keys = [w.key for w in observed.windows]
    per_asset = {
        "raw_video_snapshots": lambda: figures.raw_video_figures(observed),
        "raw_creator_snapshots": lambda: figures.row_count_figures(observed.creators, keys),
        "display_api_quarantine": lambda: figures.quarantine_figures(observed.quarantine, keys),
        "poll_telemetry": lambda: figures.telemetry_figures(observed, waited),
    }
    for asset, compute in per_asset.items():
        if asset not in selected:
            continue
        by_window = compute()
        report_windows(context, asset, by_window)
        totals = figures.raw_video_range_figures(observed) if asset == "raw_video_snapshots" else {}
        yield dg.MaterializeResult(
            asset_key=asset, metadata=(totals or figures.range_totals(by_window)) if len(keys) > 1 else {}
        )
