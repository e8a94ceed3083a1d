"""Fault injection for the simulator: throttling, server errors, timeouts and malformed records."""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class FaultConfig(BaseModel):
    """Rates of injected faults (all off by default) and whether 429s carry ``Retry-After``."""

    model_config = ConfigDict(frozen=True)

    rate_429: float = Field(default=0.0, ge=0, le=1)
    rate_5xx: float = Field(default=0.0, ge=0, le=1)
    rate_timeout: float = Field(default=0.0, ge=0, le=1)
    rate_malformed: float = Field(default=0.0, ge=0, le=1, description="Share of video records corrupted.")
    seed: int = 0
    send_retry_after: bool = Field(
        default=True, description="TikTok's behaviour is unconfirmed: simulate both with and without."
    )


class SimulatedTimeout(Exception):
    """The simulator decided not to answer this request in time."""


def corrupt(record: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A copy of a video record broken in one of the ways real payloads break."""
    broken = dict(record)
    kind = rng.randrange(5)
    if kind == 0 and "view_count" in broken:
        broken["view_count"] = "N/A"
    elif kind == 1 and "like_count" in broken:
        broken["like_count"] = -abs(int(broken["like_count"])) - 1
    elif kind == 2:
        broken.pop("id", None)
    elif kind == 3 and "create_time" in broken:
        broken["create_time"] = "yesterday"
    else:
        broken["id"] = None
    return broken
