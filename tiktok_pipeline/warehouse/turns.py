"""Range steps take the warehouse in turns: a transaction per turn of windows, so a live window never waits long.

A backfill of a day as one run held the warehouse lock for each derived step's whole read, compute and write (at
10,000 videos, 876k rows a day: up to 3.6 s at a time under load, and it grows with the videos). Cut into turns,
each with its own transaction, the lock is let go between turns when an urgent waiter (a live window,
``warehouse.lock``) waits, and it takes the lock next. While no urgent waiter waits, the next turn goes on with the
same connection (:func:`turn_connections`): closing a DuckDB connection that wrote checkpoints its WAL into the
file, about 0.2 s a turn at 10,000 videos, for nobody.

A range reads in turns of :data:`TURN` (:func:`turns`) and writes in turns of at least :data:`TURN` and
:data:`TURN_ROWS` rows (:func:`turns_by_rows`): a turn that inserts fewer rows than a DuckDB row group (122,880)
goes through the WAL, and the WAL's checkpoints then rewrite the tables' row groups, while a larger one is written
straight into the file. At 10,000 videos an hour holds 36,500 rows: a one-day backfill's 24 write turns took 5.8 s
(the longest 1.5 s, a checkpoint inside its commit), four turns of six hours 3.1 s (the longest 0.9 s); README
"Performance" → "Under 15 s launched".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import datetime, timedelta
from typing import TypeVar

from tiktok_pipeline.windows import WINDOW, utc_naive, window_starts

TURN = timedelta(hours=1)
"""The windows a range step reads at a time (12 five-minute windows), and the least a write turn covers."""
TURN_ROWS = 250_000
"""The rows a range step's write turn holds at least (its last aside): two DuckDB row groups, so its inserts are
written straight into the file (see the module). At 100,000 videos an hour holds more; at 10,000 a turn is seven
hours."""
Span = tuple[datetime, datetime]
C = TypeVar("C")


def turns(start: datetime, end: datetime, size: timedelta = TURN) -> list[Span]:
    """``[start, end)`` cut into consecutive spans of at most ``size``, in order (one span when it is short)."""
    spans, lo = [], start
    while lo < end:
        hi = min(lo + size, end)
        spans.append((lo, hi))
        lo = hi
    return spans


def turns_by_rows(
    start: datetime,
    end: datetime,
    window_rows: Mapping[datetime, int],
    *,
    rows: int | None = None,
    size: timedelta = TURN,
) -> list[Span]:
    """``[start, end)`` cut into consecutive spans of whole windows, in order, each at least ``size`` long and
    holding at least ``rows`` rows (default :data:`TURN_ROWS`), the last one aside. ``window_rows``: each window's
    rows, by its start (UTC, naive, as the tables hold it; a window not in it has none)."""
    least = TURN_ROWS if rows is None else rows
    spans: list[Span] = []
    lo, held = start, 0
    for window in window_starts(start, end):
        held += window_rows.get(utc_naive(window), 0)
        hi = min(window + WINDOW, end)
        if hi - lo >= size and held >= least:
            spans.append((lo, hi))
            lo, held = hi, 0
    if lo < end:
        spans.append((lo, end))
    return spans


@contextmanager
def turn_connections(
    spans: list[Span], connect: Callable[[], AbstractContextManager[C]], urgent_waits: Callable[[], bool]
) -> Iterator[Iterator[tuple[Span, C]]]:
    """Each span with a connection to take its turn on: the previous turn's, unless ``urgent_waits()`` says an urgent
    waiter waits for the warehouse, which then goes first (the connection is closed, and a new one waits for the
    lock). Every connection is closed on leaving the block, whatever happened in it."""
    with ExitStack() as held:

        def each() -> Iterator[tuple[Span, C]]:
            connection = None
            for span in spans:
                if connection is None or urgent_waits():
                    held.close()  # lets go of the lock: an urgent waiter takes it before this step's next turn
                    connection = held.enter_context(connect())
                yield span, connection

        yield each()
