"""Publish the merchandising feed as files, each replaced atomically, never by an older window's feed.

``merchandising_feed.json`` (``{"feed_version", "window_start", "items": [...]}``) and ``merchandising_feed.csv``
(one line per item, ``feed_version`` and ``window_start`` on each) in the feed folder. Each file is written to a
temporary file in the same folder, flushed to disk and renamed over the old one (``os.replace``): a reader sees the
old file or the new one, never half of one. The CSV is replaced first and the JSON last, so the JSON's version says
which feed is complete. A lock file serialises publishers; a feed whose window is older than the published one
(a backfill) is not published.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from tiktok_pipeline.metrics.merchandising import FEED_FIELDS, as_utc

JSON_NAME = "merchandising_feed.json"
CSV_NAME = "merchandising_feed.csv"
LOCK_NAME = ".merchandising_feed.lock"


@dataclass(frozen=True)
class Feed:
    """One window's published feed: its version, window and items."""

    version: str
    window_start: datetime
    items: list[dict[str, Any]]

    def json_bytes(self) -> bytes:
        """The JSON document (the webhook's body too)."""
        document = {"feed_version": self.version, "window_start": _iso(self.window_start), "items": self.items}
        return json.dumps(document, ensure_ascii=False, indent=1).encode()

    def csv_bytes(self) -> bytes:
        """The CSV document: a header, then one line per item."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["feed_version", "window_start", *FEED_FIELDS])
        for item in self.items:
            writer.writerow([self.version, _iso(self.window_start), *(_cell(item.get(f)) for f in FEED_FIELDS)])
        return out.getvalue().encode()


@dataclass(frozen=True)
class Published:
    """What publishing did: ``published`` (files replaced), ``unchanged`` (this version is already there) or
    ``kept_newer`` (a newer window's feed is there: nothing written); the version now in the folder."""

    outcome: Literal["published", "unchanged", "kept_newer"]
    current_version: str | None


def _iso(moment: datetime) -> str:
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def _cell(value: Any) -> Any:
    return "" if value is None else value


def current_feed(folder: Path) -> dict[str, Any] | None:
    """The published JSON document, or None when there is none (or it cannot be read: it is then replaced)."""
    try:
        document = json.loads((folder / JSON_NAME).read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_NAME, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def replace_atomically(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path``: a temporary file beside it, flushed and synced, renamed over it."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def publish(folder: Path, feed: Feed) -> Published:
    """Replace the feed files with ``feed`` unless the folder holds a newer window's feed or this very version."""
    with _locked(folder):
        current = current_feed(folder)
        if current is not None:
            if current.get("feed_version") == feed.version and (folder / CSV_NAME).exists():
                return Published("unchanged", feed.version)
            if str(current.get("window_start", "")) > _iso(feed.window_start):
                return Published("kept_newer", current.get("feed_version"))
        replace_atomically(folder / CSV_NAME, feed.csv_bytes())
        replace_atomically(folder / JSON_NAME, feed.json_bytes())
        return Published("published", feed.version)
