"""What the API for Business endpoints and the request handler share: the request, the error, a route.

Endpoints (:mod:`.events`, :mod:`.reporting`) import this module and nothing of :mod:`.app`; the
handler in :mod:`.app` imports the endpoints and wires them by path. Imports flow one way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tiktok_pipeline.simulator.world import World


class BusinessError(Exception):
    """An API for Business error code and message (answered with HTTP 200)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class BusinessRequest:
    """What an endpoint sees: decoded query and body, and the instant it answers as of."""

    world: World
    method: str
    params: dict[str, str]
    body: Any
    as_of: float
    now: float


Handler = Callable[[BusinessRequest], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    """A route: its HTTP method and handler."""

    method: str
    handler: Handler
