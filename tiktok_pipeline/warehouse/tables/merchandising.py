"""The merchandising feed: SKUs ranked by the momentum of the videos promoting them, and its webhook deliveries."""

from __future__ import annotations

from tiktok_pipeline.governance.owners import GROWTH
from tiktok_pipeline.warehouse.tables.spec import WINDOW_COLUMN, Column, Retention, TableSpec
from tiktok_pipeline.warehouse.tables.versions import AddColumn, Migration

MERCHANDISING_FEED = TableSpec(
    "merchandising_feed",
    (
        WINDOW_COLUMN,
        Column("rank", "BIGINT", "1 = the SKU to feature first in this window."),
        Column("sku", "VARCHAR", "Product SKU (tracking registry product_skus)."),
        Column(
            "creator_momentum",
            "DOUBLE",
            "The first ranking figure: the highest momentum (video_velocity) among the window's videos of the creators"
            " who list the SKU; null when none of them has a video with momentum (the SKU then ranks after every SKU"
            " with one).",
        ),
        Column(
            "momentum",
            "DOUBLE",
            "The second ranking figure: the highest momentum among all the videos promoting the SKU (its creators' and"
            " its campaigns'). Ties: views_per_minute, then sku.",
        ),
        Column("mean_momentum", "DOUBLE", "Mean momentum of the videos promoting the SKU."),
        Column("views_per_minute", "DOUBLE", "Views per minute summed over the videos promoting the SKU."),
        Column(
            "promoting_videos",
            "BIGINT",
            "Videos with a momentum that promote the SKU: their creator lists it, or a creator of their campaign does.",
        ),
        Column("creator_videos", "BIGINT", "Of those, videos whose own creator lists the SKU."),
        Column(
            "top_video_id",
            "VARCHAR",
            "The promoting video with the highest momentum among its creators' videos, else among its campaigns'.",
        ),
        Column("creator_username", "VARCHAR", "Creator of top_video_id."),
        Column("feed_version", "VARCHAR", "Version of the window's feed: <window key>-<content hash>."),
        Column(
            "units_60m",
            "BIGINT",
            "TikTok Shop units of the SKU sold in the hour ending at the window's end (shop_sku_sales); null when the"
            " shop has not been polled for the window. Ranks SKUs with the same kind of promotion (before momentum).",
        ),
        Column("revenue_60m", "DOUBLE", "Their revenue (shop_sku_sales.revenue_60m, in the shop's currency)."),
    ),
    description="Per window: SKUs ranked by TikTok Shop sales in the trailing hour (when the shop was polled) and the"
    " momentum of the videos promoting them (registry SKUs through the creator or the campaign).",
    owner=GROWTH,
    sources=("display_api", "tracking_registry", "tiktok_shop"),
    retention=Retention.KEPT,
    version=2,
    migrations=(
        Migration(
            2,
            (AddColumn("units_60m"), AddColumn("revenue_60m")),
            why="real sales from TikTok Shop (null in rows ranked before)",
        ),
    ),
)

MERCHANDISING_DELIVERIES = TableSpec(
    "merchandising_deliveries",
    (
        Column("feed_version", "VARCHAR", "The feed version pushed (key): never delivered twice."),
        Column("window_start", "TIMESTAMP", "Window of the feed."),
        Column(
            "status",
            "VARCHAR",
            "sending: a push is in flight (or was, when a process died): never pushed again. delivered: the webhook"
            " answered 2xx. failed: it answered otherwise, after retries: pushed again by the next run of the window."
            " ambiguous: no attempt was answered (the receiver may have it): never pushed again.",
        ),
        Column("attempts", "BIGINT", "HTTP attempts over all runs."),
        Column("http_status", "BIGINT", "Status of the last answer; null without one."),
        Column("last_error", "VARCHAR", "Last error (never the webhook URL)."),
        Column("first_attempt_at", "TIMESTAMP", "First push (UTC)."),
        Column("delivered_at", "TIMESTAMP", "When the webhook accepted it (UTC)."),
        Column("run_id", "VARCHAR", "Dagster run that last changed the row."),
    ),
    description="One row per merchandising feed version pushed to TIKTOK_MERCH_WEBHOOK_URL: the ledger that keeps a"
    " version from being pushed twice.",
    owner=GROWTH,
    sources=("display_api", "tracking_registry"),
    retention=Retention.KEPT,
)
