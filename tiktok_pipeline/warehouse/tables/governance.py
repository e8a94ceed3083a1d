"""Governance tables: ``api_call_log``, one row per logical outbound call (:mod:`tiktok_pipeline.sources.http.calllog`)."""

from __future__ import annotations

from tiktok_pipeline.governance.owners import DATA_PLATFORM
from tiktok_pipeline.warehouse.tables.spec import Column, Retention, TableSpec

API_CALL_LOG = TableSpec(
    "api_call_log",
    (
        Column("called_at", "TIMESTAMP", "When the call ended (UTC), after its retries."),
        Column(
            "window_start",
            "TIMESTAMP",
            "Start (UTC) of the 5-minute window (partition) the call served; null for calls outside a window run.",
        ),
        Column("source", "VARCHAR", "The declared source called (a SOURCES name), or webhook for alert deliveries."),
        Column(
            "endpoint",
            "VARCHAR",
            "The request path without its query (e.g. /v2/video/query/); for webhooks only their kind (slack, teams).",
        ),
        Column(
            "scope",
            "VARCHAR",
            "The declared scopes the endpoint is called under (SOURCES), comma-separated; 'none' when it needs none"
            " (OAuth token and revoke calls, webhooks); null only for an endpoint no declaration names.",
        ),
        Column("purpose", "VARCHAR", "Why the call was made (refresh video counts, discover videos, ad report, ...)."),
        Column("subject", "VARCHAR", "The creator handle or advertiser id the call concerned; never a token."),
        Column("http_status", "INTEGER", "HTTP status of the last attempt; null when no answer came."),
        Column(
            "error_code",
            "VARCHAR",
            "TikTok's envelope code of the answer (error.code or code; an OAuth refusal's error), if any.",
        ),
        Column("log_id", "VARCHAR", "TikTok's log_id (Display API) or request_id (API for Business) of the answer."),
        Column("attempts", "INTEGER", "Attempts made (1 + retries)."),
        Column("rows_produced", "BIGINT", "Items the answer carried (data.videos or data.list); null when unknown."),
        Column("latency_ms", "DOUBLE", "Milliseconds from the first attempt to the end of the last, waits included."),
        Column("outcome", "VARCHAR", "answered, or why no answer came (timeout, transport error)."),
    ),
    description=(
        "One row per logical outbound call (after retries) made by a pipeline step: which source, endpoint, purpose,"
        " creator or advertiser, outcome. No token, webhook URL, query string, body or hashed identifier is stored."
    ),
    owner=DATA_PLATFORM,
    sources=("display_api", "business_reporting", "events_api"),
    retention=Retention.AGED,
    creator_column="subject",
)
"""The call log: appended (never replaced) by each step that makes calls, in the transaction of its other writes; its
rows about alert deliveries (source ``webhook``) are calls to the team's own Slack/Teams, not a data source."""
