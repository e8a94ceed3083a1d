"""A client-side sliding-window limiter: at most N requests per window and key (e.g. one per endpoint)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    """At most ``limit`` acquisitions per ``window_seconds`` for each key, blocking until a slot frees."""

    def __init__(
        self,
        limit: int,
        window_seconds: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._sleep = sleep
        self._sent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_time(self, key: str) -> float:
        """Seconds until ``key`` has a free slot (0 when one is free now)."""
        with self._lock:
            return self._wait_time_locked(key, self._clock())

    def _wait_time_locked(self, key: str, now: float) -> float:
        sent = self._sent.setdefault(key, deque())
        while sent and sent[0] <= now - self.window_seconds:
            sent.popleft()
        if len(sent) < self.limit:
            return 0.0
        return sent[0] + self.window_seconds - now

    def acquire(self, key: str) -> float:
        """Take a slot for ``key``, sleeping as needed; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                delay = self._wait_time_locked(key, now)
                if delay <= 0:
                    self._sent[key].append(now)
                    return waited
            self._sleep(delay)
            waited += delay
