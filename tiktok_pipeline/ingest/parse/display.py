"""Parsing landed Display API responses into snapshot rows; bad records go to quarantine.

Videos come from ``video/list`` (discovery, with counts) and ``video/query`` (refresh).

Each record is validated on its own: a malformed video is quarantined with its raw payload,
source and a reason naming the field, and the rest of the page goes on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import polars as pl
from pydantic import BaseModel, ValidationError

from tiktok_pipeline.sources.display_api.models import UserInfo, Video
from tiktok_pipeline.warehouse.tables import QUARANTINED_RECORDS, RAW_CREATOR_SNAPSHOTS, RAW_VIDEO_SNAPSHOTS

M = TypeVar("M", bound=BaseModel)

PARSER_VERSION = "1"
"""The raw snapshot assets' ``code_version``: bump it whenever parsing changes what a landed file yields, so
the UI shows the parsed windows as out of date until they are re-materialised (re-parsed from the landing zone)."""


@dataclass
class Parsed:
    """Rows parsed from one or more landed files."""

    videos: pl.DataFrame
    creators: pl.DataFrame
    quarantine: pl.DataFrame
    failed_calls: int


def _timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC).replace(tzinfo=None)


def describe_error(exc: ValidationError) -> str:
    """``field: message`` for each problem, e.g. ``view_count: Input should be greater than or equal to 0``."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '<record>'}: {err['msg']} (got {err.get('input')!r})"
        for err in exc.errors()
    )


def video_entries(data: dict[str, Any]) -> list[Any] | None:
    """The video records of a response's ``data`` ([] when absent); None when ``videos`` is not a list."""
    videos = data.get("videos")
    if videos is None:
        return []
    return videos if isinstance(videos, list) else None


def _validate(model: type[M], raw: Any) -> tuple[M | None, str | None]:
    try:
        return model.model_validate(raw), None
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
        source = f"{record['endpoint']} ({landing_file})"

        def reject(reason: str, payload: Any) -> None:
            quarantine.append(
                {
                    "window_start": window,
                    "source": source,
                    "log_id": record.get("log_id"),
                    "reason": reason,
                    "payload": json.dumps(payload, sort_keys=True, default=str),
                    "asset": asset,
                }
            )

        if record.get("error"):
            failed_calls += 1
            continue
        data = record["payload"].get("data") if isinstance(record.get("payload"), dict) else None
        if not isinstance(data, dict):
            reject("response has no data object", record.get("payload"))
            continue

        if record["endpoint"] == "user/info":
            user, problem = _validate(UserInfo, data.get("user"))
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
                }
            )
        elif record["endpoint"] in ("video/query", "video/list"):
            entries = video_entries(data)
            if entries is None:
                reject(f"{record['endpoint']} for {record['username']}: data.videos is not a list", data.get("videos"))
                continue
            for raw in entries:
                video, problem = _validate(Video, raw)
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
                        "log_id": record.get("log_id"),
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
