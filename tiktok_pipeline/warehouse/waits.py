"""How long a step waited for the warehouse: the freshness breakdown's ``warehouse_wait_seconds`` (issue 13).

A step opens its connections inside :func:`metering`; every wait for the warehouse while the meter runs is added
to it (:func:`record`, called by :mod:`tiktok_pipeline.warehouse.io`). What counts as a wait:

- on a DuckDB file: the wait for the warehouse lock (another run's step holding it, urgent waiters served first),
  and the retries while a process outside the pipeline holds DuckDB's own lock on the file;
- on a DuckLake, which has no lock: the backoff before re-running a commit that conflicted with another writer's
  (``write_transaction``); nothing else waits there.

Opening the connection itself (DuckDB reading the file) is work, not a wait, and is not counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class WaitMeter:
    """Seconds waited for the warehouse since the meter started (read at any time, e.g. inside a transaction)."""

    seconds: float = 0.0


_meters: ContextVar[tuple[WaitMeter, ...]] = ContextVar("tiktok_pipeline_warehouse_wait_meters", default=())


@contextmanager
def metering() -> Iterator[WaitMeter]:
    """A meter of the warehouse waits in the block (meters nest: an outer one counts its inner ones' waits too)."""
    meter = WaitMeter()
    token = _meters.set((*_meters.get(), meter))
    try:
        yield meter
    finally:
        _meters.reset(token)


def record(seconds: float) -> None:
    """Add ``seconds`` waited for the warehouse to every running meter (none running: nothing to do)."""
    if seconds > 0:
        for meter in _meters.get():
            meter.seconds += seconds
