"""The calls a CLI command made (``tokens revoke``), written to ``api_call_log`` in one transaction, never lost.

A command records its calls with :func:`~tiktok_pipeline.sources.http.calllog.recording` and hands the buffer to
:func:`record_command_calls`, which appends them (``window_start`` NULL: a command serves no window) in one
transaction, with the rows of earlier commands that could not be written. When the warehouse cannot be written
(a DuckDB file still locked after :data:`COMMAND_LOCK_WAIT_SECONDS`, or any DuckDB error, e.g. a DuckLake catalog
that does not answer), the rows are kept in a spool file under ``<TIKTOK_LANDING_DIR>/call_log_spool/`` (JSON
lines, the same secret-free rows, written atomically); the next command that records calls writes them first, and
so does the daily ``window_retention_job`` (:func:`write_spooled`).
Spool files are deleted only once their transaction committed: a crash between the commit and the deletion
writes those rows twice, never zero times.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from tiktok_pipeline.settings.warehouse import WarehouseTarget
from tiktok_pipeline.sources.http.calllog import CallBuffer
from tiktok_pipeline.warehouse.call_log import append_calls
from tiktok_pipeline.warehouse.io import connect, write_transaction
from tiktok_pipeline.warehouse.lock import WarehouseBusyError

SPOOL_FOLDER = "call_log_spool"
COMMAND_LOCK_WAIT_SECONDS = 5.0
"""How long a command waits for a locked DuckDB file before it spools its calls (they are not lost, so no need to
hold the user up for the pipeline's TIKTOK_WAREHOUSE_LOCK_TIMEOUT_SECONDS)."""
_TIMES = ("called_at", "window_start")


@dataclass(frozen=True)
class Recorded:
    """What :func:`record_command_calls` did: rows written (this command's and spooled ones), or where they wait."""

    written: int
    spooled: Path | None = None
    reason: str = ""

    def describe(self, command: str) -> str:
        if self.spooled is None:
            return f"{command}: {self.written} call(s) recorded in api_call_log"
        return (
            f"{command}: the warehouse could not be written ({self.reason}); its calls are kept in {self.spooled}"
            " and written to api_call_log by the next command that records calls"
        )

    def tell(self, command: str) -> None:
        """Say what happened to the command's calls (stdout; stderr when they were spooled); nothing when none."""
        if self.written or self.spooled:
            print(self.describe(command), file=sys.stderr if self.spooled else sys.stdout)


def spool_dir(landing_dir: Path) -> Path:
    """Where unwritten command calls wait: ``<landing_dir>/call_log_spool``."""
    return Path(landing_dir) / SPOOL_FOLDER


def _encode(row: dict[str, Any]) -> str:
    return json.dumps({k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()})


def _decode(line: str) -> dict[str, Any]:
    row: dict[str, Any] = json.loads(line)
    for key in _TIMES:
        if row.get(key) is not None:
            row[key] = datetime.fromisoformat(row[key])
    return row


def spool(buffer: CallBuffer, folder: Path) -> Path:
    """Write the buffered rows to a new spool file (atomically: a reader never sees half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = folder / f"{stamp}-{uuid.uuid4().hex[:12]}.jsonl"
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as out:
        out.writelines(_encode(row) + "\n" for row in buffer.rows)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)
    return path


def spooled(folder: Path) -> tuple[list[Path], CallBuffer]:
    """The spool files waiting in ``folder`` (oldest first) and their rows."""
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    rows = [_decode(line) for path in files for line in path.read_text(encoding="utf-8").splitlines() if line]
    return files, CallBuffer(rows)


def write_spooled(connection: duckdb.DuckDBPyConnection, landing_dir: Path) -> int:
    """Append the spooled rows in one transaction of their own, then delete their files; how many were written
    (the daily ``window_retention_job`` does this, so spooled rows never wait for a command longer than a day)."""
    files, waiting = spooled(spool_dir(landing_dir))
    if waiting.rows:
        write_transaction(connection, lambda con: append_calls(con, waiting))
    for path in files:
        path.unlink(missing_ok=True)
    return len(waiting.rows)


def record_command_calls(
    buffer: CallBuffer,
    target: WarehouseTarget,
    landing_dir: Path,
    *,
    command: str,
    lock_wait_seconds: float | None = None,
) -> Recorded:
    """Append a command's calls, and those spooled by earlier commands, in one transaction; spool them if the
    warehouse cannot be written (``lock_wait_seconds``: how long to wait for a locked DuckDB file, by default
    :data:`COMMAND_LOCK_WAIT_SECONDS`). Nothing to write (no call made, nothing spooled): the warehouse is not opened."""
    folder = spool_dir(landing_dir)
    files, waiting = spooled(folder)
    rows = CallBuffer(waiting.rows + buffer.rows)
    if not rows.rows:
        return Recorded(0)
    try:
        wait = COMMAND_LOCK_WAIT_SECONDS if lock_wait_seconds is None else lock_wait_seconds
        with connect(target, lock_timeout=wait, purpose=command) as connection:
            write_transaction(connection, lambda con: append_calls(con, rows))
    except (WarehouseBusyError, duckdb.Error) as error:
        # DuckDB's own messages are not quoted: a DuckLake's may carry its catalog's conninfo (a secret)
        reason = str(error) if isinstance(error, WarehouseBusyError) else f"DuckDB {type(error).__name__}"
        return Recorded(0, spool(buffer, folder) if buffer.rows else folder, reason)
    for path in files:
        path.unlink(missing_ok=True)
    return Recorded(len(rows.rows))
