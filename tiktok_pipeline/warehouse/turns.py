"""Range steps take the warehouse in turns: an hour of windows per connection, so a live window never waits long.

A backfill of a day as one run held the warehouse lock for each derived step's whole read, compute and write (at
10,000 videos, 876k rows a day: up to 3.6 s at a time under load, and it grows with the videos). Cut into turns of
:data:`TURN`, each with its own connection and transaction, the lock is let go between turns and an urgent waiter
(a live window, ``warehouse.lock``) takes it next (up to 1.4 s at 10,000 videos; README "Freshness").
"""

from __future__ import annotations

from datetime import datetime, timedelta

TURN = timedelta(hours=1)
"""The windows one connection of a range step covers (12 five-minute windows)."""


def turns(start: datetime, end: datetime, size: timedelta = TURN) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut into consecutive spans of at most ``size``, in order (one span when it is short)."""
    spans, lo = [], start
    while lo < end:
        hi = min(lo + size, end)
        spans.append((lo, hi))
        lo = hi
    return spans
