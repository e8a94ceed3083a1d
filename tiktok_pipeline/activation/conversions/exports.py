"""Which conversions runs the shop's exports call for: new or changed export files, and retries of lost answers.

An export still being written (:mod:`.export_files`) is not recorded in the cursor, so every tick looks at it
again until it is complete (then its windows get a run) or settled and unreadable (then the window of its
modification time gets the run that quarantines it). Nothing a file holds makes a tick raise."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from tiktok_pipeline.activation.conversions.export_files import DEFAULT_SETTLE_SECONDS, order_files, read_export
from tiktok_pipeline.activation.conversions.orders import file_windows
from tiktok_pipeline.sources.http.decode import escaped
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
    waiting: list[str] = field(default_factory=list)
    """Exports still being written: not recorded, looked at again next tick."""


def decide_exports(
    cursor: ExportsCursor,
    orders_dir: Path,
    *,
    latest: datetime,
    partitions_start: datetime,
    newest_outbox: tuple[int, int] | None,
    now: datetime | None = None,
    settle_seconds: float = DEFAULT_SETTLE_SECONDS,
) -> ExportsDecision:
    """One run over the closed windows that new or changed exports touch (open windows wait in the cursor);
    without one, a retry when the newest outbox materialisation (``(storage_id, ambiguous)``) left events
    ambiguous and was not retried yet. ``latest``: the last closed window; ``now`` (default: the current
    time) tells which exports are still being written."""
    now = now or datetime.now(UTC)
    seen: dict[str, str] = {}
    windows: set[datetime] = {window_from_key(key) for key in cursor.deferred}
    changed: list[str] = []
    being_written: list[str] = []
    for path in order_files(orders_dir):
        name = escaped(path.relative_to(orders_dir).as_posix())  # undecodable bytes of a name: JSON-safe
        try:
            stat = path.stat()
        except OSError:  # gone since the listing
            continue
        if cursor.files.get(name) == f"{stat.st_mtime_ns}:{stat.st_size}":
            seen[name] = cursor.files[name]
            continue
        read = read_export(path, name=name, now=now, settle_seconds=settle_seconds)
        if read.state == "waiting":
            being_written.append(name)
            continue
        seen[name] = read.signature
        changed.append(f"{name}@{read.signature}")
        windows |= file_windows(read)
    windows = {w for w in windows if w >= partitions_start}
    ready = sorted(w for w in windows if w <= latest)
    waiting = sorted(w for w in windows if w > latest)
    decision = ExportsDecision(cursor=cursor.model_copy(), changed=changed, waiting=being_written)
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
