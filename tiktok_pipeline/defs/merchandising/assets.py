"""``merchandising_feed``: SKUs ranked per window by the momentum of the videos promoting them, published as files
and, when configured, pushed once per feed version to a signed webhook (``tiktok_pipeline/activation/merchandising/``)."""

from pathlib import Path

import dagster as dg
import polars as pl

from tiktok_pipeline.activation.merchandising import ledger
from tiktok_pipeline.activation.merchandising.files import Feed, Published, publish
from tiktok_pipeline.activation.merchandising.webhook import FeedPusher
from tiktok_pipeline.activation.window_signals import window_sales, window_videos
from tiktok_pipeline.defs.merchandising.resources import MerchandisingResource
from tiktok_pipeline.defs.metadata import (
    KINDS,
    check_specs,
    partition_range,
    report_windows,
    severities,
    window_check_events,
)
from tiktok_pipeline.defs.partitions import WINDOW_FRESHNESS, WINDOWS
from tiktok_pipeline.defs.resources import TrackingRegistryResource
from tiktok_pipeline.defs.swaps.assets import ACTIVATION_GROUP, SWAPS_AUTOMATION
from tiktok_pipeline.governance.markdown import markdown_table
from tiktok_pipeline.governance.window_figures import range_totals
from tiktok_pipeline.metrics.merchandising import feed_items, rank_skus, with_versions
from tiktok_pipeline.quality.activation_schemas import by_window, merchandising_feed_schema
from tiktok_pipeline.sources.http.calllog import recording
from tiktok_pipeline.warehouse.call_log import write_calls
from tiktok_pipeline.warehouse.io import WarehouseResource, Write, create_or_extend, replace_windows, write_transaction
from tiktok_pipeline.warehouse.tables import (
    ENRICHED_VIDEO_METRICS,
    MERCHANDISING_DELIVERIES,
    MERCHANDISING_FEED,
    VIDEO_VELOCITY,
)
from tiktok_pipeline.windows import utc_naive, window_key, window_starts

FEED_CHECKS = {
    "merchandising_feed_schema": (
        dg.AssetCheckSeverity.ERROR,
        "Structure (Pandera) of the window's feed: one row per SKU, unique ranks from 1, at least one promoting"
        " video each, one feed version.",
    )
}

FEED_DOC = """The merchandising feed: per window, SKUs (tracking registry `product_skus`) ranked by the momentum of the
videos that promote them: a video promotes its creator's SKUs and those of every creator tracked under one of its
campaigns. A SKU's figure is the highest momentum among them (ties: views per minute, then SKU). **Real sales**: when
TikTok Shop was polled for the window (`shop_sku_sales`), SKUs with a video of their own creators rank by units sold
in the trailing hour first (`units_60m`, `revenue_60m`), then by momentum; without Shop data the ranking is
momentum's alone.

The run's newest window is published to `TIKTOK_MERCH_FEED_DIR` as `merchandising_feed.json` and `.csv` (the top
`TIKTOK_MERCH_FEED_SIZE` SKUs), each replaced atomically, with its version `<window>-<content hash>`; a backfill of an
older window writes its rows but never replaces a newer published feed. With `TIKTOK_MERCH_WEBHOOK_URL` (and its
signing key `TIKTOK_MERCH_WEBHOOK_SECRET`) the published feed is pushed, signed (HMAC-SHA256), retried on 429, 5xx
and timeouts, and at most once per version (ledger `merchandising_deliveries`).

Materialised automatically (`automation_condition_sensor`) for the last 30 minutes' windows once their
`video_velocity` is in; a re-run replaces the window's rows."""


