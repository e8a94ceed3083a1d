"""Server-side sliding-window rate limit, one window per key (endpoint)."""

from __future__ import annotations

import threading
from collections import defaultdict, deque


class SlidingWindow:
    """At most ``limit`` admissions per ``window_seconds`` for each key; refusals use no slot."""

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._admitted: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def admit(self, key: str, now: float) -> float | None:
        """Record an admission at ``now`` and return None, or return the seconds until a slot frees."""
        with self._lock:
            admitted = self._admitted[key]
            while admitted and admitted[0] <= now - self.window_seconds:
                admitted.popleft()
            if len(admitted) >= self.limit:
                return admitted[0] + self.window_seconds - now
            admitted.append(now)
            return None
