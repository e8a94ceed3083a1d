"""When a digest goes out: after ``video_velocity`` lands for the newest closed window, once, never for a backfill.

The alert sensor follows ``video_velocity``'s materialisations with its own storage-id cursor
(``digest_after``) and remembers the newest window it requested a digest for (``digest_window``). Of the
materialisations seen in a tick, only the newest window qualifies, and only if it is newer than the last digested
one, closed within :data:`DIGEST_FRESHNESS`, and not written by a backfill (a run tagged ``dagster/backfill``):
re-running or backfilling an old window sends nothing. The request's run key and the digest's alert id
(``digest:<window>``) deduplicate it again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg

from tiktok_pipeline.activation.alerts.triggers import MAX_EVENTS, AlertRequest, AlertTick
from tiktok_pipeline.activation.digest.compose import digest_id
from tiktok_pipeline.warehouse.tables import VIDEO_VELOCITY
from tiktok_pipeline.windows import WINDOW, window_from_key

DIGEST_FRESHNESS = timedelta(minutes=15)
"""A window's digest is sent only if its velocity lands within this long after the window closed."""
BACKFILL_TAG = "dagster/backfill"


def digest_request(window_key: str) -> dg.RunRequest:
    """The alert_job run composing and sending the digest of ``window_key``."""
    request = AlertRequest(kind="digest", window_key=window_key)
    return dg.RunRequest(
        run_key=digest_id(window_key),
        run_config={"ops": {"compose_alert": {"config": request.model_dump()}}},
        tags={"tiktok/alert": "digest"},
    )


def digest_requests(instance: dg.DagsterInstance, tick: AlertTick, now: datetime) -> None:
    """At most one digest request: the newest fresh window whose velocity landed since the cursor (no backfill)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(VIDEO_VELOCITY.name), after_storage_id=tick.cursor.digest_after),
        limit=MAX_EVENTS,
        ascending=True,
    ).records
    newest: str | None = None
    for record in records:
        tick.cursor.digest_after = record.storage_id
        materialization = record.asset_materialization
        key = materialization.partition if materialization else None
        if not key or window_from_key(key) + WINDOW < now - DIGEST_FRESHNESS or window_from_key(key) + WINDOW > now:
            continue
        run = instance.get_run_by_id(record.run_id)
        if run is not None and BACKFILL_TAG in run.tags:
            continue
        if newest is None or window_from_key(key) > window_from_key(newest):
            newest = key
    last = tick.cursor.digest_window
    if newest is None or (last is not None and window_from_key(newest) <= window_from_key(last)):
        return
    tick.cursor.digest_window = newest
    tick.requests.append(digest_request(newest))