@dg.asset(
    name=MERCHANDISING_FEED.name,
    deps=[VIDEO_VELOCITY.name, ENRICHED_VIDEO_METRICS.name],
    description=FEED_DOC,
    metadata={**MERCHANDISING_FEED.asset_metadata, "ledger_table": MERCHANDISING_DELIVERIES.name},
    check_specs=check_specs(MERCHANDISING_FEED.name, FEED_CHECKS),
    automation_condition=SWAPS_AUTOMATION,
    partitions_def=WINDOWS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=ACTIVATION_GROUP,
    kinds=KINDS,
    freshness_policy=WINDOW_FRESHNESS,
)
def merchandising_feed(
    context: dg.AssetExecutionContext,
    merchandising: MerchandisingResource,
    tracking_registry: TrackingRegistryResource,
    warehouse: WarehouseResource,
):
    """Rank the SKUs of each window, replace the window's rows, publish the newest window's feed and push it once."""
    start, end = partition_range(context)
    starts = list(window_starts(start, end))
    with warehouse.connection() as connection:
        videos = window_videos(connection, start, end)
        sales = window_sales(connection, start, end)
        rows = with_versions(rank_skus(videos, tracking_registry.load().to_frame(), sales), merchandising.feed_size)
        replace_windows(connection, start, end, Write(MERCHANDISING_FEED, rows))
        # the push ledger exists (empty) from the first run, pushing or not: what the data dictionary lists is there
        write_transaction(connection, lambda tx: create_or_extend(tx, MERCHANDISING_DELIVERIES))
    figures = {window_key(s): _figures(rows.filter(pl.col("window_start") == utc_naive(s))) for s in starts}
    report_windows(context, MERCHANDISING_FEED.name, figures)
    newest = rows.filter(pl.col("window_start") == utc_naive(starts[-1]))
    metadata = {
        **(range_totals(figures) if len(figures) > 1 else {}),
        **_publish(context, merchandising, warehouse, newest),
    }
    shown = (
        newest.sort("rank").head(10).select("rank", "sku", "units_60m", "momentum", "views_per_minute", "top_video_id")
    )
    metadata["top_skus"] = dg.MetadataValue.md(markdown_table(shown, empty="No SKU promoted by a video with momentum."))
    yield dg.MaterializeResult(metadata=metadata)
    outcomes = by_window("merchandising_feed_schema", merchandising_feed_schema, rows, starts)
    yield from window_check_events(context, MERCHANDISING_FEED.name, outcomes, severities(FEED_CHECKS))


def _figures(rows: pl.DataFrame) -> dict[str, float | str]:
    return {
        "dagster/row_count": rows.height,
        "skus": float(rows.height),
        "top_momentum": float(rows["momentum"].max() or 0.0) if rows.height else 0.0,  # type: ignore[arg-type]
    }


def _publish(
    context: dg.AssetExecutionContext,
    merchandising: MerchandisingResource,
    warehouse: WarehouseResource,
    newest: pl.DataFrame,
) -> dict[str, str]:
    """Publish the newest window's feed and push it when configured; what happened, as metadata."""
    if newest.is_empty():
        context.log.info("no SKU promoted by a video with momentum in the newest window: the published feed is kept")
        return {"feed_published": "nothing to publish"}
    feed = Feed(newest["feed_version"][0], newest["window_start"][0], feed_items(newest, merchandising.feed_size))
    published = publish(Path(merchandising.feed_dir), feed)
    context.log.info(f"merchandising feed {feed.version}: {published.outcome}")
    result = {"feed_version": feed.version, "feed_published": published.outcome}
    pusher = merchandising.pusher()
    if pusher is None:
        return result
    with pusher:
        result["feed_pushed"] = _push_once(context, pusher, warehouse, feed, published)
    return result


def _push_once(
    context: dg.AssetExecutionContext,
    pusher: FeedPusher,
    warehouse: WarehouseResource,
    feed: Feed,
    published: Published,
) -> str:
    """Push ``feed`` unless a newer one is published or its version is already in the ledger; the outcome."""
    if published.outcome == "kept_newer":
        return "not pushed: a newer window's feed is published"
    with warehouse.connection() as connection:
        row = ledger.begin(connection, feed.version, feed.window_start, context.run.run_id)
    if row is None:
        return "not pushed: this version was pushed before"
    with recording() as calls:
        outcome = pusher.push(feed.json_bytes(), feed.version)
    with warehouse.connection() as connection:
        write_calls(connection, calls)
        status = ledger.finish(
            connection,
            row,
            delivered=outcome.delivered,
            answered=outcome.answered,
            attempts=outcome.attempts,
            http_status=outcome.http_status,
            error=outcome.error,
        )
    if not outcome.delivered:
        context.log.error(f"merchandising feed {feed.version} not delivered ({status}): {outcome.error}")
    return status
