"""``provider_video_snapshots``: the analytics provider's observations of every window, in ``raw_video_snapshots`` (and
its creator profiles in ``raw_creator_snapshots``).

Thin: it lands each window's provider answers (the one landing path), parses them, and replaces the provider's rows
of the windows (``source = 'analytics_provider'``) of raw_video_snapshots and raw_creator_snapshots with its
quarantine and call log in one transaction. A provider that fails (after retries) never fails the window: its failed
calls are landed and counted, and the window is collected afresh by a later run while it can still be observed, so
the Display API's velocity never waits on it.
"""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from tiktok_pipeline.defs.metadata import KINDS, partition_range, report_windows
from tiktok_pipeline.defs.partitions import WINDOWS
from tiktok_pipeline.defs.provider.resources import AnalyticsProviderResource
from tiktok_pipeline.governance.admission import SOURCE_TAG, TERMS_TAG
from tiktok_pipeline.ingest.land import WindowNotObservableError
from tiktok_pipeline.ingest.provider_snapshots import (
    ProviderCollection,
    observe_provider_windows,
    write_provider_snapshots,
)
from tiktok_pipeline.sources.http.calllog import recording
from tiktok_pipeline.warehouse.io import WarehouseResource
from tiktok_pipeline.warehouse.tables import ANALYTICS_PROVIDER_QUARANTINE, RAW_VIDEO_SNAPSHOTS

PROVIDER_TAGS = {SOURCE_TAG: "analytics_provider", TERMS_TAG: "approved_provider"}

SNAPSHOTS_DOC = """The approved analytics provider's video counts, one row per video and window, written into
`raw_video_snapshots` with `source = 'analytics_provider'` (the table's other rows are the Display API's), and its
creator profiles (`influencer/list`: followers, following, likes, videos) into `raw_creator_snapshots` with the same
source, in one transaction. It covers creators who never authorised the app. `observed_at` is the provider's own `updated_at` (its last crawl), not our
fetch time: its data refreshes only every few minutes, and deltas over stale data taken at fetch time would lie.
Raw answers land under `data/landing/analytics_provider/` first; bad records go to `analytics_provider_quarantine`."""

QUARANTINE_DOC = """Analytics provider records that failed validation (field named in the reason) or that the provider
repeated within one window, with their raw payload; written only by provider_video_snapshots."""


def _spec(name: str, description: str, metadata: dict) -> dg.AssetSpec:
    return dg.AssetSpec(
        name, description=description, group_name="collect", kinds=KINDS, metadata=metadata, tags=PROVIDER_TAGS
    )


@dg.multi_asset(
    specs=[
        _spec("provider_video_snapshots", SNAPSHOTS_DOC, RAW_VIDEO_SNAPSHOTS.asset_metadata),
        _spec("analytics_provider_quarantine", QUARANTINE_DOC, ANALYTICS_PROVIDER_QUARANTINE.asset_metadata),
    ],
    name="provider_snapshots",
    partitions_def=WINDOWS,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def provider_snapshots(
    context: dg.AssetExecutionContext, analytics_provider: AnalyticsProviderResource, warehouse: WarehouseResource
):
    """Poll the analytics provider for the windows, land its answers, and write its rows of raw_video_snapshots and
    raw_creator_snapshots and its quarantine (one transaction, with a row per call in api_call_log)."""
    start, end = partition_range(context)
    with recording() as calls, analytics_provider.client() as client:
        how = ProviderCollection(
            client,
            Path(analytics_provider.landing_dir),
            observe_at_window_end=analytics_provider.simulator,
            max_age=analytics_provider.max_window_age,
            page_size=analytics_provider.page_size,
            max_pages=analytics_provider.max_pages,
            refresh_minutes=analytics_provider.refresh_minutes,
        )
        try:
            windows = observe_provider_windows(how, start, end, now=datetime.now(UTC))
        except WindowNotObservableError as exc:
            raise dg.Failure(description=str(exc)) from exc
    for window in windows:
        for subject, why in window.landed.failures.items():
            context.log.warning("analytics provider %s %s: %s", window.key, subject, why)
    with warehouse.connection() as connection:
        write_provider_snapshots(connection, start, end, windows, calls)
    figures = {w.key: w.figures for w in windows}
    report_windows(context, "provider_video_snapshots", figures)
    report_windows(
        context, "analytics_provider_quarantine", {k: {"rows": v["quarantined"]} for k, v in figures.items()}
    )
    yield dg.MaterializeResult(asset_key="provider_video_snapshots")
    yield dg.MaterializeResult(asset_key="analytics_provider_quarantine")
