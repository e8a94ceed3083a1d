"""The landing zone: raw API responses written durably before anything parses them.

One gzip-compressed JSON-lines file per source and window, written to a temporary name,
fsynced and renamed, so a file either holds a whole collection or does not exist. A window
can be re-parsed from its file at any time without calling TikTok again.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any


def landing_path(landing_dir: Path, source: str, window_start: datetime) -> Path:
    """``<landing_dir>/<source>/<YYYY-MM-DD>/<HHMM>.jsonl.gz`` for the window starting at ``window_start``."""
    return Path(landing_dir) / source / window_start.strftime("%Y-%m-%d") / f"{window_start:%H%M}.jsonl.gz"


def write_landing(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Write ``records`` atomically as gzip JSON lines; returns how many were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    count = 0
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
        for record in records:
            handle.write(json.dumps(record, sort_keys=True, default=str).encode() + b"\n")
            count += 1
        handle.close()
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, path)
    return count


def read_landing(path: Path) -> list[dict[str, Any]]:
    """Every record of a landed file, in the order it was written."""
    with gzip.open(path, "rt") as handle:
        return [json.loads(line) for line in handle if line.strip()]
