"""Fault injection: throttling, server and gateway errors, timeouts and malformed records.

All decisions come from one seeded ``random.Random`` per simulator, so a run's fault sequence is
reproducible (given the same order of requests).
"""

from __future__ import annotations

import enum
import random
import threading
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

GATEWAY_SHARE = 0.3  # share of injected 5xx answered by the "gateway" (502/503, not JSON)


class FaultConfig(BaseModel):
    """Rates of injected faults (off by default, but for TikTok's short pages) and whether 429s carry ``Retry-After``."""

    model_config = ConfigDict(frozen=True)

    rate_429: float = Field(default=0.0, ge=0, le=1)
    rate_5xx: float = Field(default=0.0, ge=0, le=1)
    rate_timeout: float = Field(default=0.0, ge=0, le=1)
    rate_malformed: float = Field(default=0.0, ge=0, le=1, description="Share of video records corrupted.")
    rate_short_page: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description=(
            "Share of video/list pages cut short while has_more stays true (TikTok does this; the share is assumed)."
        ),
    )
    seed: int = 0
    send_retry_after: bool = Field(
        default=False,
        description="TikTok's docs mention no rate-limit headers: off by default; on to simulate a host that sends it.",
    )


class SimulatedTimeout(Exception):
    """The simulator decided not to answer this request in time."""


class Fault(enum.Enum):
    """What an injected fault makes of a request."""

    THROTTLED = "429"
    INTERNAL_ERROR = "500"
    BAD_GATEWAY = "502"
    UNAVAILABLE = "503"
    TIMEOUT = "timeout"

    @property
    def category(self) -> str:
        """``429``, ``5xx`` or ``timeout``: the rate that produced this fault."""
        return self.value if self in (Fault.THROTTLED, Fault.TIMEOUT) else "5xx"


def corrupt(record: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A copy of a video record broken in one of the ways real payloads break."""
    broken = dict(record)
    kind = rng.randrange(5)
    if kind == 0 and "view_count" in broken:
        broken["view_count"] = rng.choice(["N/A", "1.2K", ""])
    elif kind == 1 and "like_count" in broken:
        broken["like_count"] = -abs(int(broken["like_count"])) - 1
    elif kind == 2 and "create_time" in broken:
        broken["create_time"] = str(broken["create_time"])
    elif kind == 3:
        broken["id"] = None
    else:
        broken.pop("id", None)
    return broken


class FaultInjector:
    """Draws faults for requests and corrupts records, from a seeded, lock-protected RNG."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self._lock = threading.Lock()

    def draw(self) -> Fault | None:
        """The fault to inject into the next data request, or None."""
        c = self.config
        with self._lock:
            roll, variant = self._rng.random(), self._rng.random()
        if roll < c.rate_429:
            return Fault.THROTTLED
        if roll < c.rate_429 + c.rate_5xx:
            if variant < GATEWAY_SHARE:
                return Fault.BAD_GATEWAY if variant < GATEWAY_SHARE / 2 else Fault.UNAVAILABLE
            return Fault.INTERNAL_ERROR
        if roll < c.rate_429 + c.rate_5xx + c.rate_timeout:
            return Fault.TIMEOUT
        return None

    def page_size(self, full: int) -> int:
        """How many of a full page's ``full`` videos to send: fewer (at least one) with ``rate_short_page``."""
        with self._lock:
            if full < 2 or self._rng.random() >= self.config.rate_short_page:
                return full
            return self._rng.randrange(1, full)

    def maybe_corrupt(self, record: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """``record`` corrupted with probability ``rate_malformed``, and whether it was."""
        with self._lock:
            if self._rng.random() >= self.config.rate_malformed:
                return record, False
            return corrupt(record, self._rng), True
