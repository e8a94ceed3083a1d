"""What activation writes: the alerts table and the conversion outbox."""

from __future__ import annotations

from tiktok_pipeline.governance.owners import DATA_PLATFORM, GROWTH
from tiktok_pipeline.warehouse.tables.spec import Column, Retention, TableSpec

ALERTS = TableSpec(
    "alerts",
    (
        Column("alert_id", "VARCHAR", "Deduplication key: kind, asset, check, window and severity. Never sent twice."),
        Column(
            "kind",
            "VARCHAR",
            "'check' (an asset check failed), 'business' (momentum digest), 'run' (a pipeline run failed), 'token'"
            " (a creator's TikTok authorisation ends soon or was refused), 'consent' (a creator revoked it) or 'digest'"
            " (the per-window digest, TIKTOK_DIGEST_ENABLED).",
        ),
        Column("severity", "VARCHAR", "ERROR, WARN or INFO."),
        Column("window_key", "VARCHAR", "The 5-minute window (partition key) the alert is about."),
        Column("title", "VARCHAR", "Headline as sent."),
        Column("summary", "VARCHAR", "Text as sent."),
        Column("link_url", "VARCHAR", "Dagster UI page the alert links to."),
        Column("created_at", "TIMESTAMP", "When the alert was composed (UTC)."),
        Column(
            "destinations", "VARCHAR", "Configured destinations, e.g. 'slack,teams'; empty when none is configured."
        ),
        Column("delivered", "VARCHAR", "Destinations that accepted it."),
        Column(
            "undelivered", "VARCHAR", "Destinations that did not, after retries (they are retried on later alert runs)."
        ),
        Column("attempts", "BIGINT", "HTTP attempts over all destinations and runs."),
        Column("last_error", "VARCHAR", "Last delivery error (never the webhook URL)."),
        Column("payload", "VARCHAR", "The alert as JSON."),
    ),
    description="Every alert composed (failed checks, momentum digests, failed runs, creator tokens) and where it was delivered.",
    owner=DATA_PLATFORM,
    sources=("display_api", "business_reporting"),
    retention=Retention.KEPT,
)

CONVERSION_OUTBOX = TableSpec(
    "conversion_outbox",
    (
        Column(
            "window_start",
            "TIMESTAMP",
            "Start (UTC) of the 5-minute window the order's event_time falls in: the partition that queued the event.",
        ),
        Column(
            "pixel_code",
            "VARCHAR",
            "event_source_id the event goes to: the TikTok Pixel code (web), or the offline / CRM event set id.",
        ),
        Column(
            "test_event_code",
            "VARCHAR",
            "Test event code it was sent with; empty for production. Part of the key: a test send never stands in for the production send.",
        ),
        Column("event", "VARCHAR", "TikTok event name, e.g. CompletePayment."),
        Column(
            "event_id",
            "VARCHAR",
            "event_id sent to TikTok: the browser Pixel's id for the order (pixel_event_id) or else the order id."
            " With pixel_code and event, TikTok's 48-hour deduplication key, and the outbox's key.",
        ),
        Column("order_id", "VARCHAR", "The shop's order id."),
        Column("event_time", "TIMESTAMP", "When the order was placed (UTC), sent as event_time."),
        Column("value", "DOUBLE", "Order value sent as properties.value."),
        Column("currency", "VARCHAR", "ISO 4217 currency of value."),
        Column("content_ids", "VARCHAR[]", "SKUs sent as properties.contents."),
        Column(
            "email_sha256",
            "VARCHAR",
            "SHA-256 of the trimmed, lower-cased email, as sent (several: joined by commas)."
            " Raw emails are never stored.",
        ),
        Column(
            "phone_sha256",
            "VARCHAR",
            "SHA-256 of the phone number in E.164 (+12025550123), as sent (several: joined by commas)."
            " Raw numbers are never stored.",
        ),
        Column(
            "external_id_sha256", "VARCHAR", "SHA-256 of the trimmed customer id, as sent (several: joined by commas)."
        ),
        Column(
            "identifiers",
            "VARCHAR[]",
            "Names of the user fields the event carried (ttclid, ttp, email, phone, external_id, ip, user_agent)."
            " ttclid, ttp, ip and user agent are sent but their values are never stored.",
        ),
        Column("source", "VARCHAR", "Export file and line the order came from: conversions/<file>:<line>."),
        Column(
            "payload_sha256",
            "VARCHAR",
            "SHA-256 of the event JSON as queued: shows whether a later export changed the order.",
        ),
        Column(
            "status",
            "VARCHAR",
            "pending: queued, not yet processed by TikTok (sent by the next run). sending: a request is in flight"
            " (left over from a crash: handled as ambiguous). sent: TikTok accepted it. rejected: TikTok refused it"
            " (reason in response_message); never resent unless a run asks for it. ambiguous: no answer came back,"
            " TikTok may have it; resent within TIKTOK_CONVERSIONS_RESEND_AMBIGUOUS_HOURS of the first attempt.",
        ),
        Column("attempts", "BIGINT", "Requests that carried the event, over all runs."),
        Column("batch_id", "VARCHAR", "Id of the last request (batch of up to 1,000 events) that carried it."),
        Column("request_id", "VARCHAR", "TikTok's request_id of the last answer, for support tickets."),
        Column(
            "response_code",
            "BIGINT",
            "Code of the last answer: 0 accepted, TikTok's error code for a refusal, -1 when no answer came back.",
        ),
        Column("response_message", "VARCHAR", "TikTok's message for the last attempt: the reason of a rejection."),
        Column("queued_at", "TIMESTAMP", "When a run first wrote the event to the outbox (UTC)."),
        Column(
            "first_attempt_at",
            "TIMESTAMP",
            "First request that carried it (UTC): TikTok deduplicates for 48 hours from its first receipt.",
        ),
        Column("last_attempt_at", "TIMESTAMP", "Latest request that carried it (UTC)."),
        Column("sent_at", "TIMESTAMP", "When TikTok acknowledged it (UTC)."),
        Column("run_id", "VARCHAR", "Dagster run that last changed the row."),
    ),
    description="One row per order event to send to the Events API (identifiers hashed), with its delivery status.",
    owner=GROWTH,
    sources=("order_exports", "events_api"),
    retention=Retention.KEPT,
)
