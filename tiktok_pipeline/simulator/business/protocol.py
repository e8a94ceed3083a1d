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


class GatewayFailure(Exception):
    """The gateway in front of the API gave up (HTTP 502/503/504 with an HTML page, no envelope), as users see
    TikTok's do; raised before or after the endpoint processed the request."""

    def __init__(self, status: int = 504) -> None:
        super().__init__(f"simulated gateway failure: HTTP {status}")
        self.status = status


GATEWAY_TITLES = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


def gateway_page(status: int) -> str:
    """The body of a gateway failure: nginx's HTML error page, not JSON."""
    title = f"{status} {GATEWAY_TITLES.get(status, 'Gateway Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


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
