"""The LIVE tables: events a user collected with an unofficial connector, and per-stream figures per window.

Every row says ``source_terms = 'unofficial'``: TikTok has no public LIVE events API, so none of this comes
under TikTok's terms (source ``live_events``, README → "LIVE intake (unofficial, opt-in)").
"""

from __future__ import annotations

from tiktok_pipeline.governance.owners import GROWTH
from tiktok_pipeline.warehouse.tables.spec import Column, Identifies, Retention, TableSpec

UNOFFICIAL = "unofficial"
"""The value of every LIVE row's ``source_terms``."""
_NOTE = " UNOFFICIAL: collected by the user with a community LIVE connector, outside TikTok's terms."
TERMS_COLUMN = Column(
    "source_terms",
    "VARCHAR",
    "Always 'unofficial': the row comes from the live_events source (no TikTok terms cover it).",
)
_TAKEN_WINDOW = Column(
    "window_start",
    "TIMESTAMP",
    "Start (UTC) of the 5-minute window that took the line from the intake folder (not the event's own time:"
    " see event_at).",
)
_STREAM = (
    Column("room_id", "VARCHAR", "The LIVE stream (room) id as the connector gave it."),
    Column("creator", "VARCHAR", "Unique id (handle) of the creator streaming.", Identifies.HANDLE),
)


def _live_table(name: str, columns: tuple[Column, ...], description: str) -> TableSpec:
    """A LIVE table: the window that took the lines first, ``source_terms`` last, UNOFFICIAL in its description."""
    return TableSpec(
        name,
        (_TAKEN_WINDOW, *columns, TERMS_COLUMN),
        description=description + _NOTE,
        owner=GROWTH,
        sources=("live_events",),
        retention=Retention.KEPT,
    )


LIVE_EVENTS_RAW = _live_table(
    "live_events_raw",
    (
        Column("event_type", "VARCHAR", "comment, gift, like, viewer_count, follow or share."),
        *_STREAM,
        Column("event_at", "TIMESTAMP", "UTC time of the event, as the connector stamped it."),
        Column(
            "viewer_sha256",
            "VARCHAR",
            "SHA-256 (hex) of the viewer's unique id (null for viewer counts): the id itself is not stored.",
        ),
        Column("comment_chars", "BIGINT", "comment: length of the comment in characters (its text is not stored)."),
        Column("gift_id", "BIGINT", "gift: TikTok's gift id."),
        Column("gift_name", "VARCHAR", "gift: the gift's name."),
        Column("repeat_count", "BIGINT", "gift: the streak's count so far (1 for a single gift)."),
        Column(
            "gifts_counted",
            "BIGINT",
            "gift: gifts this event counts for: repeat_count when the streak ended (or the connector does not say),"
            " 0 for an event inside a streak (its last event counts the whole streak).",
        ),
        Column("diamond_count", "BIGINT", "gift: diamonds one gift is worth."),
        Column("like_count", "BIGINT", "like: likes in this burst."),
        Column("total_like_count", "BIGINT", "like: the stream's running like total, when the connector gives it."),
        Column("viewer_count", "BIGINT", "viewer_count: viewers in the stream at event_at."),
        Column("intake_file", "VARCHAR", "The intake file (relative to TIKTOK_LIVE_INTAKE_DIR) the line came from."),
        Column("line_start", "BIGINT", "Byte offset of the line in that file: with intake_file, the row's origin."),
    ),
    "One row per LIVE event line that passed validation, per window that took it.",
)

LIVE_EVENTS_REJECTED = _live_table(
    "live_events_rejected",
    (
        Column("source", "VARCHAR", "Intake file and byte offset of the line (<file>:<offset>), or the file alone."),
        Column("reason", "VARCHAR", "Why the line (or file) was rejected, naming the field."),
        Column("payload", "VARCHAR", "The line exactly as received (bytes that are not UTF-8 escaped as \\xNN)."),
    ),
    (
        "LIVE event lines (and intake files) that failed validation, written only by live_events_raw in the"
        " transaction that writes its window. Kept apart from quarantined_records (official sources)."
    ),
)

LIVE_STREAM_METRICS = _live_table(
    "live_stream_metrics",
    (
        *_STREAM,
        Column("events", "BIGINT", "Valid events of the stream the window took."),
        Column("comments", "BIGINT", "Comments."),
        Column("gifts", "BIGINT", "Gifts (sum of gifts_counted: a streak counts once, whole)."),
        Column("gift_diamonds", "BIGINT", "Diamonds of those gifts (gifts_counted × diamond_count)."),
        Column("likes", "BIGINT", "Likes (sum of like_count)."),
        Column("follows", "BIGINT", "New followers."),
        Column("shares", "BIGINT", "Shares."),
        Column("peak_viewers", "BIGINT", "Highest viewer count reported; null without a viewer count event."),
        Column("first_event_at", "TIMESTAMP", "Earliest event_at among the stream's events."),
        Column("last_event_at", "TIMESTAMP", "Latest event_at among them."),
    ),
    "Per window and LIVE stream: comments, gifts, likes, follows, shares, peak viewers.",
)

LIVE_TABLES = (LIVE_EVENTS_RAW, LIVE_EVENTS_REJECTED, LIVE_STREAM_METRICS)
