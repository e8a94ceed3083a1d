"""Parsing landed Display API responses into snapshot rows; bad records go to quarantine.

Videos come from ``video/list`` (discovery, with counts) and ``video/query`` (refresh).

Each record is validated on its own: a malformed video is quarantined with its raw payload,
source and a reason naming the field, and the rest of the page goes on. The models
(:mod:`tiktok_pipeline.sources.display_api.models`) bound every value to what the warehouse columns hold
(Int64 and Int32 counts, epoch seconds up to the observation instant, UTF-8 strings), so no value that
passed validation can fail a cast, a timestamp conversion or a UTF-8 encoding afterwards. A response
whose ``data.videos`` is missing, null or not a list is quarantined whole (one record), never read as
an empty page. Quarantined payloads are stored as ASCII JSON (lone surrogates escaped); one that cannot
be serialised (nesting too deep, integers too long) is stored as a bounded ``repr``.
"""

from __future__ import annotations

import json
import reprlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import polars as pl
from pydantic import BaseModel, ValidationError

from tiktok_pipeline.ingest.schemas import UnknownSchemaError, pick, record_version
from tiktok_pipeline.sources.display_api.models import UserInfo, Video
from tiktok_pipeline.sources.http.decode import escaped
from tiktok_pipeline.warehouse.tables import QUARANTINED_RECORDS, RAW_CREATOR_SNAPSHOTS, RAW_VIDEO_SNAPSHOTS

M = TypeVar("M", bound=BaseModel)

DISPLAY_SOURCE = "display_api"
"""``source`` of the Display API's rows of ``raw_video_snapshots`` and ``raw_creator_snapshots`` (the declared source's name)."""

PARSER_VERSION = "2"
"""The raw snapshot assets' ``code_version``: bump it whenever parsing changes what a landed file yields, so
the UI shows the parsed windows as out of date until they are re-materialised (re-parsed from the landing zone).
2: rows carry the answer's schema version (``response_schema_version``)."""
MODELS: dict[int, tuple[type[UserInfo], type[Video]]] = {1: (UserInfo, Video)}
"""The models (user/info's user, a video) of each schema version of the Display API answers
(:mod:`tiktok_pipeline.ingest.schemas`): a record is read with its recorded version's, so old files re-parse."""


@dataclass
class Parsed:
    """Rows parsed from one or more landed files."""

    videos: pl.DataFrame
    creators: pl.DataFrame
    quarantine: pl.DataFrame
    failed_calls: int


def _timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC).replace(tzinfo=None)


MAX_REASON_INPUT_CHARS = 200
"""How much of an offending input a quarantine reason quotes."""
MAX_PAYLOAD_REPR_CHARS = 10_000
"""Size bound of the fallback payload of a record that cannot be serialised as JSON."""

_brief = reprlib.Repr()
_brief.maxlevel, _brief.maxdict, _brief.maxlist, _brief.maxstring, _brief.maxother = 4, 8, 8, 60, 60


def safe_repr(value: Any, limit: int = MAX_REASON_INPUT_CHARS) -> str:
    """A bounded, UTF-8-safe repr of any JSON value: nesting cut at a few levels, long integers by size only."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"<integer of {value.bit_length()} bits>"
    try:
        text = _brief.repr(value)
    except (ValueError, RecursionError, TypeError):  # e.g. an int nested in a list beyond str()'s digit limit
        text = f"<{type(value).__name__}>"
    return escaped(text if len(text) <= limit else text[: limit - 1] + "…")


def payload_json(payload: Any) -> str:
    """The raw payload as ASCII JSON (sort_keys), or, when it cannot be serialised, a bounded repr wrapped in JSON."""
    try:
        return json.dumps(payload, sort_keys=True, default=str, ensure_ascii=True)
    except (ValueError, RecursionError, TypeError) as exc:
        return json.dumps(
            {"unserialisable_payload": safe_repr(payload, MAX_PAYLOAD_REPR_CHARS), "error": type(exc).__name__},
            ensure_ascii=True,
        )


def describe_error(exc: ValidationError) -> str:
    """``field: message`` for each problem, e.g. ``view_count: Input should be greater than or equal to 0``."""
    return "; ".join(
        f"{'.'.join(escaped(str(p)) for p in err['loc']) or '<record>'}: {escaped(err['msg'])}"
        f" (got {safe_repr(err.get('input'))})"
        for err in exc.errors(include_url=False)
    )


def videos_problem(data: dict[str, Any]) -> str | None:
    """Why a video response's ``data`` has no usable ``videos`` list, or None when it has one (``[]`` included)."""
    if "videos" not in data:
        return "data.videos missing"
    videos = data["videos"]
    if videos is None:
        return "data.videos is null"
    return None if isinstance(videos, list) else f"data.videos is not a list (got {type(videos).__name__})"


