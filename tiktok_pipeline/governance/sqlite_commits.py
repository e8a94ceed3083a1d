"""Cheap commits for the local Dagster instance's SQLite storages, in every process that runs the pipeline's steps.

The embedded instance (``dagster.yaml``; production's ``deploy/dagster.yaml`` is PostgreSQL and is not touched)
keeps its event log in SQLite, in WAL mode, and Dagster opens a connection per write (``NullPool``). Each stored
event then paid an fsync at its commit (``synchronous=FULL``) and, when that connection closed as the process's
last one to the file, a checkpoint of the WAL into the database (two more fsyncs): about 12 ms an event on the
project's 2-core machine, against 0.2 ms without both. A one-day backfill run stores about 2,035 events (a
planned event, a materialisation and check evaluations per window), most of its time (issue 13, README
"Performance").

So, on every new SQLite connection of SQLAlchemy (Dagster's storages) in WAL mode:

- commits use ``synchronous=NORMAL``, SQLite's recommended level for WAL: nothing committed is lost when a
  process crashes or is killed; a power loss or an OS crash may lose the last commits, never corrupt the file.
  A connection already at a lower level (the tests' ``OFF``) is left at it;
- the process keeps one idle connection of its own open to that database file, so closing Dagster's per-write
  connections no longer checkpoints every time. SQLite still checkpoints by itself every 1,000 WAL pages, and
  when the last connection closes (this process's exit).

Applied like event batching (:mod:`tiktok_pipeline.governance.event_batching`): ``tiktok_pipeline.definitions``
calls :func:`install` on import, which every process executing steps does (code server, run worker, step
processes, ``dagster asset materialize``, ``tiktok-pipeline dev``); and the embedded instance's event log class
(:mod:`tiktok_pipeline.governance.event_log_storage`) calls it in every process that loads the instance, the daemon
(which writes a UI backfill's planned events) and the webserver included. A rollback-journal database (not WAL) is
left alone: there ``NORMAL`` could corrupt it on a power loss.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

KEPT_OPEN = 8
"""Databases a process keeps a connection to at most (the embedded instance writes three; the oldest is closed)."""
_keepers: OrderedDict[tuple[int, str], sqlite3.Connection] = OrderedDict()
_guard = threading.Lock()


def _keep_open(path: str) -> None:
    """One idle connection of this process to ``path`` (per process: a forked child opens its own)."""
    key = (os.getpid(), path)
    with _guard:
        if key in _keepers:
            _keepers.move_to_end(key)
            return
        keeper = sqlite3.connect(path, check_same_thread=False)
        keeper.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # maps the WAL index: it now counts as open
        _keepers[key] = keeper
        while len(_keepers) > KEPT_OPEN:
            (pid, _), oldest = _keepers.popitem(last=False)
            if pid == os.getpid():  # a connection inherited through a fork is the parent's to close
                oldest.close()


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    """``synchronous=NORMAL`` (unless lower) and a kept-open connection, for a SQLite file database in WAL mode."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    (mode,) = dbapi_connection.execute("PRAGMA journal_mode").fetchone()
    if str(mode).lower() != "wal":
        return
    (level,) = dbapi_connection.execute("PRAGMA synchronous").fetchone()
    if int(level) > 1:  # FULL (2) or EXTRA (3)
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
    path = next((row[2] for row in dbapi_connection.execute("PRAGMA database_list") if row[1] == "main"), "")
    if path:  # "" for an in-memory or temporary database
        _keep_open(path)


def install() -> None:
    """Apply :func:`_on_connect` to every SQLAlchemy engine of this process (idempotent)."""
    if not event.contains(Engine, "connect", _on_connect):
        event.listen(Engine, "connect", _on_connect)
