"""Which conversions runs the shop's exports call for: new or changed export files, and retries of lost answers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from tiktok_pipeline.activation.conversions.orders import export_windows, order_files
from tiktok_pipeline.windows import window_from_key, window_key


class ExportsCursor(BaseModel):
    """What the exports sensor has seen: file signatures, windows waiting to close, leftovers retried."""

    files: dict[str, str] = {}
    """Export path (relative) → "mtime_ns:size" of the version already requested."""
    deferred: list[str] = []
    """First and last window (keys) of orders whose window had not closed yet when their export arrived."""
    retried_after: int | None = None
    """Storage id of the last conversion_outbox materialisation whose ambiguous events were retried."""


@dataclass
class ExportsDecision:
    """A range run for new exports (``first``..``last``), else maybe a retry of ``retry_storage_id``'s ambiguous events."""

    cursor: ExportsCursor
    first: str | None = None
    last: str | None = None
    run_key: str | None = None
    changed: list[str] = field(default_factory=list)
    retry_storage_id: int | None = None


def decide_exports(
    cursor: ExportsCursor,
    orders_dir: Path,
    *,
    latest: datetime,
    partitions_start: datetime,
    newest_outbox: tuple[int, int] | None,
) -> ExportsDecision:
    """One run over the closed windows that new or changed exports touch (open windows wait in the cursor);
    without one, a retry when the newest outbox materialisation (``(storage_id, ambiguous)``) left events
    ambiguous and was not retried yet. ``latest``: the last closed window."""
    seen: dict[str, str] = {}
    windows: set[datetime] = {window_from_key(key) for key in cursor.deferred}
    changed: list[str] = []
    for path in order_files(orders_dir):
        name, stat = path.relative_to(orders_dir).as_posix(), path.stat()
        seen[name] = f"{stat.st_mtime_ns}:{stat.st_size}"
        if cursor.files.get(name) != seen[name]:
            changed.append(f"{name}@{seen[name]}")
            windows |= export_windows(path)
    windows = {w for w in windows if w >= partitions_start}
    ready = sorted(w for w in windows if w <= latest)
    waiting = sorted(w for w in windows if w > latest)
    decision = ExportsDecision(cursor=cursor.model_copy(), changed=changed)
    if ready:
        decision.first, decision.last = window_key(ready[0]), window_key(ready[-1])
        digest = hashlib.sha256("|".join(sorted(changed) + cursor.deferred).encode()).hexdigest()[:16]
        decision.run_key = f"exports:{decision.first}...{decision.last}:{digest}"
    elif latest >= partitions_start and newest_outbox is not None:
        storage_id, ambiguous = newest_outbox
        if storage_id != cursor.retried_after and ambiguous > 0:
            decision.cursor.retried_after = storage_id
            decision.retry_storage_id = storage_id
    decision.cursor.files = seen
    decision.cursor.deferred = [window_key(waiting[0]), window_key(waiting[-1])] if waiting else []
    return decision