def video_entries(data: dict[str, Any]) -> list[Any] | None:
    """The video records of a response's ``data``; None when ``videos`` is missing, null or not a list.

    TikTok always sends ``videos`` (``[]`` for a creator without videos or an empty page); a response
    without it is malformed, and the parser quarantines it whole (it counts as one landed record).
    """
    return data["videos"] if videos_problem(data) is None else None


def _validate(model: type[M], raw: Any, context: dict[str, Any] | None = None) -> tuple[M | None, str | None]:
    try:
        return model.model_validate(raw, context=context), None
    except ValidationError as exc:
        return None, describe_error(exc)


def parse_landed(records: list[dict[str, Any]], landing_file: str, asset: str) -> Parsed:
    """Snapshot rows from landed records (see :mod:`tiktok_pipeline.ingest.collect.display`) of one or more windows."""
    videos: list[dict[str, Any]] = []
    creators: list[dict[str, Any]] = []
    quarantine: list[dict[str, Any]] = []
    seen: set[tuple[datetime, str]] = set()
    failed_calls = 0

    for record in records:
        window = _timestamp(record["window_start"])
        observed = _timestamp(record["observed_at"])
        context = {"observed_at": observed.replace(tzinfo=UTC).timestamp()}
        source = f"{record['endpoint']} ({landing_file})"
        log_id = None if record.get("log_id") is None else escaped(str(record["log_id"]))

        def reject(reason: str, payload: Any) -> None:
            quarantine.append(
                {
                    "window_start": window,
                    "source": source,
                    "log_id": log_id,
                    "reason": escaped(reason),
                    "payload": payload_json(payload),
                    "asset": asset,
                }
            )

        if record.get("error"):
            failed_calls += 1
            continue
        try:
            user_model, video_model = pick(MODELS, record, f"{record['endpoint']} for {record['username']}")
        except UnknownSchemaError as exc:
            reject(str(exc), record.get("payload"))
            continue
        version = record_version(record)
        data = record["payload"].get("data") if isinstance(record.get("payload"), dict) else None
        if not isinstance(data, dict):
            reject(
                f"response has no data object on {record['endpoint']} for {record['username']}", record.get("payload")
            )
            continue

        if record["endpoint"] == "user/info":
            user, problem = _validate(user_model, data.get("user"))
            if user is None:
                reject(f"user/info for {record['username']}: {problem}", data.get("user"))
                continue
            creators.append(
                {
                    "window_start": window,
                    "observed_at": observed,
                    "creator_username": record["username"],
                    **user.model_dump(exclude={"username"}),
                    "landing_file": landing_file,
                    "source": DISPLAY_SOURCE,
                }
            )
        elif record["endpoint"] in ("video/query", "video/list"):
            problem = videos_problem(data)
            if problem is not None:
                reject(f"{problem} on {record['endpoint']} for {record['username']}", data)
                continue
            for raw in data["videos"]:
                video, problem = _validate(video_model, raw, context)
                if video is None:
                    reject(f"{record['endpoint']} for {record['username']}: {problem}", raw)
                    continue
                if (window, video.id) in seen:
                    reject(f"duplicate observation of video {video.id} in one window", raw)
                    continue
                seen.add((window, video.id))
                videos.append(
                    {
                        "window_start": window,
                        "observed_at": observed,
                        "video_id": video.id,
                        "creator_username": record["username"],
                        "create_time": datetime.fromtimestamp(video.create_time, UTC).replace(tzinfo=None),
                        "view_count": video.view_count,
                        "like_count": video.like_count,
                        "comment_count": video.comment_count,
                        "share_count": video.share_count,
                        "duration_seconds": video.duration,
                        "title": video.title,
                        "landing_file": landing_file,
                        "log_id": log_id,
                        "response_schema_version": version,
                        "source": DISPLAY_SOURCE,
                    }
                )

    def frame(rows: list[dict[str, Any]], spec: Any) -> pl.DataFrame:
        return spec.conform(pl.DataFrame(rows, infer_schema_length=None)) if rows else spec.empty()

    return Parsed(
        videos=frame(videos, RAW_VIDEO_SNAPSHOTS),
        creators=frame(creators, RAW_CREATOR_SNAPSHOTS),
        quarantine=frame(quarantine, QUARANTINED_RECORDS),
        failed_calls=failed_calls,
    )
