"""Parsing landed analytics provider answers into ``raw_video_snapshots`` rows (source ``analytics_provider``).

Each video record is validated on its own (:class:`~tiktok_pipeline.sources.analytics_provider.models.ProviderVideo`):
a bad one is quarantined with its raw payload, its source (endpoint and landing file) and a reason naming the field,
and the rest of the page goes on; an answer without a ``data.list`` is quarantined whole. A video the provider
repeats within one window (its pages overlap now and then) is kept once, the repeat quarantined as a duplicate.

The row's ``observed_at`` is the provider's ``updated_at`` (its crawl instant), not the instant we fetched it: the
counts are true for that moment, so velocity divides by the time between two crawls, and a repeated crawl is never
read as a window without views.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
from pydantic import ValidationError

from tiktok_pipeline.ingest.parse.display import describe_error, payload_json
from tiktok_pipeline.ingest.schemas import UnknownSchemaError, pick, record_version
from tiktok_pipeline.sources.analytics_provider.models import ProviderVideo
from tiktok_pipeline.sources.http.decode import escaped
from tiktok_pipeline.warehouse.tables import ANALYTICS_PROVIDER_QUARANTINE, RAW_VIDEO_SNAPSHOTS

PROVIDER_SOURCE = "analytics_provider"
"""``raw_video_snapshots.source`` of the provider's rows (the declared source's name)."""
QUARANTINE_ASSET = "provider_video_snapshots"
MODELS: dict[int, type[ProviderVideo]] = {1: ProviderVideo}
VIDEO_ENDPOINTS = ("video/list", "video/detail")


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def parse_provider(records: list[dict[str, Any]], landing_file: str) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """(video rows, quarantined records, failed calls) of one window's landed records."""
    videos: list[dict[str, Any]] = []
    quarantine: list[dict[str, Any]] = []
    seen: set[tuple[datetime, str]] = set()
    failed = 0
    for record in records:
        if record.get("endpoint") not in VIDEO_ENDPOINTS:
            continue
        window = _naive(datetime.fromisoformat(record["window_start"]))
        fetched = datetime.fromisoformat(record["observed_at"])
        subject = (record.get("params") or {}).get("user_id") or (record.get("params") or {}).get("video_id")
        where = f"{record['endpoint']} ({landing_file})"
        log_id = None if record.get("log_id") is None else escaped(str(record["log_id"]))

        def reject(reason: str, payload: Any, where: str = where, log_id: str | None = log_id) -> None:
            quarantine.append(
                {
                    "window_start": window,
                    "source": where,
                    "log_id": log_id,
                    "reason": escaped(f"analytics_provider {reason}"),
                    "payload": payload_json(payload),
                    "asset": QUARANTINE_ASSET,
                }
            )

        if record.get("error"):
            failed += 1
            continue
        try:
            model = pick(MODELS, record, f"{record['endpoint']} for {subject}")
        except UnknownSchemaError as exc:
            reject(str(exc), record.get("payload"))
            continue
        data = record["payload"].get("data") if isinstance(record.get("payload"), dict) else None
        if record["endpoint"] == "video/detail":
            items = [data] if isinstance(data, dict) else None
        else:
            items = data.get("list") if isinstance(data, dict) else None
        if not isinstance(items, list):
            reject(f"{record['endpoint']} for {subject}: data.list missing or not a list", data)
            continue
        for raw in items:
            try:
                video = model.model_validate(raw, context={"fetched_at": fetched.timestamp()})
            except ValidationError as exc:
                reject(f"{record['endpoint']} for {subject}: {describe_error(exc)}", raw)
                continue
            if (window, video.video_id) in seen:
                reject(f"duplicate observation of video {video.video_id} in one window (overlapping pages)", raw)
                continue
            seen.add((window, video.video_id))
            videos.append(
                {
                    "window_start": window,
                    "observed_at": _naive(video.updated_at),
                    "video_id": video.video_id,
                    "creator_username": video.unique_id,
                    "create_time": datetime.fromtimestamp(video.create_time, UTC).replace(tzinfo=None),
                    "view_count": video.play_count,
                    "like_count": video.digg_count,
                    "comment_count": video.comment_count,
                    "share_count": video.share_count,
                    "duration_seconds": video.duration,
                    "title": video.desc,
                    "landing_file": landing_file,
                    "log_id": log_id,
                    "response_schema_version": record_version(record),
                    "source": PROVIDER_SOURCE,
                }
            )
    rows = RAW_VIDEO_SNAPSHOTS.conform(pl.DataFrame(videos, infer_schema_length=None)) if videos else None
    rejected = (
        ANALYTICS_PROVIDER_QUARANTINE.conform(pl.DataFrame(quarantine, infer_schema_length=None))
        if quarantine
        else None
    )
    return (
        rows if rows is not None else RAW_VIDEO_SNAPSHOTS.empty(),
        rejected if rejected is not None else ANALYTICS_PROVIDER_QUARANTINE.empty(),
        failed,
    )
