"""Parsing landed analytics provider answers into ``raw_video_snapshots`` rows (``video/list``, ``video/detail``)
and ``raw_creator_snapshots`` rows (``influencer/list``, ``influencer/detail``), all of source ``analytics_provider``.

Each record is validated on its own (:mod:`~tiktok_pipeline.sources.analytics_provider.models`: ``ProviderVideo``,
``ProviderInfluencer``): a bad one is quarantined with its raw payload, its source (endpoint and landing file) and a
reason naming the field and the source, and the rest of the page goes on; an answer without a ``data.list`` is
quarantined whole. A video or creator the provider repeats within one window (its pages overlap now and then) is
kept once, the repeat quarantined as a duplicate.

A row's ``observed_at`` is the provider's ``updated_at`` (its crawl instant), not the instant we fetched it: the
counts are true for that moment, so velocity divides by the time between two crawls, and a repeated crawl is never
read as a window without views. A creator row has no ``open_id`` (the provider's ``user_id`` is not this app's).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

import polars as pl
from pydantic import ValidationError

from tiktok_pipeline.ingest.parse.display import describe_error, payload_json
from tiktok_pipeline.ingest.schemas import UnknownSchemaError, pick, record_version
from tiktok_pipeline.sources.analytics_provider.models import ProviderInfluencer, ProviderVideo
from tiktok_pipeline.sources.http.decode import escaped
from tiktok_pipeline.warehouse.tables import (
    ANALYTICS_PROVIDER_QUARANTINE,
    RAW_CREATOR_SNAPSHOTS,
    RAW_VIDEO_SNAPSHOTS,
    TableSpec,
)

PROVIDER_SOURCE = "analytics_provider"
"""``source`` of the provider's rows of raw_video_snapshots and raw_creator_snapshots (the declared source's name)."""
QUARANTINE_ASSET = "provider_video_snapshots"
MODELS: dict[int, type[ProviderVideo]] = {1: ProviderVideo}
CREATOR_MODELS: dict[int, type[ProviderInfluencer]] = {1: ProviderInfluencer}
KINDS = {"video/list": "video", "video/detail": "video", "influencer/list": "creator", "influencer/detail": "creator"}
"""What each endpoint's records are: rows of raw_video_snapshots ("video") or raw_creator_snapshots ("creator")."""
DETAIL_ENDPOINTS = ("video/detail", "influencer/detail")


class ProviderParsed(NamedTuple):
    """One window's parse: video rows, creator rows (both of source ``analytics_provider``), the quarantined records
    and the failed calls."""

    videos: pl.DataFrame
    quarantine: pl.DataFrame
    failed_calls: int
    creators: pl.DataFrame


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def _items(endpoint: str, data: Any) -> list[Any] | None:
    """The records of an answer: a detail's one object, a list's ``data.list``; None when it has none."""
    if endpoint in DETAIL_ENDPOINTS:
        return [data] if isinstance(data, dict) else None
    items = data.get("list") if isinstance(data, dict) else None
    return items if isinstance(items, list) else None


def _video_row(video: ProviderVideo) -> dict[str, Any]:
    return {
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
    }


def _creator_row(creator: ProviderInfluencer) -> dict[str, Any]:
    return {
        "observed_at": _naive(creator.updated_at),
        "creator_username": creator.unique_id,
        "open_id": None,  # the provider's user_id is not an open_id of this app
        "display_name": creator.nick_name,
        "follower_count": creator.follower_count,
        "following_count": creator.following_count,
        "likes_count": creator.total_likes,
        "video_count": creator.video_count,
    }


def parse_provider(records: list[dict[str, Any]], landing_file: str) -> ProviderParsed:
    """Video rows, quarantined records, failed calls and creator rows of one window's landed records."""
    rows: dict[str, list[dict[str, Any]]] = {"video": [], "creator": []}
    quarantine: list[dict[str, Any]] = []
    seen: set[tuple[str, datetime, str]] = set()
    failed = 0
    for record in records:
        kind = KINDS.get(record.get("endpoint"))  # type: ignore[arg-type]
        if kind is None:
            continue
        window = _naive(datetime.fromisoformat(record["window_start"]))
        fetched = datetime.fromisoformat(record["observed_at"])
        params = record.get("params") or {}
        subject = params.get("user_id") or params.get("video_id") or f"page {params.get('page_num', 1)}"
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
        models = MODELS if kind == "video" else CREATOR_MODELS
        try:
            model = pick(models, record, f"{record['endpoint']} for {subject}")
        except UnknownSchemaError as exc:
            reject(str(exc), record.get("payload"))
            continue
        data = record["payload"].get("data") if isinstance(record.get("payload"), dict) else None
        items = _items(record["endpoint"], data)
        if items is None:
            reject(f"{record['endpoint']} for {subject}: data.list missing or not a list", data)
            continue
        for raw in items:
            try:
                item = model.model_validate(raw, context={"fetched_at": fetched.timestamp()})
            except ValidationError as exc:
                reject(f"{record['endpoint']} for {subject}: {describe_error(exc)}", raw)
                continue
            if isinstance(item, ProviderInfluencer):
                key, row = (kind, window, item.unique_id), _creator_row(item)
            else:
                assert isinstance(item, ProviderVideo)
                key, row = (kind, window, item.video_id), _video_row(item)
            if key in seen:
                reject(f"duplicate observation of {kind} {key[2]} in one window (overlapping pages)", raw)
                continue
            seen.add(key)
            common = {"window_start": window, "landing_file": landing_file, "source": PROVIDER_SOURCE}
            version = {"log_id": log_id, "response_schema_version": record_version(record)} if kind == "video" else {}
            rows[kind].append(row | common | version)
    return ProviderParsed(
        _frame(rows["video"], RAW_VIDEO_SNAPSHOTS),
        _frame(quarantine, ANALYTICS_PROVIDER_QUARANTINE),
        failed,
        _frame(rows["creator"], RAW_CREATOR_SNAPSHOTS),
    )


def _frame(rows: list[dict[str, Any]], spec: TableSpec) -> pl.DataFrame:
    return spec.conform(pl.DataFrame(rows, infer_schema_length=None)) if rows else spec.empty()
