"""Range steps take the warehouse in turns: an hour of windows per transaction, so a live window never waits long.

A backfill of a day as one run held the warehouse lock for each derived step's whole read, compute and write (at
10,000 videos, 876k rows a day: up to 3.6 s at a time under load, and it grows with the videos). Cut into turns of
:data:`TURN`, each with its own transaction, the lock is let go between turns when an urgent waiter (a live window,
``warehouse.lock``) waits, and it takes the lock next (up to 1.4 s at 10,000 videos; README "Freshness"). While no
urgent waiter waits, the next turn goes on with the same connection (:func:`turn_connections`): closing a DuckDB
connection that wrote checkpoints its WAL into the file, about 0.2 s a turn at 10,000 videos, for nobody. The last
turn's connection is handed over (:meth:`Turns.hand_over`) to be closed beside the step's reporting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import datetime, timedelta
from typing import Generic, TypeVar

TURN = timedelta(hours=1)
"""The windows one transaction of a range step covers (12 five-minute windows)."""
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


class Turns(Generic[C]):
    """The spans of a range, each with a connection to take its turn on (iterate it), and the connection held now,
    which :meth:`hand_over` gives to the caller to close."""

    def __init__(
        self,
        spans: list[Span],
        connect: Callable[[], AbstractContextManager[C]],
        urgent_waits: Callable[[], bool],
        held: ExitStack,
    ) -> None:
        self._spans, self._connect, self._urgent_waits, self._held = spans, connect, urgent_waits, held

    def __iter__(self) -> Iterator[tuple[Span, C]]:
        connection = None
        for span in self._spans:
            if connection is None or self._urgent_waits():
                self._held.close()  # lets go of the lock: an urgent waiter takes it before this step's next turn
                connection = self._held.enter_context(self._connect())
            yield span, connection

    def hand_over(self) -> ExitStack:
        """What closes the connection held now (and lets go of its lock): the caller's to close from now on (after
        the last turn: a range closes it in a thread while its step reports, ``defs/videos/process.py``)."""
        return self._held.pop_all()


@contextmanager
def turn_connections(
    spans: list[Span], connect: Callable[[], AbstractContextManager[C]], urgent_waits: Callable[[], bool]
) -> Iterator[Turns[C]]:
    """Each span with a connection to take its turn on: the previous turn's, unless ``urgent_waits()`` says an urgent
    waiter waits for the warehouse, which then goes first (the connection is closed, and a new one waits for the
    lock). Every connection is closed on leaving the block, whatever happened in it, unless handed over
    (:meth:`Turns.hand_over`)."""
    with ExitStack() as held:
        yield Turns(spans, connect, urgent_waits, held)
