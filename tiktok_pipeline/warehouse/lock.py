"""The warehouse lock: one process at a time opens the DuckDB file, by an OS lock that dies with its process.

DuckDB lets one process open a database file for writing. Every pipeline connection therefore holds the lock
file ``<warehouse>.lock`` (``flock``, through the ``filelock`` library) for as long as it is open, and only then:
collecting from TikTok, landing and parsing happen before a step asks for it. Because the kernel drops the
lock with the process that held it, a run killed with SIGKILL, OOM-killed or lost with its container frees
the warehouse at once; nothing has to notice that it died. Waiting is bounded (``TIKTOK_WAREHOUSE_LOCK_TIMEOUT_SECONDS``),
and a waiter says who holds the lock (pid, host, run, since when), which the holder writes into the lock file.

Within one process the lock is re-entrant: a connection opened while another is open in the same process (DuckDB
shares one database instance per process) does not wait for itself.

Urgent waiters go first (issue 13, "Freshness"): a live window's connection (``urgent=True``) holds a shared
``flock`` on ``<warehouse>.lock.urgent`` while it waits; any other waiter, once it has the lock, checks that file
and, while an urgent waiter is there, lets go and waits for it to be served. No urgent waiter ever waits behind
more than the holder of the moment. That file's locks die with their process too: a killed waiter blocks nobody.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

LOCK_TIMEOUT_SETTING = "TIKTOK_WAREHOUSE_LOCK_TIMEOUT_SECONDS"
_HOLDER_LIMIT = 4096
_POLL_SECONDS = 0.05

_locks: dict[tuple[int, str], FileLock] = {}
_guard = threading.Lock()


class WarehouseBusyError(TimeoutError):
    """The warehouse stayed locked for longer than the allowed wait."""


def lock_path(warehouse: Path | str) -> Path:
    """The lock file beside the warehouse file (``warehouse.duckdb`` → ``warehouse.duckdb.lock``)."""
    warehouse = Path(warehouse)
    return warehouse.with_name(warehouse.name + ".lock")


def _process_lock(path: Path) -> FileLock:
    """This process's lock object for ``path`` (one per process and path: re-entrant, never shared across a fork)."""
    key = (os.getpid(), str(path.resolve()))
    with _guard:
        lock = _locks.get(key)
        if lock is None:
            lock = FileLock(
                key[1],
                thread_local=False,  # one holder per process: DuckDB shares its database instance across threads
                fallback_to_soft=False,  # a marker file would outlive a killed holder: fail closed instead
                on_acquired=_record_holder,
            )
            _locks[key] = lock
        return lock


_purpose = threading.local()


def _record_holder(fd: int) -> None:
    """Write who holds the lock into the lock file (waiters read it to say whom they wait for)."""
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "purpose": getattr(_purpose, "value", ""),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    data = json.dumps(holder).encode()[:_HOLDER_LIMIT]
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def holder(path: Path | str) -> str:
    """Who holds (or last held) the lock at ``path``, as written by the holder; "unknown" when unreadable."""
    try:
        with open(path, "rb") as handle:
            record = json.loads(handle.read(_HOLDER_LIMIT) or b"{}")
    except (OSError, ValueError):
        return "unknown"
    if not isinstance(record, dict) or "pid" not in record:
        return "unknown"
    what = f" ({record['purpose']})" if record.get("purpose") else ""
    return f"pid {record['pid']} on {record.get('host', '?')}{what}, since {record.get('since', '?')}"


def urgent_path(warehouse: Path | str) -> Path:
    """The file urgent waiters hold a shared lock on while they wait (``warehouse.duckdb.lock.urgent``)."""
    path = lock_path(warehouse)
    return path.with_name(path.name + ".urgent")


def _urgent_pending(fd: int) -> bool:
    """Whether some process waits urgently (holds the urgent file shared): probed without blocking."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def urgent_waiting(warehouse: Path | str) -> bool:
    """Whether an urgent waiter (a live window's step) waits for the lock of ``warehouse`` now."""
    intent = os.open(urgent_path(warehouse), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        return _urgent_pending(intent)
    finally:
        os.close(intent)


def _acquire(lock: FileLock, intent: int, *, urgent: bool, deadline: float, clock: Callable[[], float]) -> None:
    """Take ``lock`` by ``deadline``; an urgent caller announces itself first, others make way for urgent ones."""
    if urgent:
        while True:  # only a non-urgent waiter's momentary probe can hold this off
            try:
                fcntl.flock(intent, fcntl.LOCK_SH | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if clock() >= deadline:
                    raise Timeout(lock.lock_file) from None
                time.sleep(_POLL_SECONDS)
        lock.acquire(timeout=max(deadline - clock(), 0.0))  # the intent goes with the fd, closed by the caller
        return
    while True:
        while _urgent_pending(intent):
            if clock() >= deadline:
                raise Timeout(lock.lock_file)
            time.sleep(_POLL_SECONDS)
        lock.acquire(timeout=max(deadline - clock(), 0.0))
        if not _urgent_pending(intent):
            return
        lock.release()  # an urgent waiter came while this one waited: it goes first


@contextmanager
def warehouse_lock(
    warehouse: Path | str,
    *,
    timeout: float,
    purpose: str = "",
    on_wait: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    urgent: bool = False,
) -> Iterator[float]:
    """Hold the warehouse's lock for the block; yields the seconds spent waiting for it.

    Waits at most ``timeout`` seconds, then raises :class:`WarehouseBusyError` naming the holder and the
    setting. ``on_wait`` is told once, with the holder, when the lock is not free at once. ``purpose`` (e.g. the
    run id and step) is recorded for waiters to read. ``urgent`` (a live window) goes before waiters that are not.
    """
    path = lock_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = _process_lock(path)
    started = clock()
    _purpose.value = purpose
    if lock.is_locked:  # this process holds it already: re-entrant, nobody to wait for
        lock.acquire(timeout=0)
    else:
        intent = os.open(urgent_path(warehouse), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                _acquire(lock, intent, urgent=urgent, deadline=started, clock=clock)
            except Timeout:
                if on_wait is not None:
                    on_wait(f"waiting up to {timeout:g} s for the warehouse lock {path}, held by {holder(path)}")
                try:
                    _acquire(lock, intent, urgent=urgent, deadline=started + timeout, clock=clock)
                except Timeout as exc:
                    raise WarehouseBusyError(
                        f"{path} stayed locked for {timeout:g} s, held by {holder(path)}; "
                        f"raise {LOCK_TIMEOUT_SETTING} if writes legitimately take that long"
                    ) from exc
        finally:
            os.close(intent)  # drops an urgent waiter's announcement once it holds the lock (or gave up)
    try:
        yield clock() - started
    finally:
        lock.release()
