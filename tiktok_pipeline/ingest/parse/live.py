"""Parsing the LIVE lines a window took: events for ``live_events_raw``, rejected lines for ``live_events_rejected``.

Each line is validated on its own (:data:`~tiktok_pipeline.sources.live_events.models.LIVE_EVENT`): a line that is
not UTF-8, not a JSON object, or fails its event type's model is rejected with its raw payload and a reason
naming the field; the other lines go on. An intake file that could not be read is one rejected row naming it.
Viewer ids are stored as SHA-256 digests and comment text is not stored (only its length); every row carries
``source_terms = 'unofficial'``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from pydantic import ValidationError

from tiktok_pipeline.sources.live_events.models import LIVE_EVENT, CommentEvent, GiftEvent, kind
from tiktok_pipeline.warehouse.tables.live import LIVE_EVENTS_RAW, LIVE_EVENTS_REJECTED, UNOFFICIAL
from tiktok_pipeline.windows import utc_naive

PARSER_VERSION = "1"
"""``live_events_raw``'s ``code_version``: bump it whenever parsing changes what a landed line yields."""


@dataclass
class ParsedLive:
    """One window's events and rejected lines, as frames of their tables."""

    events: pl.DataFrame
    rejected: pl.DataFrame


def _reason(error: ValidationError) -> str:
    first = error.errors()[0]
    loc = first["loc"][1:] if first["loc"] and first["loc"][0] in _EVENT_TAGS else first["loc"]  # the union's tag
    where = ".".join(str(part) for part in loc)
    message = first["msg"].removeprefix("Value error, ")
    return f"live_events: {where or 'line'}: {message}"


_EVENT_TAGS = {"comment", "chat", "gift", "like", "roomUser", "viewer_count", "follow", "share"}


def parse_line(line: str) -> dict[str, Any]:
    """The ``live_events_raw`` columns of one line (without window and origin); ValueError with the reason."""
    try:
        value = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"live_events: line: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"live_events: line: a JSON object is expected, not {type(value).__name__}")
    try:
        event = LIVE_EVENT.validate_python(value)
    except ValidationError as exc:
        raise ValueError(_reason(exc)) from None
    row: dict[str, Any] = {
        "event_type": kind(event),
        "room_id": event.room_id,
        "creator": event.creator,
        "event_at": utc_naive(event.timestamp),
        "viewer_sha256": hashlib.sha256(event.user.encode()).hexdigest() if event.user else None,
    }
    if isinstance(event, CommentEvent):
        row["comment_chars"] = len(event.comment)
    elif isinstance(event, GiftEvent):
        counted = event.repeat_count if event.repeat_end is not False else 0
        row |= {
            "gift_id": event.gift_id,
            "gift_name": event.gift_name,
            "repeat_count": event.repeat_count,
            "gifts_counted": counted,
            "diamond_count": event.diamond_count,
        }
    else:
        for name in ("like_count", "total_like_count", "viewer_count"):
            if hasattr(event, name):
                row[name] = getattr(event, name)
    return row


def parse_live_window(window_start: datetime, records: list[dict[str, Any]]) -> ParsedLive:
    """The rows of one window's landing records (kinds ``line``, ``blank``, ``file_problem``)."""
    window = utc_naive(window_start)
    events: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for record in records:
        if record.get("kind") == "file_problem":
            rejected.append(
                {"source": record["file"], "reason": f"live_events: file {record['problem']}", "payload": ""}
            )
            continue
        if record.get("kind") != "line":
            continue
        origin = f"{record['file']}:{record['start']}"
        try:
            if not record.get("utf8", True):
                raise ValueError("live_events: line: not UTF-8 (undecodable bytes shown as \\xNN)")
            row = parse_line(record["line"])
        except ValueError as exc:
            rejected.append({"source": origin, "reason": str(exc), "payload": record["line"]})
            continue
        events.append(row | {"intake_file": record["file"], "line_start": record["start"]})
    labelled = {"window_start": window, "source_terms": UNOFFICIAL}
    return ParsedLive(
        events=_frame([e | labelled for e in events], LIVE_EVENTS_RAW),
        rejected=_frame([r | labelled for r in rejected], LIVE_EVENTS_REJECTED),
    )


def _frame(rows: list[dict[str, Any]], spec: Any) -> pl.DataFrame:
    if not rows:
        return spec.empty()
    return spec.conform(pl.DataFrame(rows, infer_schema_length=None))


def concat(parsed: list[ParsedLive]) -> ParsedLive:
    """Several windows' rows together."""
    return ParsedLive(
        events=pl.concat([p.events for p in parsed]) if parsed else LIVE_EVENTS_RAW.empty(),
        rejected=pl.concat([p.rejected for p in parsed]) if parsed else LIVE_EVENTS_REJECTED.empty(),
    )
