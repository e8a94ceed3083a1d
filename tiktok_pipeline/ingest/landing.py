"""The landing zone: raw API responses written durably before anything parses them.

One gzip-compressed JSON-lines file per source and window, written to a temporary name of its own
(unique per writer, so two processes landing the same window never rename each other's file),
fsynced and renamed, so a file either holds a whole collection or does not exist. A window
can be re-parsed from its file without calling TikTok again for as long as the file is kept
(``TIKTOK_LANDING_RETENTION_DAYS``, ``governance/holdings.py``); a file that cannot be read
is never taken for the window's record (:class:`UnreadableLandingError`).
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import zlib
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any


def landing_path(landing_dir: Path, source: str, window_start: datetime) -> Path:
    """``<landing_dir>/<source>/<YYYY-MM-DD>/<HHMM>.jsonl.gz`` for the window starting at ``window_start``."""
    return Path(landing_dir) / source / window_start.strftime("%Y-%m-%d") / f"{window_start:%H%M}.jsonl.gz"


class UnreadableLandingError(ValueError):
    """A landing file that is not whole gzip JSON lines (truncated, corrupt, not gzip)."""


def write_landing(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Write ``records`` atomically as gzip JSON lines; returns how many were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    tmp = Path(name)
    count = 0
    try:
        with open(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
            for record in records:
                handle.write(json.dumps(record, sort_keys=True, default=str).encode() + b"\n")
                count += 1
            handle.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def read_landing(path: Path) -> list[dict[str, Any]]:
    """Every record of a landed file, in the order it was written; :class:`UnreadableLandingError` when it is
    not whole gzip JSON lines (the error names the file and why)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as exc:
        raise UnreadableLandingError(f"landing file {path} cannot be read ({type(exc).__name__}: {exc})") from exc
