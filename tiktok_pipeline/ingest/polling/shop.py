"""When the shop is polled: every closed window once (the record), and sooner for windows a push named.

Pure decisions for ``shop_orders_sensor`` and ``shop_webhooks_sensor`` (``defs/shop/sensors.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tiktok_pipeline.ingest.landing import UnreadableLandingError, read_landing
from tiktok_pipeline.ingest.shop_webhooks import landed_notifications
from tiktok_pipeline.windows import WINDOW, window_containing, window_from_key, window_key


def decide_shop_window(latest: datetime, *, last_requested: str | None, partitions_start: datetime) -> str | None:
    """The closed window to poll now (``latest``), unless it was requested already or is before the partitions."""
    if latest < partitions_start:
        return None
    if last_requested and window_from_key(last_requested) >= latest:
        return None
    return window_key(latest)


@dataclass
class PushCursor:
    """What the push sensor has read: landed files up to ``mtime_ns``, and the windows named but not closed yet."""

    mtime_ns: int = 0
    pending: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | None) -> PushCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(int(data.get("mtime_ns", 0)), list(data.get("pending", [])))

    def dump(self) -> str:
        return json.dumps({"mtime_ns": self.mtime_ns, "pending": sorted(set(self.pending))})


@dataclass(frozen=True)
class PushDecision:
    windows: list[str]
    """Closed windows a push named since the last tick: request their shop run."""
    cursor: PushCursor
    notifications: int
    unreadable: list[str]


def decide_push_windows(
    landing_dir: Path, cursor: PushCursor, now: datetime, *, settle_seconds: float = 1.0
) -> PushDecision:
    """Read notifications landed since ``cursor`` (older than ``settle_seconds``, so a file renamed in the same
    nanosecond as the last one read is not skipped), and say which closed windows to poll now."""
    pending = set(cursor.pending)
    newest = cursor.mtime_ns
    limit = int((now.timestamp() - settle_seconds) * 1e9)
    read = 0
    unreadable = []
    for path in landed_notifications(landing_dir):
        mtime = path.stat().st_mtime_ns
        if mtime <= cursor.mtime_ns or mtime > limit:
            continue
        newest = max(newest, mtime)
        try:
            records = read_landing(path)
        except UnreadableLandingError:
            unreadable.append(str(path))
            continue
        for record in records:
            changed = record.get("changed_at")
            if isinstance(changed, int):
                pending.add(window_key(window_containing(datetime.fromtimestamp(changed, UTC))))
                read += 1
    due = sorted(key for key in pending if window_from_key(key) + WINDOW <= now)
    return PushDecision(due, PushCursor(newest, sorted(pending - set(due))), read, unreadable)
